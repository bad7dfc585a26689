"""Node processes the supervisor starts and stops: each its own OS process, in its own
session (so it outlives the `consortium up` that started it), with its log file and pid
file under the network's folder."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from network.errors import SupervisorError
from proto.logspec import BACKUPS, DEFAULT_MAX_BYTES, LOG_FILE_VARIABLE, LOG_MAX_BYTES_VARIABLE

CONSORTIUM = [sys.executable, "-c", "from network.cli import main; main()"]
PROGRESS_TIMEOUTS = 40
"""How many ``wait_ready`` timeouts a node that keeps logging may take to listen."""


@dataclass(frozen=True)
class NodeProcess:
    name: str
    command: tuple[str, ...]
    host: str
    port: int
    log: Path
    pid_file: Path
    cwd: Path | None = None
    operations: str = ""  # host:port of its /metrics, /healthz, /logspec ("": none)

    def start(self, environment: dict[str, str] | None = None) -> int:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        rotate_if_large(self.log)
        logging = {LOG_FILE_VARIABLE: str(self.log)}  # our nodes rotate it themselves
        with open(self.log, "ab") as log:
            child = subprocess.Popen(
                list(self.command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
                env={**os.environ, "PYTHONUNBUFFERED": "1", **logging, **(environment or {})},
                start_new_session=True,
            )
        _forget_finished()
        _CHILDREN[child.pid] = child  # kept, so its exit status is ours to read
        self.pid_file.write_text(str(child.pid))
        if self.port:
            self.address_file.write_text(f"{self.host}:{self.port}")
        if self.operations:
            self.operations_file.write_text(self.operations)
        return child.pid

    @property
    def operations_file(self) -> Path:
        """Where its operations service listens, for ``status`` and ``metrics``."""
        return self.pid_file.with_suffix(".ops")

    def operations_address(self) -> str:
        """``host:port`` of its operations service as recorded at start, or ""."""
        try:
            return self.operations_file.read_text().strip()
        except OSError:
            return ""

    @property
    def address_file(self) -> Path:
        """Where the node listens, beside its pid file, so ``status`` can probe it later."""
        return self.pid_file.with_suffix(".addr")

    def address(self) -> str:
        """``host:port`` as recorded at start, or "" for a node started without one."""
        try:
            return self.address_file.read_text().strip()
        except OSError:
            return ""

    @property
    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) else None

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the node accepts TCP connections; fail with the end of its log.

        A node still working its way there gets another ``timeout`` whenever its log
        grows (a peer restored from a snapshot replays every block into a new world state
        before it listens, one log line per block: minutes for 100,000 transactions on a
        busy machine), up to ``PROGRESS_TIMEOUTS`` of them; a silent one fails as before.
        """
        now = time.monotonic()
        deadline, cap = now + timeout, now + timeout * PROGRESS_TIMEOUTS
        started = self._recorded_pid()
        logged = self._log_size()
        while time.monotonic() < deadline:
            if self.pid is None:
                raise SupervisorError(self.exit_report(started))
            with socket.socket() as probe:
                probe.settimeout(0.5)
                if probe.connect_ex((self.host, self.port)) == 0:
                    return
            time.sleep(0.1)
            if (size := self._log_size()) != logged:
                logged = size
                deadline = min(time.monotonic() + timeout, cap)
        raise SupervisorError(
            f"{self.name} did not listen on {self.port} in {timeout:g}s:\n{self.tail()}"
        )

    def _log_size(self) -> int:
        try:
            return self.log.stat().st_size
        except OSError:
            return 0

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def exit_report(self, pid: int | None) -> str:
        """Why the node is gone, as far as this process can tell, and the end of its log
        (its stderr goes there)."""
        tail = self.tail()
        return (
            f"{self.name} exited while starting ({exit_reason(pid)}); the last lines of "
            f"{self.log}:\n{tail if tail.strip() else '(the log is empty)'}"
        )

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def reload(self) -> bool:
        """Ask the running node to re-read its configuration files (SIGHUP: Mosquitto
        re-reads its password and ACL files, keeps the clients they still let in and
        disconnects the others). False when it does not run (it reads them at start)."""
        pid = self.pid
        if pid is None:
            return False
        os.kill(pid, signal.SIGHUP)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        pid = self.pid
        if pid is None:  # already gone: forget it
            self.pid_file.unlink(missing_ok=True)
            self.address_file.unlink(missing_ok=True)
            return
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        self.address_file.unlink(missing_ok=True)
        self.operations_file.unlink(missing_ok=True)


def rotate_if_large(log: Path) -> None:
    """Keep a log file under its size limit across restarts: a node that is not ours
    (Mosquitto, nats-server) cannot rotate it while running, so it is rotated when the
    node starts (``log`` → ``log.1`` …, ``BACKUPS`` kept), as our nodes rotate theirs."""
    limit = int(os.environ.get(LOG_MAX_BYTES_VARIABLE) or DEFAULT_MAX_BYTES)
    try:
        if log.stat().st_size < limit:
            return
    except OSError:
        return
    for n in range(BACKUPS - 1, 0, -1):
        older = log.with_name(f"{log.name}.{n}")
        if older.exists():
            older.replace(log.with_name(f"{log.name}.{n + 1}"))
    log.replace(log.with_name(f"{log.name}.1"))


_CHILDREN: dict[int, subprocess.Popen] = {}  # nodes this process started


def _forget_finished(keep: int = 64) -> None:
    """A long-lived reconciler restarts crashing nodes for days: keep the exit statuses
    of the last ``keep`` finished children only."""
    finished = [pid for pid, child in _CHILDREN.items() if child.poll() is not None]
    for pid in finished[:-keep] if len(finished) > keep else ():
        del _CHILDREN[pid]


def exit_reason(pid: int | None) -> str:
    """``exit code N`` or ``killed by SIGNAME`` for a node this process started; a node
    started by another ``consortium`` reports to that one only."""
    child = _CHILDREN.get(pid) if pid is not None else None
    code = child.poll() if child is not None else None
    if code is None:
        return "exit status unknown: another process started it"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    with contextlib.suppress(ChildProcessError):  # reap it if it is a finished child
        os.waitpid(pid, os.WNOHANG)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    """Not (yet) a zombie. A thread-group leader that has exited reads ``Z`` while its
    other threads (gRPC's) still finish and its sockets stay open: that is alive here."""
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return True
    return status != "Z" or threads > 1
