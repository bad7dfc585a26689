"""The ledgerdb database: QLDB's document model on a journal, with indexed storage in LMDB.

A database directory holds ``journal/`` (a ``ledgerdb.journal.Journal``, the truth) and
``index/`` (LMDB, derived from the journal: current revisions, history, indexes,
catalog). Opening replays whatever blocks storage has not applied yet, so deleting
``index/`` (or a crash at any instant) costs a replay, never data.

Commit path (``commit_workspace``), for many concurrent committers:

1. build the block's revisions and their hashes (no lock held);
2. under the commit lock: validate the read set against the blocks committed since the
   transaction's snapshot (``occ.ConflictTracker``), reserve the next block number, mark
   the written keys with it, stage its writes for applying, queue the block in the
   journal (opened ``callers_write``); release;
3. complete it (``Journal.complete``): a committer finding no other one writing takes
   the whole queue as one group, writes and fsyncs it, applies it to LMDB in journal
   order (``_apply_durable``), then wakes the committers it served; the others wait;
4. return: the next transaction's snapshot includes the commit.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from ledgerdb import limits, occ
from ledgerdb.block import Block, redacted_body
from ledgerdb.errors import (
    InvalidInput,
    LedgerClosed,
    LedgerError,
    OccConflict,
    StorageFailure,
)
from ledgerdb.journal import Digest, Journal
from ledgerdb.partiql import explain as plan_statement
from ledgerdb.partiql.planner import Plan
from ledgerdb.redaction import (
    PROCEDURE,
    PendingRedactions,
    RedactionRefused,
    RedactionRequest,
    check_request,
    find_revision,
    parse_arguments,
)
from ledgerdb.revision_proof import RevisionProof
from ledgerdb.revisions import BlockWrites, encode_stored, revision_row, writes_from_block
from ledgerdb.storage import Storage
from ledgerdb.transaction import CommitResult, StatementOutcome, Transaction
from ledgerdb.views import TransactionCatalog
from ledgerdb.workspace import Workspace

T = TypeVar("T")

JOURNAL_DIRECTORY = "journal"
INDEX_DIRECTORY = "index"
REPLAY_BATCH = 256  # blocks per LMDB transaction while replaying
BACKOFF_BASE_MS = 10  # pyqldb's defaults: jittered exponential backoff
BACKOFF_CAP_MS = 5000

__all__ = [
    "CommitResult",
    "LedgerDatabase",
    "StatementOutcome",
    "Transaction",
]


class LedgerDatabase:
    """A ledger: tables of Ion documents with history, OCC transactions and proofs."""

    def __init__(
        self,
        directory: Path,
        journal: Journal,
        max_documents: int = limits.DOCUMENTS_PER_TRANSACTION,
    ) -> None:
        self.directory = directory
        self.max_documents = max_documents  # per transaction; QLDB's unless opened with more
        self.journal = journal
        journal.after_sync = self._apply_durable
        self.strand_id = journal.strand_id
        self._storage = self._open_storage()
        self._commit_lock = threading.Lock()
        self._tracker = occ.ConflictTracker()
        self._next_sequence = self._journal_height() + 1
        self._apply_cond = threading.Condition()
        self._ready: dict[int, BlockWrites] = {}
        self._applied = self._storage.height
        self._applying = False
        self._failure: LedgerError | None = None
        self._open: weakref.WeakSet[Transaction] = weakref.WeakSet()
        self._snapshots: dict[int, int] = {}  # id(transaction) → snapshot height
        self._closed = False
        self.clock: Callable[[], float] = time.monotonic  # transactions' lifetime clock
        self._redaction_lock = threading.Lock()
        self._pending = PendingRedactions(directory)
        self._carry_out(self._pending.load())  # requests a crash left half done

    @classmethod
    def open(
        cls,
        directory: str | Path,
        *,
        create: bool = True,
        max_documents: int = limits.DOCUMENTS_PER_TRANSACTION,
    ) -> LedgerDatabase:
        """Open (or create) the database in ``directory``, catching storage up.

        ``max_documents`` raises QLDB's documents-per-transaction quota for a writer
        that must commit a batch atomically (a Fabric block in the analytics node)."""
        path = Path(directory)
        if create:
            path.mkdir(parents=True, exist_ok=True)
        journal = Journal.open(path / JOURNAL_DIRECTORY, create=create, callers_write=True)
        try:
            return cls(path, journal, max_documents)
        except BaseException:
            journal.close()
            raise

    # ---- storage catch-up ----------------------------------------------------------------

    def _journal_height(self) -> int:
        tip = self.journal.tip
        return -1 if tip is None else tip.sequence_no

    def _open_storage(self) -> Storage:
        path = self.directory / INDEX_DIRECTORY
        storage = Storage(path)
        stale = storage.strand_id not in (None, self.strand_id)
        if stale or storage.height > self._journal_height():
            storage.env.close()  # built from another journal, or ahead of this one
            Storage.destroy(path)
            storage = Storage(path)
        self._replay(storage)
        return storage

    def _replay(self, storage: Storage) -> None:
        """Apply every journal block storage has not applied yet."""
        start, stop = storage.height + 1, self._journal_height() + 1
        for first in range(start, stop, REPLAY_BATCH):
            blocks = self.journal.read_range(first, min(first + REPLAY_BATCH, stop))
            storage.apply([writes_from_block(block) for block in blocks], self.strand_id)

    def rebuild(self) -> None:
        """Drop indexed storage and rebuild it from the journal.

        Open transactions are closed first (their snapshots belong to the old storage).
        """
        with self._commit_lock:
            self._check_usable()
            self._wait_applied(self._next_sequence - 1)
            for transaction in list(self._open):
                transaction.invalidate("the database rebuilt its indexed storage")
            path = self.directory / INDEX_DIRECTORY
            self._storage.env.close()
            Storage.destroy(path)
            self._storage = Storage(path)
            self._replay(self._storage)
            self._applied = self._storage.height

    # ---- transactions --------------------------------------------------------------------

    def start_transaction(self) -> Transaction:
        self._check_usable()
        # Snapshot and registration are one step, so OCC pruning (which keeps every write
        # after the oldest registered snapshot) can never drop a write this one needs.
        with self._apply_cond:
            transaction = Transaction(
                self, Workspace(self._storage.snapshot(), self.max_documents), self.clock
            )
            self._open.add(transaction)
            self._snapshots[id(transaction)] = transaction.snapshot_height
        return transaction

    def release(self, transaction: Transaction) -> None:
        """A transaction closed: its snapshot no longer holds back OCC pruning."""
        with self._apply_cond:
            self._open.discard(transaction)
            self._snapshots.pop(id(transaction), None)

    def execute_lambda(self, fn: Callable[[Transaction], T], *, retry_limit: int = 4) -> T:
        """Run ``fn`` in a new transaction and commit it, retrying on ``OccConflict``.

        As pyqldb: up to ``retry_limit`` retries, each after a jittered exponential
        backoff (uniform in [0, min(5 s, 10 ms × 2^attempt)]); then the conflict is
        raised. Any other error aborts the transaction and propagates at once.
        """
        attempt = 0
        while True:
            transaction = self.start_transaction()
            try:
                result = fn(transaction)
                if transaction.state == "open":
                    transaction.commit()
                return result
            except OccConflict:
                transaction.abort()
                if attempt >= retry_limit:
                    raise
                delay_ms = min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2**attempt)
                time.sleep(random.random() * delay_ms / 1000)
                attempt += 1
            except BaseException:
                transaction.abort()
                raise

    def execute(self, statement: str, *parameters: Any) -> StatementOutcome:
        """One statement in its own committed transaction."""
        return self.execute_lambda(lambda txn: txn.execute(statement, *parameters))

    def explain(self, statement: str, *parameters: Any) -> Plan:
        """The plan ``statement`` would run with now (for ``--plan``); runs nothing."""
        self._check_usable()
        workspace = Workspace(self._storage.snapshot(), self.max_documents)
        try:
            return plan_statement(
                statement, TransactionCatalog(workspace, self.strand_id), parameters
            )
        finally:
            workspace.snapshot.close()

    # ---- commit --------------------------------------------------------------------------

    def commit_workspace(self, workspace: Workspace, transaction_id: str) -> CommitResult:
        result = self._commit_writes(workspace, transaction_id)
        if workspace.redactions:
            self._redact(workspace.redactions)
        return result

    def _commit_writes(self, workspace: Workspace, transaction_id: str) -> CommitResult:
        now = datetime.now(UTC)
        if not workspace.has_writes:
            with self._commit_lock:
                self._check_usable()
                self._validate(workspace)
            return CommitResult(transaction_id, None, now)
        prepared = workspace.build(transaction_id, now)
        with self._commit_lock:
            self._check_usable()
            self._validate(workspace)
            sequence_no = self._next_sequence
            # Staged before it is queued: whichever committer writes the group applies it.
            self._stage(BlockWrites(sequence_no, prepared.revisions))
            try:
                ticket = self.journal.submit([prepared.block])
            except BaseException:
                self._unstage(sequence_no)
                raise
            self._next_sequence = sequence_no + 1
            self._tracker.record(prepared.write_keys, sequence_no)
            self._prune()
        try:
            address = self.journal.complete(ticket)[0]
        except LedgerError as exc:
            self._fail(exc)
            raise
        if address.sequence_no != sequence_no:
            failure = StorageFailure(
                f"journal wrote block {address.sequence_no}, expected {sequence_no}: "
                "something else appends to this database's journal"
            )
            self._fail(failure)
            raise failure
        self._apply_through(sequence_no)  # as a rule done already, by the group's writer
        return CommitResult(transaction_id, address, now)

    def _validate(self, workspace: Workspace) -> None:
        key = self._tracker.conflict(workspace.reads, workspace.height)
        if key is not None:
            raise OccConflict(
                f"transaction read {_describe(key)}, which a transaction committed since "
                f"block {workspace.height} changed; nothing was written, retry the transaction"
            )

    def _prune(self) -> None:
        """Forget OCC writes older than every open snapshot, once there are many."""
        if len(self._tracker) < self._tracker.PRUNE_AT:
            return
        with self._apply_cond:
            horizon = min(self._snapshots.values(), default=self._applied)
            self._tracker.prune(min(horizon, self._applied))

    def _stage(self, writes: BlockWrites) -> None:
        with self._apply_cond:
            self._ready[writes.sequence_no] = writes

    def _unstage(self, sequence_no: int) -> None:
        with self._apply_cond:
            self._ready.pop(sequence_no, None)

    def _apply_durable(self, target: int) -> None:
        """The journal made blocks up to ``target`` durable: its caller that wrote them
        applies them before it wakes their committers, so those rarely wait to apply.
        A failure is the database's (recorded, raised to every committer), not the
        journal's."""
        with contextlib.suppress(LedgerError):
            self._apply_through(target)

    def _apply_through(self, target: int) -> None:
        """Apply every staged block up to ``target`` (all durable) in order; one caller
        applies a whole run while the others wait for it."""
        with self._apply_cond:
            while self._applied < target:
                if self._failure is not None:
                    raise self._failure
                if self._applying:
                    self._apply_cond.wait()
                    continue
                first = self._applied + 1
                batch = [self._ready.pop(n) for n in range(first, target + 1) if n in self._ready]
                if not batch or batch[-1].sequence_no != first + len(batch) - 1:
                    self._fail_locked(
                        StorageFailure(
                            f"journal block {first + len(batch)} is durable but no commit of "
                            "this database staged it: something else appends to its journal"
                        )
                    )
                    raise self._failure from None  # type: ignore[misc]
                self._applying = True
                self._apply_cond.release()
                try:
                    self._storage.apply(batch, self.strand_id)
                except BaseException as exc:
                    self._apply_cond.acquire()
                    self._applying = False
                    self._fail_locked(exc)
                    raise self._failure from None  # type: ignore[misc]
                self._apply_cond.acquire()
                self._applying = False
                self._applied = batch[-1].sequence_no
                self._apply_cond.notify_all()

    def _wait_applied(self, sequence_no: int) -> None:
        with self._apply_cond:
            while self._applied < sequence_no and self._failure is None:
                self._apply_cond.wait()

    def _fail(self, exc: BaseException) -> None:
        with self._apply_cond:
            self._fail_locked(exc)

    def _fail_locked(self, exc: BaseException) -> None:
        """Storage or journal broke: refuse further commits (reopen to recover)."""
        if self._failure is None:
            self._failure = (
                exc if isinstance(exc, LedgerError) else StorageFailure(f"storage: {exc}")
            )
        self._apply_cond.notify_all()

    def _check_usable(self) -> None:
        if self._closed:
            raise LedgerClosed(f"database {self.directory} is closed")
        if self._failure is not None:
            raise LedgerClosed(f"database {self.directory} stopped: {self._failure}")

    # ---- redaction ---------------------------------------------------------------------

    def check_redaction(
        self, arguments: Sequence[Any], procedure: str, snapshot: Any
    ) -> RedactionRequest:
        """A ``redact_revision`` request checked against QLDB's rules at ``snapshot``."""
        number, table_id, document_id = parse_arguments(procedure, arguments, self.strand_id)
        if not 0 <= number <= snapshot.height:
            raise RedactionRefused(f"{PROCEDURE}: block {number} does not exist")
        block = self.journal.read(number)
        versions = [
            revision.value["metadata"]["version"]
            for revision in snapshot.history(table_id, document_id)
        ]
        return check_request(block, table_id, document_id, max(versions, default=None))

    def _redact(self, requests: Sequence[RedactionRequest]) -> None:
        """Carry out committed requests: noted durably first, so a crash cannot lose them."""
        with self._redaction_lock:
            self._check_usable()
            self._pending.store([*self._pending.load(), *requests])
            self._carry_out(requests)

    def _carry_out(self, requests: Sequence[RedactionRequest]) -> None:
        """Rewrite each revision's journal record and stored history; already done is fine."""
        for request in requests:
            block = self.journal.read(request.sequence_no)
            index, value = find_revision(block, request.document_id)
            if "data" in value:
                body = redacted_body(block.entries[index].body)
                block = self.journal.redact(request.sequence_no, {index: body})
            entry = block.entries[index]
            stored = encode_stored(request.sequence_no, entry.hash, entry.body)
            self._storage.redact(request.table_id, request.document_id, request.version, stored)
        remaining = [item for item in self._pending.load() if item not in requests]
        self._pending.store(remaining)

    # ---- journal and proofs --------------------------------------------------------------

    def digest(self, tip: int | None = None) -> Digest:
        return self.journal.digest(tip)

    def get_block(
        self, sequence_no: int, digest_tip: int | None = None
    ) -> tuple[Block, list[bytes]]:
        """A block and its inclusion proof at ``digest_tip`` (default: the current tip)."""
        block = self.journal.read(sequence_no)
        return block, self.journal.inclusion_proof(sequence_no, digest_tip)

    def get_revision(
        self, document_id: str, sequence_no: int, digest_tip: int | None = None
    ) -> RevisionProof:
        """The revision of ``document_id`` in block ``sequence_no``, with its proof."""
        if not isinstance(document_id, str) or not document_id:
            raise InvalidInput("document_id must be a non-empty string")
        digest = self.journal.digest(digest_tip)
        tip = digest.tip.sequence_no
        block, proof = self.get_block(sequence_no, tip)
        return RevisionProof(revision_row(block, document_id), block, proof, digest)

    # ---- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close open transactions (they write nothing), storage and the journal."""
        with self._commit_lock:
            if self._closed:
                return
            self._closed = True
        self._wait_applied(self._next_sequence - 1)
        for transaction in list(self._open):
            transaction.invalidate("the database was closed")
        try:
            self._storage.close()
        finally:
            self.journal.close()

    def __enter__(self) -> LedgerDatabase:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _describe(key: occ.ReadKey) -> str:
    kind, *rest = key  # type: ignore[misc]
    if kind == "d":
        return f"document {rest[1]} of table {rest[0]}"
    if kind == "k":
        return f"an index lookup (index {rest[0]})"
    if kind == "t":
        return f"the whole table {rest[0]}"
    return "the catalog" if rest == ["*"] else f"the catalog entry of {rest[0]}"
