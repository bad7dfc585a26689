"""The journal: durable, hash-chained blocks in segment files, with a Merkle tree over them.

``Journal`` is the synchronous engine (CLI, tests, bulk loads); ``AsyncJournal`` wraps it
for asyncio callers such as the orderer, running every blocking call (fsync included) on
a thread pool. The orderer needs only ``AsyncBlockJournal``, which ``AsyncJournal`` and
the replicated backend (``ledgerdb.replicated.ReplicatedJournal``: the blocks in a NATS
JetStream stream, and one of these journals as each process's local copy) both provide.

Durability: ``append`` returns only after an fsync covered its block. Concurrent
appenders share fsyncs (group commit): appends queue up; a writer thread seals and writes
everything queued, a syncer thread fsyncs everything written so far and acknowledges it,
and while one fsync runs the next group is already being written. Opened
``callers_write`` (the database's journal), there are no such threads: the appending
threads take turns writing and fsyncing the queued group themselves (``complete``).

Directory layout: ``journal.meta`` (format and strand id), ``segments/`` (the records:
the truth), ``tree.nodes`` (every complete subtree hash, derived from the blocks),
``tree.synced`` (how many leaves of ``tree.nodes`` were fsynced), ``journal.acked`` and
``LOCK`` (see ``ledgerdb.sharing``: one writer, and readers that never block it).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import json
import os
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import crc32c

from ledgerdb.block import (
    BLOCK_HASH_OFFSET,
    Block,
    BlockAddress,
    ChainHead,
    EntryKind,
    Payload,
    Revision,
    Transaction,
    decode,
    encode,
    entry_hash,
    new_id,
    prepare,
)
from ledgerdb.errors import (
    BlockNotFound,
    CorruptRecord,
    InvalidInput,
    LedgerClosed,
    LedgerError,
    LedgerNotFound,
    LedgerUnavailable,
    StorageFailure,
    VerificationError,
)
from ledgerdb.hashing import EMPTY, HASH_SIZE
from ledgerdb.merkle import FileNodes, MerkleTree, OverlayNodes, node_count
from ledgerdb.segments import DEFAULT_SEGMENT_BYTES, SegmentLog
from ledgerdb.sharing import (
    LOCK,
    lock_for_writing,
    open_acked,
    read_acked,
    write_acked,
    writer_is_live,
)
from ledgerdb.verify import verify_follows

META = "journal.meta"
SEGMENTS = "segments"
TREE_NODES = "tree.nodes"
TREE_SYNCED = "tree.synced"
__all__ = ["LOCK", "META", "AsyncBlockJournal", "AsyncJournal", "BlockJournal", "Digest", "Journal"]
FORMAT = 1
CHECKPOINT_SECONDS = 1.0
_CHECKPOINT = struct.Struct("<Q32sI")  # leaves, root at that size, CRC32C of the first 40

Entries = Sequence[Payload | Revision]


class Ticket:
    """The waiter of an append in a journal whose callers write (``callers_write``): done
    with its addresses or its error, or told that its caller leads the next group.

    Its condition shares the journal's lock, so a caller that finishes a group wakes
    exactly the callers it served and the one it hands the lead to, not every caller
    waiting (each needless wake-up costs two thread switches under the GIL)."""

    __slots__ = ("_outcome", "_wakeup", "leads")

    def __init__(self, lock: threading.Lock) -> None:
        self._wakeup = threading.Condition(lock)
        self._outcome: tuple[Any, bool] | None = None
        self.leads = False

    def done(self) -> bool:
        return self._outcome is not None

    def set_result(self, value: Any) -> None:
        self._settle((value, False))

    def set_exception(self, exc: BaseException) -> None:
        self._settle((exc, True))

    def _settle(self, outcome: tuple[Any, bool]) -> None:
        with self._wakeup:
            self._outcome = outcome
            self._wakeup.notify()

    def lead(self) -> None:
        """Hand this ticket's caller the lead (the journal's lock held)."""
        self.leads = True
        self._wakeup.notify()

    def wait(self) -> None:
        """Until done or told to lead (the journal's lock held)."""
        while self._outcome is None and not self.leads:
            self._wakeup.wait()

    def result(self) -> Any:
        assert self._outcome is not None, "result() of an append not yet complete"
        value, failed = self._outcome
        if failed:
            raise value
        return value


# Who waits for an append: a concurrent Future (threads), an asyncio Future (tasks), or
# a Ticket (threads that write themselves).
Waiter = Future | asyncio.Future | Ticket
_Written = tuple[list[BlockAddress], Waiter]


def _settle(outcomes: Sequence[tuple[Waiter, Any, bool]]) -> None:
    """Deliver (waiter, result or exception, failed) outcomes.

    Asyncio waiters get one thread-safe call per event loop per group, not one per
    append: waking a loop costs a syscall, and a group can hold hundreds of appends.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Waiter, Any, bool]]] = {}
    for waiter, value, failed in outcomes:
        if isinstance(waiter, asyncio.Future):
            by_loop.setdefault(waiter.get_loop(), []).append((waiter, value, failed))
        else:
            _settle_one(waiter, value, failed)
    for loop, items in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
            loop.call_soon_threadsafe(_settle_in_loop, items)


def _settle_one(waiter: Waiter, value: Any, failed: bool) -> None:
    if waiter.done():
        return
    if failed:
        waiter.set_exception(value)
    else:
        waiter.set_result(value)


def _settle_in_loop(items: list[tuple[Waiter, Any, bool]]) -> None:
    for waiter, value, failed in items:
        _settle_one(waiter, value, failed)


@dataclass(frozen=True)
class Digest:
    """QLDB's GetDigest answer: the tree root over blocks 0..tip, and the tip's address."""

    digest: bytes
    tip: BlockAddress


class BlockJournal(Protocol):
    """What synchronous callers rely on (``Journal``)."""

    @property
    def tip(self) -> BlockAddress | None: ...

    def append(
        self, entries: Entries, transaction_info: Any = None, transaction_id: str | None = None
    ) -> BlockAddress: ...

    def read(self, sequence_no: int) -> Block: ...

    def redact(self, sequence_no: int, bodies: Mapping[int, bytes]) -> Block:
        """Replace revision entries of a durable block by their redacted bodies (same
        entry hashes, so hashes, chain and tree do not change); see ``Journal.redact``."""
        ...

    def read_range(self, start: int, stop: int) -> Iterator[Block]: ...

    def digest(self, tip: int | None = None) -> Digest: ...

    def inclusion_proof(self, sequence_no: int, tip: int | None = None) -> list[bytes]: ...

    def consistency_proof(self, first_tip: int, second_tip: int) -> list[bytes]: ...

    def close(self) -> None: ...


class AsyncBlockJournal(Protocol):
    """What asyncio callers (the orderer) rely on: ``AsyncJournal`` (one node, local
    files) and ``ReplicatedJournal`` (blocks replicated by JetStream) both provide it."""

    @property
    def tip(self) -> BlockAddress | None: ...

    async def append(
        self, entries: Entries, transaction_info: Any = None, transaction_id: str | None = None
    ) -> BlockAddress: ...

    async def append_many(
        self, transactions: Sequence[tuple[Entries, Any, str | None]]
    ) -> list[BlockAddress]: ...

    async def read(self, sequence_no: int) -> Block: ...

    async def read_range(self, start: int, stop: int) -> list[Block]: ...

    async def digest(self, tip: int | None = None) -> Digest: ...

    async def inclusion_proof(self, sequence_no: int, tip: int | None = None) -> list[bytes]: ...

    async def consistency_proof(self, first_tip: int, second_tip: int) -> list[bytes]: ...

    async def close(self) -> None: ...


def _now_micros() -> int:
    return time.time_ns() // 1000


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: bytes) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def _check_directory(directory: Path, create: bool) -> None:
    if directory.exists() and not directory.is_dir():
        raise LedgerUnavailable(f"ledger path {directory} is not a directory")
    if not directory.exists():
        if not create:
            raise LedgerNotFound(f"ledger directory {directory} does not exist")
        try:
            directory.mkdir(parents=True)
            _fsync_directory(directory.parent)
        except OSError as exc:
            raise LedgerUnavailable(f"cannot create ledger directory {directory}: {exc}") from None
    if not os.access(directory, os.R_OK | os.X_OK | (os.W_OK if create else 0)):
        raise LedgerUnavailable(f"ledger directory {directory} is not readable and writable")


def _read_meta(directory: Path, create: bool, strand_id: str | None = None) -> str:
    """The strand id, creating the journal's meta file on first open.

    ``strand_id`` is for copies of a journal kept elsewhere (a replicated journal's local
    copy): a new journal takes it, an existing one must already have it.
    """
    path = directory / META
    if not path.exists():
        if (directory / SEGMENTS).exists():
            raise LedgerUnavailable(f"{path} is missing but segments exist")
        if not create:
            raise LedgerNotFound(f"{directory} holds no ledger journal ({META} is missing)")
        strand_id = new_id() if strand_id is None else strand_id
        _write_durably(path, json.dumps({"format": FORMAT, "strandId": strand_id}).encode())
        return strand_id
    try:
        meta = json.loads(path.read_text())
        if meta["format"] != FORMAT:
            raise LedgerUnavailable(f"{path}: journal format {meta['format']} is not supported")
        found = str(meta["strandId"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LedgerUnavailable(f"{path} is not a journal meta file: {exc}") from None
    if strand_id is not None and found != strand_id:
        raise LedgerUnavailable(
            f"{path}: this journal is strand {found}, not {strand_id} (a copy of another journal?)"
        )
    return found


def _prepared(item: Transaction | tuple[Entries, Any, str | None]) -> Transaction:
    """A queued block's contents: already prepared by the caller (``block.prepare``, so
    its hashing ran in the caller's thread and the caller knows the entry hashes), or
    the (entries, transaction_info, transaction_id) tuple to prepare now."""
    return item if isinstance(item, Transaction) else prepare(*item)


def _extend(
    head: ChainHead, items: Sequence[Any], now_micros: int
) -> tuple[list[Block], ChainHead]:
    """One caller's blocks after ``head``: sealed here, or (blocks sealed elsewhere, e.g. by
    a replicated journal's writer) checked to continue the chain; and the head after them.

    ``head`` itself is left alone, so a caller refused halfway leaves no gap behind it.
    """
    head = head.copy()
    blocks = []
    for item in items:
        if isinstance(item, Block):
            verify_follows(item, head.strand_id, head.sequence_no, head.previous_hash)
            head.advance(item)
            blocks.append(item)
        else:
            blocks.append(head.seal(_prepared(item), now_micros))
    return blocks, head


class Journal:
    """A journal opened for appending (``read_only=False``, one process) or for reading.

    A read-only open works beside a live writer (``writer_live``): it sees the blocks the
    writer had acknowledged when it opened, and nothing half written.
    """

    def __init__(
        self,
        directory: Path,
        read_only: bool,
        segment_bytes: int,
        strand_id: str | None = None,
        callers_write: bool = False,
    ) -> None:
        self.directory = directory
        self.callers_write = callers_write
        self.read_only = read_only
        self._lock_fd = None if read_only else lock_for_writing(directory)
        self.writer_live = read_only and writer_is_live(directory)
        try:
            self.strand_id = _read_meta(directory, not read_only, strand_id)
            self._synced_fd = (
                None
                if read_only
                else os.open(directory / TREE_SYNCED, os.O_RDWR | os.O_CREAT, 0o644)
            )
            # Checkpoint, then acknowledged mark, then nodes and records: each read sees
            # at least what the one before it vouches for, even while a writer runs.
            checkpoint = self._checkpoint()
            limit = self._acknowledged(checkpoint[0]) if self.writer_live else None
            self._log = SegmentLog(
                directory / SEGMENTS, segment_bytes, recover=not read_only, limit=limit
            )
            self._nodes = FileNodes(directory / TREE_NODES, writable=not read_only)
            self._tree = self._recover_tree(checkpoint)
            self._last_hash = (
                self._log_block_hash(self._log.count - 1) if self._log.count else EMPTY
            )
            self._check_strand()
            self._acked_fd = None if read_only else open_acked(directory)
            if self._acked_fd is not None:
                write_acked(self._acked_fd, self._log.count)
        except BaseException:
            self._release_files()
            raise
        # One lock, two conditions: an append wakes only the writer, a written group
        # only the syncer (a shared condition woke both for every append).
        self._lock = threading.Lock()
        # Segment writes, fsyncs and rewrites (redaction) exclude each other, not readers.
        self._io_lock = threading.Lock()
        self._queued = threading.Condition(self._lock)
        self._written_ready = threading.Condition(self._lock)
        # callers_write: whether a caller leads (writes a group) now; who waits inside
        # ``complete`` for it.
        self._leading = False
        self._waiting: list[Ticket] = []
        self._no_leader = threading.Condition(self._lock)
        self.after_sync: Callable[[int], None] | None = None
        """Called with the last durable block's number after each fsync, before anyone
        waiting for those blocks is woken (the database applies them to its storage)."""
        self._queue: deque[tuple[list[Any], Waiter]] = deque()
        self._durable = self._log.count - 1
        self._closed = False
        self._failure: LedgerError | None = None
        self._last_micros = 0
        self._last_checkpoint = time.monotonic()
        self._written: deque[list[_Written] | None] = deque()
        self._threads = (
            []
            if read_only or callers_write
            else [
                threading.Thread(target=loop, name=f"ledgerdb-{name}", daemon=True)
                for name, loop in (("writer", self._commit_loop), ("syncer", self._sync_loop))
            ]
        )
        for thread in self._threads:
            thread.start()

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        create: bool = True,
        read_only: bool = False,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        strand_id: str | None = None,
        callers_write: bool = False,
    ) -> Journal:
        """Open (and recover) the journal in ``path``; ``create`` makes an empty one.

        ``strand_id``: the strand a new journal gets and an existing one must have (a
        copy of a journal kept elsewhere); by default a new journal gets a random one.

        ``callers_write``: no writer and syncer threads; a thread that submitted an
        append completes it with ``complete``, writing and fsyncing the queued group
        itself when no other caller is (for callers that are threads: the database).
        """
        directory = Path(path)
        _check_directory(directory, create and not read_only)
        if read_only and not (directory / META).exists():
            raise LedgerNotFound(f"{directory} holds no ledger journal ({META} is missing)")
        return cls(directory, read_only, segment_bytes, strand_id, callers_write)

    def _check_strand(self) -> None:
        """The meta file's strand must be the one the blocks carry (their hashes cover it):
        a damaged meta file would otherwise rename the journal and start a second strand
        on top of the first (found by tests/fuzz/test_fuzz_files_and_messages.py)."""
        if not self._log.count:
            return
        last = decode(self._log.read(self._log.count - 1)).address
        if last.strand_id != self.strand_id:
            raise LedgerUnavailable(
                f"{self.directory / META} names strand {self.strand_id}, but block "
                f"{last.sequence_no} belongs to strand {last.strand_id}"
            )

    def _log_block_hash(self, number: int) -> bytes:
        payload = self._log.read(number)
        return payload[BLOCK_HASH_OFFSET : BLOCK_HASH_OFFSET + HASH_SIZE]

    def _acknowledged(self, checkpointed: int) -> int:
        """How many blocks a reader may take from a live writer's files: those it has
        acknowledged (or, from a writer that never said, those its checkpoint covers)."""
        acked = read_acked(self.directory)
        return checkpointed if acked is None else acked

    def _checkpoint(self) -> tuple[int, bytes]:
        """Leaves of ``tree.nodes`` known durable, and the root they had (0 if unreadable)."""
        fd = self._synced_fd
        if fd is None:
            path = self.directory / TREE_SYNCED
            data = path.read_bytes() if path.exists() else b""
        else:
            data = os.pread(fd, _CHECKPOINT.size, 0)
        if len(data) != _CHECKPOINT.size:
            return 0, EMPTY
        leaves, root, check = _CHECKPOINT.unpack(data)
        return (leaves, root) if crc32c.crc32c(data[:40]) == check else (0, EMPTY)

    def _recover_tree(self, checkpoint: tuple[int, bytes]) -> MerkleTree:
        """The tree over every block: trusted up to the checkpoint, recomputed after it.

        A reader beside a live writer may find the checkpoint ahead of the blocks it
        reads (the writer moved on in between): the checkpointed nodes are still right,
        and the tree is cut back to the blocks.
        """
        count = self._log.count
        leaves, root = checkpoint
        tree = self._tree_trusting(leaves if leaves <= count or self.read_only else 0)
        if tree.size and tree.root(tree.size) != root:
            tree = self._tree_trusting(0)  # the stored tree disagrees with its checkpoint
        if tree.size > count:
            tree.truncate(count)
        if tree.size and tree.leaf(tree.size - 1) != self._log_block_hash(tree.size - 1):
            tree = self._tree_trusting(0)  # ... or with the blocks
        for start in range(tree.size, count, 4096):
            stop = min(start + 4096, count)
            tree.append([self._log_block_hash(n) for n in range(start, stop)])
        if not self.read_only and leaves != count:
            self._nodes.sync()
            self._write_checkpoint(tree)
        return tree

    def _tree_trusting(self, leaves: int) -> MerkleTree:
        if self.read_only:
            return MerkleTree(OverlayNodes(self._nodes, node_count(leaves)))
        self._nodes.truncate(node_count(leaves))
        return MerkleTree(self._nodes)

    def _write_checkpoint(self, tree: MerkleTree, leaves: int | None = None) -> None:
        """Record that ``tree.nodes`` is durable up to ``leaves`` (call after syncing it)."""
        leaves = tree.size if leaves is None else leaves
        head = struct.pack("<Q32s", leaves, tree.root(leaves) if leaves else bytes(32))
        os.pwrite(self._synced_fd, head + struct.pack("<I", crc32c.crc32c(head)), 0)
        os.fdatasync(self._synced_fd)

    # ---- appending -----------------------------------------------------------------------

    def append(
        self, entries: Entries, transaction_info: Any = None, transaction_id: str | None = None
    ) -> BlockAddress:
        """Append one block (one transaction); returns once it is durable."""
        return self.complete(self.submit([(entries, transaction_info, transaction_id)]))[0]

    def append_many(
        self, transactions: Sequence[tuple[Entries, Any, str | None]]
    ) -> list[BlockAddress]:
        """Append several blocks under one fsync (bulk loads); returns once all are durable."""
        return self.complete(self.submit(transactions))

    def complete(self, waiter: Waiter) -> list[BlockAddress]:
        """The addresses of a submitted append once it is durable (its error otherwise).

        With ``callers_write`` the caller does the writer's work when no other caller is
        doing it: it takes the whole queue as one group (its own append and every one
        queued beside it), writes and fsyncs it, wakes the callers it served and hands
        the lead to one still waiting. That saves the two thread hand-offs per group of
        the writer and syncer threads, and keeps group commit: appends queued while one
        caller fsyncs go together in the next group."""
        if isinstance(waiter, Ticket):
            self._lead_or_wait(waiter)
        return waiter.result()

    def _lead_or_wait(self, ticket: Ticket) -> None:
        with self._lock:
            if self._leading:
                self._waiting.append(ticket)
                ticket.wait()
                self._waiting.remove(ticket)
                if ticket.done():
                    return
            self._leading = True
            batch = list(self._queue)
            self._queue.clear()
        try:
            written = self._write_batch(batch)
            if written:
                self._sync(written)
        finally:
            with self._lock:
                successor = next((t for t in self._waiting if not t.done()), None)
                if successor is None:
                    self._leading = False
                    self._no_leader.notify_all()
                else:
                    successor.lead()

    def submit(
        self,
        transactions: Sequence[Transaction | Block | tuple[Entries, Any, str | None]],
        waiter: Waiter | None = None,
    ) -> Waiter:
        """Queue blocks for the writer; the waiter resolves once they are durable.

        Each block is an (entries, transaction_info, transaction_id) tuple, a
        ``block.Transaction`` the caller prepared itself, or a ``block.Block`` sealed
        elsewhere (a replicated journal's copy): that is written as it is, after checking
        that it continues the chain; one that does not is refused with nothing written.

        ``waiter`` may be an asyncio future of the caller's loop (``AsyncJournal`` passes
        one); by default a new ``concurrent.futures.Future`` is returned, or where callers
        write, a ``Ticket`` to pass to ``complete``.
        """
        if waiter is None:
            waiter = Ticket(self._lock) if self.callers_write else Future()
        elif self.callers_write:
            raise ValueError("where callers write, an append's waiter is the journal's Ticket")
        with self._lock:
            self._check_writable()
            self._queue.append((list(transactions), waiter))
            if len(self._queue) == 1:  # the writer sleeps only on an empty queue
                self._queued.notify()
        return waiter

    def _check_writable(self) -> None:
        if self.read_only:
            raise LedgerClosed(f"journal {self.directory} is open read-only")
        self._check_open()

    def _check_open(self) -> None:
        if self._closed:
            raise LedgerClosed(f"journal {self.directory} is closed")
        if self._failure is not None:
            raise LedgerClosed(f"journal {self.directory} stopped: {self._failure}")

    def _commit_loop(self) -> None:
        """The writer thread: seals and writes whatever is queued, then hands it to the syncer.

        While the syncer's fsync runs, the next group is already being hashed and written,
        so an append costs the larger of the two, not their sum.
        """
        while True:
            with self._lock:
                while not self._queue and not self._closed:
                    self._queued.wait()
                if not self._queue:
                    self._written.append(None)
                    self._written_ready.notify()
                    return
                batch = list(self._queue)
                self._queue.clear()
            written = self._write_batch(batch)
            if written:
                with self._lock:
                    self._written.append(written)
                    self._written_ready.notify()

    def _write_batch(self, batch: list[tuple[list[Any], Waiter]]) -> list[_Written]:
        accepted: list[tuple[list[Block], Waiter]] = []
        refused: list[tuple[Waiter, Any, bool]] = []
        head = ChainHead(self.strand_id, self._log.count, self._last_hash, self._last_micros)
        now = _now_micros()
        for transactions, future in batch:
            try:
                if not transactions:
                    raise InvalidInput("transactions: nothing to append")
                blocks, head = _extend(head, transactions, now)
                accepted.append((blocks, future))
            except LedgerError as exc:
                refused.append((future, exc, True))
            except Exception as exc:  # a caller's malformed tuple: its error, nobody else's
                refused.append((future, InvalidInput(f"transactions: {exc}"), True))
        _settle(refused)
        if not accepted:
            return []
        try:
            if self._failure is not None:
                raise self._failure
            self._write([block for group, _ in accepted for block in group])
        except BaseException as exc:
            self._stop(exc, [future for _, future in accepted])
            return []
        self._last_hash, self._last_micros = head.previous_hash, head.timestamp_micros
        return [([block.address for block in group], future) for group, future in accepted]

    def _stop(self, exc: BaseException, futures: Sequence[Waiter]) -> None:
        """A write or fsync failed: nothing after it can be acknowledged, ever."""
        failure = exc if isinstance(exc, LedgerError) else StorageFailure(f"storage: {exc}")
        with self._lock:
            self._failure = self._failure or failure
        _settle([(future, self._failure, True) for future in futures])

    def _write(self, blocks: Sequence[Block]) -> None:
        """Write sealed blocks: framed, added to the tree; not yet durable."""
        payloads = [encode(block) for block in blocks]
        with self._io_lock:
            self._log.append(payloads)
        self._tree.append([block.block_hash for block in blocks])

    def _sync_loop(self) -> None:
        """The syncer thread: one fsync acknowledges every group written before it began."""
        while True:
            with self._lock:
                while not self._written:
                    self._written_ready.wait()
                groups = list(self._written)
                self._written.clear()
            done = groups[-1] is None
            pending = [item for group in groups if group for item in group]
            if pending:
                self._sync(pending)
            if done:
                return

    def _sync(self, pending: list[_Written]) -> None:
        target = pending[-1][0][-1].sequence_no
        try:
            if self._failure is not None:
                raise self._failure
            with self._io_lock:
                self._log.sync()
            if time.monotonic() - self._last_checkpoint >= CHECKPOINT_SECONDS:
                self._nodes.sync()
                self._write_checkpoint(self._tree, target + 1)
                self._last_checkpoint = time.monotonic()
            write_acked(self._acked_fd, target + 1)
        except BaseException as exc:
            self._stop(exc, [future for _, future in pending])
            return
        self._durable = target
        try:
            if self.after_sync is not None:
                self.after_sync(target)  # the database's: records its own failures, raises none
        finally:
            _settle([(future, addresses, False) for addresses, future in pending])

    # ---- reading -------------------------------------------------------------------------

    @property
    def tree(self) -> MerkleTree:
        """The tree over every block (read it; only the journal appends to it)."""
        return self._tree

    @property
    def torn_bytes(self) -> int:
        """Bytes of a torn tail left in place (read-only opens do not cut it)."""
        return self._log.torn_bytes

    @property
    def tip(self) -> BlockAddress | None:
        """The newest durable block's address (None while the journal is empty)."""
        durable = self._durable
        return None if durable < 0 else BlockAddress(self.strand_id, durable)

    def head(self) -> ChainHead:
        """Where the block after the durable tip goes (for a writer that seals its blocks
        itself, such as a replicated journal; read it while no append is in flight)."""
        durable = self._durable
        if durable < 0:
            return ChainHead(self.strand_id, 0, EMPTY)
        tip = self.read(durable)
        return ChainHead(self.strand_id, durable + 1, tip.block_hash, tip.timestamp_micros)

    def _check_sequence(self, sequence_no: int, field: str = "sequence number") -> None:
        if not isinstance(sequence_no, int) or isinstance(sequence_no, bool):
            raise BlockNotFound(f"{field} must be an integer, got {sequence_no!r}")
        if not 0 <= sequence_no <= self._durable:
            tip = "the journal is empty" if self._durable < 0 else f"the tip is {self._durable}"
            raise BlockNotFound(f"{field} {sequence_no} does not exist: {tip}")

    def read(self, sequence_no: int) -> Block:
        self._check_open()
        self._check_sequence(sequence_no)
        payload = self._log.read(sequence_no)
        try:
            block = decode(payload)
        except VerificationError as exc:
            path, offset = self._log.location(sequence_no)
            raise CorruptRecord(path, offset, str(exc), sequence_no) from None
        if block.sequence_no != sequence_no:
            path, offset = self._log.location(sequence_no)
            raise CorruptRecord(
                path, offset, f"record holds block {block.sequence_no}", sequence_no
            )
        return block

    def redact(self, sequence_no: int, bodies: Mapping[int, bytes]) -> Block:
        """Replace revision entries of a durable block by their redacted bodies.

        ``bodies`` maps entry positions to new bodies whose entry hash must equal the
        entry's stored hash (``block.redacted_body`` makes them), so the block's hashes,
        the chain and the tree do not change; only the data leaves the disk. The record
        is rewritten crash-safely (``SegmentLog.replace``). Returns the rewritten block.
        """
        self._check_writable()
        block = self.read(sequence_no)
        entries = list(block.entries)
        for index, body in bodies.items():
            if not 0 <= index < len(entries) or entries[index].kind is not EntryKind.REVISION:
                raise InvalidInput(f"block {sequence_no} has no revision entry {index}")
            if entry_hash(EntryKind.REVISION, body) != entries[index].hash:
                raise InvalidInput(
                    f"the redacted body of entry {index} of block {sequence_no} does not "
                    "hash to the entry's hash"
                )
            entries[index] = dataclasses.replace(entries[index], body=body)
        rewritten = dataclasses.replace(block, entries=tuple(entries))
        payload = encode(rewritten)
        with self._io_lock:
            self._check_open()
            self._log.replace(sequence_no, payload)
        return rewritten

    def read_range(self, start: int, stop: int) -> Iterator[Block]:
        """Blocks ``start`` up to (not including) ``stop``, clipped to the durable tip."""
        for sequence_no in range(max(start, 0), min(stop, self._durable + 1)):
            yield self.read(sequence_no)

    def digest(self, tip: int | None = None) -> Digest:
        self._check_open()
        tip = self._durable if tip is None else tip
        self._check_sequence(tip, "digest tip")
        return Digest(self._tree.root(tip + 1), BlockAddress(self.strand_id, tip))

    def inclusion_proof(self, sequence_no: int, tip: int | None = None) -> list[bytes]:
        """Hashes leading from block ``sequence_no`` to the digest at ``tip`` (default: now)."""
        self._check_open()
        tip = self._durable if tip is None else tip
        self._check_sequence(tip, "digest tip")
        self._check_sequence(sequence_no)
        if sequence_no > tip:
            raise BlockNotFound(f"block {sequence_no} is beyond the digest tip {tip}")
        return self._tree.inclusion_path(sequence_no, tip + 1)

    def consistency_proof(self, first_tip: int, second_tip: int) -> list[bytes]:
        """Hashes proving the journal at ``second_tip`` extends the one at ``first_tip``."""
        self._check_open()
        self._check_sequence(first_tip, "first tip")
        self._check_sequence(second_tip, "second tip")
        if first_tip > second_tip:
            raise BlockNotFound(f"first tip {first_tip} is after second tip {second_tip}")
        return self._tree.consistency_proof(first_tip + 1, second_tip + 1)

    # ---- closing -------------------------------------------------------------------------

    def close(self) -> None:
        """Stop accepting appends, finish the queued ones, make the tree durable."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queued.notify()
            queued = [future for _, future in self._queue]
        for thread in self._threads:
            thread.join()
        for ticket in queued:
            if isinstance(ticket, Ticket):
                self._lead_or_wait(ticket)
        with self._lock:  # a caller may still be writing a group it took before the close
            while self._leading:
                self._no_leader.wait()
        try:
            if not self.read_only and self._failure is None:
                self._log.sync()
                self._nodes.sync()
                self._write_checkpoint(self._tree)
                write_acked(self._acked_fd, self._log.count)
        finally:
            self._release_files()

    def _release_files(self) -> None:
        for name in ("_log", "_nodes"):
            resource = getattr(self, name, None)
            if resource is not None:
                resource.close()
        for name in ("_synced_fd", "_acked_fd", "_lock_fd"):
            fd = getattr(self, name, None)
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, None)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class AsyncJournal:
    """The journal for asyncio callers: every call that may block runs on a thread pool.

    Concurrent ``await journal.append(...)`` calls share fsyncs through the journal's
    group commit, and the event loop never waits on the disk.
    """

    def __init__(self, journal: Journal, workers: int = 64) -> None:
        if journal.callers_write:
            raise ValueError("an AsyncJournal needs a journal with its own writer threads")
        self.journal = journal
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="ledgerdb-journal")

    @classmethod
    async def open(cls, path: str | os.PathLike[str], **options: Any) -> AsyncJournal:
        return cls(await asyncio.to_thread(Journal.open, path, **options))

    async def _run(self, function: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    @property
    def tip(self) -> BlockAddress | None:
        return self.journal.tip

    async def append(
        self, entries: Entries, transaction_info: Any = None, transaction_id: str | None = None
    ) -> BlockAddress:
        waiter = asyncio.get_running_loop().create_future()
        self.journal.submit([(entries, transaction_info, transaction_id)], waiter)
        return (await waiter)[0]

    async def append_many(
        self, transactions: Sequence[tuple[Entries, Any, str | None]]
    ) -> list[BlockAddress]:
        waiter = asyncio.get_running_loop().create_future()
        self.journal.submit(transactions, waiter)
        return await waiter

    async def read(self, sequence_no: int) -> Block:
        return await self._run(self.journal.read, sequence_no)

    async def read_range(self, start: int, stop: int) -> list[Block]:
        return await self._run(lambda: list(self.journal.read_range(start, stop)))

    async def digest(self, tip: int | None = None) -> Digest:
        return await self._run(self.journal.digest, tip)

    async def inclusion_proof(self, sequence_no: int, tip: int | None = None) -> list[bytes]:
        return await self._run(self.journal.inclusion_proof, sequence_no, tip)

    async def consistency_proof(self, first_tip: int, second_tip: int) -> list[bytes]:
        return await self._run(self.journal.consistency_proof, first_tip, second_tip)

    async def close(self) -> None:
        await self._run(self.journal.close)
        self._executor.shutdown(wait=True)
