"""A ledgerdb transaction: statements against a snapshot, then an all-or-nothing commit.

As in QLDB, a failing statement raises and leaves the transaction's earlier statements
in place: the caller may go on or abort. Commit either writes every change in one
journal block or, on an OCC conflict, nothing. A transaction lives at most 30 seconds;
after that it is expired and writes nothing. One thread at a time may use a
transaction (any thread: the snapshot is not tied to the thread that opened it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from ledgerdb import limits
from ledgerdb.block import BlockAddress, new_id
from ledgerdb.errors import InvalidInput, TransactionClosed, TransactionExpired
from ledgerdb.partiql import ast
from ledgerdb.partiql import execute as evaluate
from ledgerdb.partiql.parser import parse
from ledgerdb.partiql.planner import Plan
from ledgerdb.views import TransactionCatalog
from ledgerdb.workspace import Workspace

OPEN = "open"
COMMITTED = "committed"
ABORTED = "aborted"
EXPIRED = "expired"


@dataclass(frozen=True)
class StatementOutcome:
    values: list[Any]  # Ion values as amazon.ion loads them, or plain Python
    plan: Plan | None
    read_ios: int  # documents read (QLDB's IOUsage.ReadIOs)
    processing_time_ms: float  # (QLDB's TimingInformation)


@dataclass(frozen=True)
class CommitResult:
    transaction_id: str
    block_address: BlockAddress | None  # None when the transaction wrote nothing
    commit_time: datetime


class Committer(Protocol):
    """What a transaction needs from its database."""

    strand_id: str

    def commit_workspace(self, workspace: Workspace, transaction_id: str) -> CommitResult: ...

    def release(self, transaction: Transaction) -> None: ...

    def check_redaction(self, arguments: Sequence[Any], procedure: str, snapshot: Any) -> Any: ...


class Transaction:
    def __init__(
        self,
        committer: Committer,
        workspace: Workspace,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transaction_id = new_id()
        self._committer = committer
        self._workspace = workspace
        self._catalog = TransactionCatalog(workspace, committer.strand_id)
        self._clock = clock
        self._started = clock()
        self._lock = threading.Lock()
        self.state = OPEN
        self.closed_reason = ""

    @property
    def catalog(self) -> TransactionCatalog:
        """This transaction's PartiQL catalog (its views, its read set), for callers that
        evaluate a query over a restricted view of it (``partiql.execute``)."""
        return self._catalog

    @property
    def snapshot_height(self) -> int:
        """The last journal block this transaction's snapshot includes."""
        return self._workspace.height

    def _check_open(self) -> None:
        if self.state == OPEN and self._clock() - self._started > limits.TRANSACTION_SECONDS:
            self._close(EXPIRED)
        if self.state == EXPIRED:
            raise TransactionExpired(
                f"transaction {self.transaction_id} expired: a transaction lives at most "
                f"{limits.TRANSACTION_SECONDS:g} seconds"
            )
        if self.state != OPEN:
            reason = f" ({self.closed_reason})" if self.closed_reason else ""
            raise TransactionClosed(f"transaction {self.transaction_id} is {self.state}{reason}")

    def _close(self, state: str, reason: str = "", release_snapshot: bool = True) -> None:
        if self.state != OPEN:
            return
        self.state = state
        self.closed_reason = reason
        if release_snapshot:
            self._workspace.snapshot.close()
        self._committer.release(self)

    def execute(self, statement: str, *parameters: Any) -> StatementOutcome:
        """Run one PartiQL statement; its changes join the transaction if it succeeds."""
        if not isinstance(statement, str):
            raise InvalidInput(f"statement must be a string, not {type(statement).__name__}")
        with self._lock:
            self._check_open()
            started_at = datetime.now(UTC)
            started = time.perf_counter()
            parsed = parse(statement)
            if isinstance(parsed, ast.Exec):
                return self._exec(parsed, statement, parameters, started_at, started)
            self._check_statement_limits(parsed)
            ios = self._workspace.read_ios
            result = evaluate(parsed, self._catalog, parameters, transaction_id=self.transaction_id)
            self._workspace.add_statement(statement, parameters, result.changes, started_at)
            return StatementOutcome(
                result.values,
                result.plan,
                self._workspace.read_ios - ios,
                (time.perf_counter() - started) * 1000,
            )

    def _exec(
        self,
        parsed: ast.Exec,
        statement: str,
        parameters: Sequence[Any],
        started_at: datetime,
        started: float,
    ) -> StatementOutcome:
        """``EXEC redact_revision``: checked now, carried out when the transaction commits."""
        arguments = [_argument(item, parameters) for item in parsed.arguments]
        request = self._committer.check_redaction(
            arguments, parsed.procedure, self._workspace.snapshot
        )
        self._workspace.redactions.append(request)
        self._workspace.add_statement(statement, parameters, (), started_at)
        return StatementOutcome(
            [request.result(self._committer.strand_id)],
            None,
            0,
            (time.perf_counter() - started) * 1000,
        )

    def _check_statement_limits(self, statement: ast.Statement) -> None:
        """Limits a statement alone can break, checked before it runs (QLDB's errors)."""
        if isinstance(statement, ast.CreateIndex):
            table = self._catalog.table(statement.table)
            if table is not None and statement.path not in table.indexes().values():
                limits.check_indexes(statement.table, len(table.indexes()))

    def commit(self) -> CommitResult:
        """Validate the read set and write every change in one journal block (or none)."""
        with self._lock:
            self._check_open()
            try:
                result = self._committer.commit_workspace(self._workspace, self.transaction_id)
            except BaseException as exc:
                self._close(ABORTED, f"commit failed: {type(exc).__name__}")
                raise
            self._close(COMMITTED)
            return result

    def abort(self) -> None:
        """Discard the transaction (nothing was written); closing a closed one is a no-op."""
        with self._lock:
            self._close(ABORTED)

    def invalidate(self, reason: str) -> None:
        """Close from outside (the database closing or rebuilding): nothing is written.

        Never waits for a statement or commit running in another thread (that thread may
        be waiting for the database); its snapshot then ends with the storage it reads.
        """
        idle = self._lock.acquire(blocking=False)
        try:
            self._close(ABORTED, reason, release_snapshot=idle)
        finally:
            if idle:
                self._lock.release()

    def __enter__(self) -> Transaction:
        return self

    def __exit__(self, *_: object) -> None:
        self.abort()


def _argument(expression: ast.Expr, parameters: Sequence[Any]) -> Any:
    """An EXEC argument: a ``?`` parameter or a literal (QLDB takes no other expression)."""
    if isinstance(expression, ast.Param):
        if expression.index >= len(parameters):
            raise InvalidInput(
                f"EXEC has a ? at position {expression.index + 1} but only "
                f"{len(parameters)} parameters were given"
            )
        return parameters[expression.index]
    if isinstance(expression, ast.Literal):
        return expression.value
    raise InvalidInput("EXEC arguments must be ? parameters or literals")
