"""``consortium ledger shell``: an interactive PartiQL shell, as qldbshell is for QLDB.

Statements may span lines and end with ``;`` (or a blank line). Outside an explicit
transaction each statement runs in its own committed transaction (auto-commit);
``start transaction`` (or ``begin``) opens one, ``commit`` / ``abort`` end it. Results
print as Ion text followed by an Ion comment with the count, read IOs and time, so a
transcript stays readable Ion. History is kept with ``readline`` when the shell talks to
a terminal; piped input runs the same way without prompts, which is how it is tested.

The shell works on anything with the database's API (``LedgerDatabase`` embedded, or
``LedgerClient`` over gRPC): ``execute``, ``start_transaction``.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from amazon.ion import simpleion

from ledgerdb.errors import LedgerError

PROMPT = "ledgerdb> "
PROMPT_IN_TRANSACTION = "ledgerdb *> "
CONTINUATION = "     ... "
HISTORY_LENGTH = 1000

HELP = """\
Statements end with ';' (or a blank line) and may span lines.
  start transaction | begin   open a transaction; statements run in it until
  commit                      commits it (prints its transaction id and block)
  abort                       aborts it (nothing is written)
  help                        this text
  exit | quit | Ctrl-D        leave (an open transaction is aborted)
Outside a transaction every statement is committed on its own (auto-commit).
Results print as Ion text; the line after them (an Ion comment) gives the count,
read IOs and processing time."""

_BEGIN = {"start transaction", "begin", "begin transaction"}
_COMMANDS = _BEGIN | {"commit", "abort", "rollback", "help", "exit", "quit"}


def ion_text(value: Any) -> str:
    return simpleion.dumps(value, binary=False, omit_version_marker=True)


def summary_line(count: int, outcome: Any) -> str:
    return (
        f"// {count} document(s); read IOs: {outcome.read_ios}; "
        f"processing time: {outcome.processing_time_ms:.2f} ms"
    )


class Shell:
    """The REPL's state: the backend, an open transaction (if any), where output goes."""

    def __init__(self, backend: Any, out: TextIO, err: TextIO) -> None:
        self.backend = backend
        self.out = out
        self.err = err
        self.transaction: Any = None
        self.failures = 0

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def complain(self, message: str) -> None:
        self.failures += 1
        print(f"error: {message}", file=self.err, flush=True)

    @property
    def prompt(self) -> str:
        return PROMPT if self.transaction is None else PROMPT_IN_TRANSACTION

    def command(self, text: str) -> bool:
        """Run one shell command or statement; False when the shell should stop."""
        word = " ".join(text.lower().split())
        if word in ("exit", "quit"):
            return False
        if word == "help":
            self.say(HELP)
        elif word in _BEGIN:
            self.begin()
        elif word == "commit":
            self.commit()
        elif word in ("abort", "rollback"):
            self.abort(announce=True)
        else:
            self.statement(text)
        return True

    def begin(self) -> None:
        if self.transaction is not None:
            self.complain(
                f"transaction {self.transaction.transaction_id} is already open; "
                "commit or abort it first"
            )
            return
        with self._reporting():
            self.transaction = self.backend.start_transaction()
            self.say(f"// transaction {self.transaction.transaction_id} started")

    def commit(self) -> None:
        if self.transaction is None:
            self.complain("no transaction is open (start one with 'start transaction')")
            return
        transaction, self.transaction = self.transaction, None
        with self._reporting():
            result = transaction.commit()
            self.say(_committed(result))

    def abort(self, announce: bool = False) -> None:
        if self.transaction is None:
            if announce:
                self.complain("no transaction is open")
            return
        transaction, self.transaction = self.transaction, None
        with self._reporting():
            transaction.abort()
            if announce:
                self.say(f"// transaction {transaction.transaction_id} aborted")

    def statement(self, text: str) -> None:
        with self._reporting():
            if self.transaction is not None:
                outcome = self.transaction.execute(text)
            else:
                outcome = self.backend.execute(text)
            for value in outcome.values:
                self.say(ion_text(value))
            self.say(summary_line(len(outcome.values), outcome))

    @contextlib.contextmanager
    def _reporting(self) -> Iterator[None]:
        """A database error is one line on stderr; the shell goes on."""
        try:
            yield
        except LedgerError as exc:  # PartiQL's errors included
            self.complain(str(exc))


def _committed(result: Any) -> str:
    address = result.block_address
    where = f"block {address.sequence_no}" if address is not None else "nothing written"
    return f"// transaction {result.transaction_id} committed ({where})"


def statements(read_line: Callable[[str], str | None], shell: Shell) -> Iterator[str]:
    """Complete inputs: a shell command on its own line, or a statement up to ``;``/blank."""
    buffer: list[str] = []
    while True:
        line = read_line(CONTINUATION if buffer else shell.prompt)
        if line is None:
            break
        stripped = line.strip()
        if not buffer and " ".join(stripped.rstrip(";").lower().split()) in _COMMANDS:
            yield stripped.rstrip(";").strip()
            continue
        if not stripped:
            if buffer:
                yield "\n".join(buffer)
                buffer = []
            continue
        if stripped.endswith(";"):
            buffer.append(line.rstrip().removesuffix(";"))
            yield "\n".join(buffer)
            buffer = []
        else:
            buffer.append(line)
    if any(part.strip() for part in buffer):
        yield "\n".join(buffer)


def _terminal_reader(history: Path) -> Callable[[str], str | None]:
    import readline

    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    readline.set_history_length(HISTORY_LENGTH)

    def read(prompt: str) -> str | None:
        try:
            line = input(prompt)
        except EOFError:
            print()
            return None
        with contextlib.suppress(OSError):
            readline.write_history_file(history)
        return line

    return read


def _pipe_reader(stream: TextIO) -> Callable[[str], str | None]:
    def read(_prompt: str) -> str | None:
        line = stream.readline()
        return None if line == "" else line.rstrip("\n")

    return read


def run(backend: Any, history: Path, stdin: TextIO | None = None) -> int:
    """The shell over ``backend`` until exit or end of input; returns the exit status.

    Piped input exits 2 if any statement failed, so scripts notice; a terminal session
    always exits 0.
    """
    stdin = stdin or sys.stdin
    interactive = stdin.isatty()
    shell = Shell(backend, sys.stdout, sys.stderr)
    if interactive:
        shell.say("ledgerdb shell: statements end with ';'. Type 'help' for commands.")
        read = _terminal_reader(history)
    else:
        read = _pipe_reader(stdin)
    try:
        for text in statements(read, shell):
            if not shell.command(text):
                break
    except KeyboardInterrupt:
        print(file=shell.out)
    finally:
        shell.abort()
    return 2 if shell.failures and not interactive else 0
