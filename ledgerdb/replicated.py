"""The journal with its sequence of blocks in a JetStream stream replicated on three
servers, and a verified local copy in every process that opens it.

Why: an ordering service that survives losing a node needs its block log on more than
one machine, with one order everybody agrees on. JetStream's Raft provides both; this
module never votes or elects. What it adds is the journal: the same blocks, hashes,
chain, Merkle digests and proofs as the local journal, so a block appended here verifies
with ``consortium ledger verify`` like any other.

- **Appending.** The writer seals the next blocks on its local copy's head, exactly as
  the local journal seals them (``block.ChainHead``), and publishes one message per
  block with JetStream's conditions (``ledgerdb.jetstream``): at most one block is ever
  stored at a position, and only on the block it was sealed on. A writer that loses the
  position gets ``JournalConflict``, and nothing of its block is stored anywhere. Only
  once JetStream acknowledges do the blocks go into the local copy; the append returns
  when they are durable there too. Concurrent appends are sent back to back and share
  the servers' round trip and the local fsync (group commit).
- **Reading.** Every process (the writer too) reads its local copy: the ordinary
  segment-file journal, holding exactly the stream's first blocks. Blocks it did not
  seal itself reach it through ``catch_up`` (to the stream's tip as of the call) or
  ``follow`` (tailing the stream), each checked on the way in: record CRCs, every hash
  recomputed, the chain continuing from the local copy. Anything else is refused with
  ``ReplicaMismatch``, naming the stream and the block, and nothing is written.
- **Starting.** The local copy must be a prefix of the stream: if it holds a block the
  stream lacks, or a different block at some position, the open is refused naming the
  first such block; neither side is ever truncated or rewritten. One exception: a copy
  this journal made (it marks the folder, ``REPLICA_MARKER``) that is longer than the
  stream, whose block at the stream's last position is the stream's, holds blocks the
  stream acknowledged and then lost while the copy's process was down, or was being
  put back when that process was killed: they are put back as below.
- **Restoring.** While it runs, every block in the copy has been seen in the stream
  (acknowledged to this writer, or read from it). If the stream is later found holding
  fewer blocks (nats-server 2.9.10 elected a replica that had missed them as the
  stream's leader: ``docs/architecture.md``), and the stream's last block is the copy's
  block at that position, the stream lost acknowledged blocks: the journal republishes
  the missing ones from its copy, with the same conditions as any append (the same bytes
  at the same positions, each on its predecessor's hash), so a restore can only put back
  what was there, never fork. Every process holding the copy does this, whoever gets
  each position first; the others find their own block there.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import nats.errors

from ledgerdb.block import (
    Block,
    BlockAddress,
    Transaction,
    decode,
    encoded_size,
    prepare,
)
from ledgerdb.errors import (
    InvalidInput,
    JournalConflict,
    LedgerClosed,
    LedgerError,
    ReplicaMismatch,
    ReplicationUnavailable,
    VerificationError,
)
from ledgerdb.jetstream import (
    EXPECTED_LAST_MSG_ID,
    HEADER_ALLOWANCE,
    MSG_ID,
    REPLICAS,
    WRONG_LAST_MSG_ID,
    NoAnswer,
    Outcome,
    Publisher,
    Refused,
    Stored,
    StreamReader,
    closed_error,
    connect,
    ensure_stream,
    is_closed,
    layout,
    message,
)
from ledgerdb.journal import AsyncJournal, Digest, Entries, Journal
from ledgerdb.redaction import RedactionRefused
from ledgerdb.segments import DEFAULT_SEGMENT_BYTES, HEADER_SIZE, unframe
from ledgerdb.verify import verify_block, verify_follows

ACK_TIMEOUT = 2.0
"""How long one round of publishing waits for JetStream's answers before sending again
(blocks sent to a leader that died are never answered)."""
TIMEOUT = 30.0
"""How long an append, a catch-up or a start may wait for the servers before giving up
with ``ReplicationUnavailable``: a stream leader's election after it is lost takes 5 to
9 seconds on nats-server 2.9 and 2.10, during which nothing can be appended."""
MAX_BATCH_BLOCKS = 256
MAX_BATCH_BYTES = 16 * 1024 * 1024
REPLICA_MARKER = "replica-of"
"""A file in the local copy's folder naming the stream the copy was made from."""
CATCH_UP_BYTES = 32 * 1024 * 1024
"""About how much a reader fetches per round trip while catching up."""
FOLLOW_WAIT = 1.0
RETRY_PAUSES = (0.05, 0.1, 0.2, 0.5)

T = TypeVar("T")
log = logging.getLogger(__name__)


def _now_micros() -> int:
    return time.time_ns() // 1000


class TipWaiters:
    """Futures that resolve once the local copy's durable tip reaches a block."""

    def __init__(self, tip: int) -> None:
        self.tip = tip
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._failure: BaseException | None = None

    def wait(self, sequence_no: int) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._failure is not None:
            future.set_exception(self._failure)
        elif sequence_no <= self.tip:
            future.set_result(None)
        else:
            heapq.heappush(self._waiting, (sequence_no, next(self._order), future))
        return future

    def advance(self, tip: int) -> None:
        self.tip = max(self.tip, tip)
        while self._waiting and self._waiting[0][0] <= self.tip:
            future = heapq.heappop(self._waiting)[2]
            if not future.done():
                future.set_result(None)

    def fail(self, exc: BaseException) -> None:
        self._failure = self._failure or exc
        for _, _, future in self._waiting:
            if not future.done():
                future.set_exception(self._failure)
        self._waiting.clear()


class _Stopped(LedgerError):
    """Publishing a run of blocks stopped after ``landed`` of them, because of ``error``."""

    def __init__(self, landed: int, error: LedgerError) -> None:
        self.landed = landed
        self.error = error


_LANDED, _RETRY, _UNLINKED, _UNIDENTIFIED = "landed", "retry", "unlinked", "unidentified"
_Queued = tuple[list[Transaction], asyncio.Future[list[BlockAddress]], int | None]


class ReplicatedJournal:
    """The journal, replicated: ``AsyncJournal``'s API plus ``catch_up`` and ``follow``."""

    def __init__(
        self,
        connection: Any,
        stream: str,
        reader: StreamReader,
        publisher: Publisher,
        local: AsyncJournal,
        timeout: float,
    ) -> None:
        self.stream = stream
        self._connection = connection
        self._reader = reader
        self._publisher = publisher
        self._local = local
        self._timeout = timeout
        self._head = local.journal.head()
        self._recent: dict[int, bytes] = {}  # hashes of blocks handed to the copy, not durable
        self._tips = TipWaiters(self._head.sequence_no - 1)
        self._queue: deque[_Queued] = deque()
        self._wake = asyncio.Event()
        self._pulling = asyncio.Lock()
        self._restoring = asyncio.Lock()
        self.restored = 0  # blocks this process put back into the stream (``_restore``)
        self._batch = 64
        self._stale = False
        self._closing = False
        self._failure: LedgerError | None = None
        self._appender: asyncio.Task[None] | None = None
        self._follower: asyncio.Task[None] | None = None

    # ---- opening -------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        servers: Sequence[str],
        name: str,
        replicas: int = REPLICAS,
        connect_timeout: float = 5.0,
        timeout: float = TIMEOUT,
        follow: bool = False,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> ReplicatedJournal:
        """Open journal ``name`` (stream ``LEDGERDB_<name>``, created on first use) with its
        local copy in ``path``, and bring the copy up to the stream's tip.

        ``servers`` are tried for ``connect_timeout`` seconds; ``follow`` starts tailing
        the stream at once (readers), instead of catching up only when asked (writers).
        """
        where = layout(name)
        connection = await connect(servers, connect_timeout)
        local = None
        try:
            js = connection.jetstream(timeout=ACK_TIMEOUT)
            await ensure_stream(js, where, replicas, timeout)
            local = await AsyncJournal.open(
                path, strand_id=where.strand_id, segment_bytes=segment_bytes
            )
            publisher = Publisher(connection, where.subject)
            await publisher.start()
        except BaseException:
            if local is not None:
                await local.close()
            await connection.close()
            raise
        journal = cls(connection, where.stream, StreamReader(js, where), publisher, local, timeout)
        try:
            await journal._check_local_copy()
            journal._mark_replica()
            await journal.catch_up()
        except BaseException:
            await journal.close()
            raise
        journal._appender = asyncio.create_task(journal._append_loop())
        if follow:
            journal.start_following()
        return journal

    async def _check_local_copy(self) -> None:
        """Refuse to start unless the local copy is a prefix of the stream."""
        held = self._head.sequence_no
        stream_blocks, _ = await self._retrying(self._reader.last_sequence)
        if stream_blocks and await self._retrying(self._reader.first_sequence) != 1:
            raise ReplicaMismatch(self.stream, 0, "the stream no longer holds block 0")
        directory = self._local.journal.directory
        if held > stream_blocks and await self._fell_back_while_down(held, stream_blocks):
            return  # ``catch_up`` puts the lost blocks back
        if held > stream_blocks:
            raise ReplicaMismatch(
                self.stream,
                stream_blocks,
                f"the local copy {directory} holds {held} blocks but the stream only "
                f"{stream_blocks}, so not this one; refusing to start (nothing was changed "
                "on either side)",
            )
        if held and not await self._agrees(held - 1):
            first = await self._first_disagreement(held - 1)
            raise ReplicaMismatch(
                self.stream,
                first,
                f"the local copy {directory} holds another block here than the stream; "
                "refusing to start (nothing was changed on either side)",
            )

    async def _fell_back_while_down(self, held: int, stream_blocks: int) -> bool:
        """Whether a copy longer than the stream is one this journal kept of it (marked
        ``REPLICA_MARKER``) and the stream's last block is the copy's: the stream lost
        acknowledged blocks while no process of this copy ran (or this one was killed
        in the middle of putting them back), and they can be put back. A copy not made
        by this journal, or a stream that is empty or holds another block there, is
        refused as before: nothing proves its extra blocks were ever in the stream."""
        marker = self._local.journal.directory / REPLICA_MARKER
        try:
            replica_of = marker.read_text().strip()
        except FileNotFoundError:
            return False
        if replica_of != self.stream or not stream_blocks:
            return False
        if not await self._agrees(stream_blocks - 1):
            return False
        log.error(
            "stream %s holds %d blocks, but the local copy %s holds %d it acknowledged "
            "before: the stream lost blocks %d to %d while this copy was not running; "
            "putting them back",
            self.stream,
            stream_blocks,
            self._local.journal.directory,
            held,
            stream_blocks,
            held - 1,
        )
        return True

    def _mark_replica(self) -> None:
        """Record, in the copy's folder, that its blocks are this stream's (every block
        that goes in from now on was acknowledged by the stream or read from it)."""
        marker = self._local.journal.directory / REPLICA_MARKER
        if marker.exists():
            return
        with marker.open("w") as file:
            file.write(self.stream + "\n")
            file.flush()
            os.fsync(file.fileno())

    async def _agrees(self, sequence_no: int) -> bool:
        try:
            theirs = await self._stream_block(sequence_no)
        except ReplicaMismatch:
            return False
        ours = await self._local.read(sequence_no)
        return theirs is not None and theirs.block_hash == ours.block_hash

    async def _first_disagreement(self, known_bad: int) -> int:
        """The first block where copy and stream differ (chained: once apart, always apart)."""
        low, high = 0, known_bad
        while low < high:
            middle = (low + high) // 2
            if await self._agrees(middle):
                low = middle + 1
            else:
                high = middle
        return low

    # ---- reading (the local copy) --------------------------------------------------------

    @property
    def journal(self) -> Journal:
        """The local copy (read it; only this object appends to it)."""
        return self._local.journal

    @property
    def tip(self) -> BlockAddress | None:
        """The newest block the local copy holds durably."""
        return self._local.tip

    async def read(self, sequence_no: int) -> Block:
        return await self._local.read(sequence_no)

    async def read_range(self, start: int, stop: int) -> list[Block]:
        return await self._local.read_range(start, stop)

    async def digest(self, tip: int | None = None) -> Digest:
        return await self._local.digest(tip)

    async def inclusion_proof(self, sequence_no: int, tip: int | None = None) -> list[bytes]:
        return await self._local.inclusion_proof(sequence_no, tip)

    async def consistency_proof(self, first_tip: int, second_tip: int) -> list[bytes]:
        return await self._local.consistency_proof(first_tip, second_tip)

    async def redact(self, sequence_no: int, bodies: Mapping[int, bytes]) -> Block:
        """Refused: a redaction must remove the data from every copy, and this journal's
        stream keeps the original record on every server (JetStream messages cannot be
        rewritten, and the stream is deny_delete/deny_purge so no block can be dropped)."""
        raise RedactionRefused(
            f"redact_revision is not supported on the replicated journal {self.stream}: "
            f"block {sequence_no}'s original record stays in the JetStream stream on every "
            "server (messages cannot be rewritten; the stream denies delete and purge), so "
            "the data would not leave the replicas; keep redactable documents in a local "
            "ledgerdb database"
        )

    async def wait_for(self, sequence_no: int, timeout: float | None = None) -> BlockAddress:
        """Until the local copy holds block ``sequence_no`` durably (following, or after
        someone's catch-up or append)."""
        if not isinstance(sequence_no, int) or sequence_no < 0:
            raise InvalidInput(f"sequence number must be a non-negative integer: {sequence_no!r}")
        try:
            await asyncio.wait_for(self._tips.wait(sequence_no), timeout)
        except TimeoutError:
            raise ReplicationUnavailable(
                f"stream {self.stream}: block {sequence_no} did not reach the local copy "
                f"within {timeout:g}s"
            ) from None
        return BlockAddress(self._head.strand_id, sequence_no)

    # ---- catching up and following -------------------------------------------------------

    async def catch_up(self) -> BlockAddress | None:
        """Bring the local copy up to the stream's tip as of this call; returns the copy's
        tip. Every block is verified on the way in (``ReplicaMismatch`` if one is not)."""
        self._check_usable()
        target, average = await self._retrying(self._reader.last_sequence)
        self._batch = max(1, min(1024, CATCH_UP_BYTES // max(average, 1)))
        if target < self._head.sequence_no:
            await self._restore(target)
        if self._follower is None or self._follower.done():
            await self._pull_until(target)
        if target:
            await self.wait_for(target - 1, self._timeout)
        return self.tip

    @property
    def stopped(self) -> LedgerError | None:
        """Why this journal stopped taking appends (a block that did not verify, a fork
        it cannot mend), or None while it works."""
        return self._failure

    async def stream_length(self) -> int:
        """How many blocks the stream holds now: fewer than the copy if it fell back (a
        new cutter compares it with the other nodes' copies before it cuts)."""
        self._check_usable()
        blocks, _ = await self._retrying(self._reader.last_sequence)
        return blocks

    def start_following(self) -> asyncio.Task[None]:
        """Tail the stream in a task until ``close``: blocks others append reach the local
        copy (verified) moments after JetStream stores them."""
        if self._follower is None or self._follower.done():
            self._follower = asyncio.create_task(self.follow())
        return self._follower

    async def follow(self) -> None:
        """Tail the stream until ``close`` (``start_following`` runs this in a task).

        Stops only on a block that does not verify (raising ``ReplicaMismatch``, after
        which the journal refuses appends and waiters get the error) or a closed
        connection; a lost server, an election or a restore that timed out just waits and
        tries again (a follower that stopped silently left its node's Deliver, and the
        peers pulling from it, at one height for good).
        """
        pauses = _pauses()
        while not self._closing:
            try:
                if await self._pull_step(FOLLOW_WAIT):
                    pauses = _pauses()
            except (ReplicaMismatch, LedgerClosed) as exc:
                log.error("stream %s: following stopped: %s", self.stream, exc)
                self._tips.fail(self._failed(exc))  # waiters (Deliver) learn it, not hang
                raise
            except LedgerError as exc:  # no answer in time (a restore's, say): go on
                log.warning("stream %s: following: %s", self.stream, exc)
                await asyncio.sleep(next(pauses))
            except Exception as exc:
                if is_closed(exc):
                    raise self._failed(exc) from None
                log.warning("stream %s: following: %s: %s", self.stream, type(exc).__name__, exc)
                await asyncio.sleep(next(pauses))

    async def _pull_until(self, target: int) -> None:
        """Pull until the copy holds ``target`` blocks, giving up after ``timeout`` seconds
        without progress."""
        loop = asyncio.get_running_loop()
        deadline, pauses = loop.time() + self._timeout, _pauses()
        while self._head.sequence_no < target:
            try:
                if await self._pull_step(0.5):
                    deadline, pauses = loop.time() + self._timeout, _pauses()
                    continue
                problem = "no messages came"
            except LedgerError:
                raise
            except Exception as exc:
                if is_closed(exc):
                    raise self._failed(exc) from None
                problem = f"{type(exc).__name__}: {exc}"
            if loop.time() >= deadline:
                raise ReplicationUnavailable(
                    f"stream {self.stream}: catching up stopped at block "
                    f"{self._head.sequence_no} of {target} for {self._timeout:g}s ({problem})"
                )
            await asyncio.sleep(next(pauses))

    async def _pull_step(self, wait: float) -> bool:
        """Fetch and take what the stream holds after the copy's head; False if nothing."""
        async with self._pulling:
            position = self._head.sequence_no + 1
            records = await self._reader.fetch(position, self._batch, wait)
            if not records:
                last, _ = await self._reader.last_sequence()
                if last >= position:  # the stream has more: our consumer is lost, renew it
                    await self._reader.drop()
                elif last < self._head.sequence_no:  # it lost blocks we took from it
                    await self._restore(last)
                return False
            held = self._head.sequence_no
            blocks, refused = await asyncio.to_thread(self._verified_prefix, records, held)
            self._take(blocks)
            if refused is not None:
                raise self._failed(refused)
            return True

    def _verified_prefix(
        self, records: Sequence[tuple[int, bytes]], held: int = 0
    ) -> tuple[list[Block], ReplicaMismatch | None]:
        """The records' blocks up to the first that does not verify, and why it did not
        (the blocks before it are as good as any, and are taken).

        Blocks below ``held`` (the copy's height) are not taken, only compared with the
        copy's by their block hash (``_refusal``): their hashes are not computed again.
        Why: the cutter reads every block it wrote back from the stream; re-hashing a
        block it sealed itself proves nothing (about 0.9 ms per 500-envelope block of
        3.4 KB envelopes, 1.8 µs per envelope; decoding it is 1.3 ms)."""
        blocks = []
        for sequence, data in records:
            try:
                blocks.append(self._verified(sequence, data, check=sequence > held))
            except ReplicaMismatch as exc:
                return blocks, exc
        return blocks, None

    def _verified(self, sequence: int, data: bytes, check: bool = True) -> Block:
        """Message ``sequence`` as a block, its CRCs and (``check``) every hash checked."""
        number = sequence - 1
        try:
            block = decode(unframe(data))
        except VerificationError as exc:
            raise ReplicaMismatch(
                self.stream, number, f"message {sequence} is not a journal block ({exc})"
            ) from None
        if block.sequence_no != number:
            raise ReplicaMismatch(
                self.stream, number, f"message {sequence} holds block {block.sequence_no}"
            )
        try:
            if check:
                verify_block(block)
        except VerificationError as exc:
            raise ReplicaMismatch(self.stream, number, str(exc)) from None
        return block

    async def _stream_block(self, sequence_no: int) -> Block | None:
        """Block ``sequence_no`` as the stream holds it (verified), or None if not there."""
        data = await self._retrying(lambda: self._reader.message_at(sequence_no + 1))
        return None if data is None else self._verified(sequence_no + 1, data)

    def _take(self, blocks: Sequence[Block]) -> None:
        """Hand blocks that JetStream holds to the local copy, in order.

        Blocks the copy already has (the writer's own, seen again while following) must
        be the very same; the others must continue the chain. Runs without awaiting, so
        the head it moves is never seen half moved.
        """
        fresh: list[Block] = []
        refused = None
        for block in blocks:
            refused = self._refusal(block)
            if refused is not None:
                break
            if block.sequence_no < self._head.sequence_no:
                continue  # held already, and the same
            self._head.advance(block)
            self._recent[block.sequence_no] = block.block_hash
            fresh.append(block)
        if fresh:  # the head moved past them: they go to the copy, whatever follows
            written = asyncio.get_running_loop().create_future()
            written.add_done_callback(self._written)
            self._local.journal.submit(fresh, written)
        if refused is not None:
            raise self._failed(refused)

    def _refusal(self, block: Block) -> ReplicaMismatch | None:
        """Why ``block`` cannot go to the local copy after its head, if it cannot."""
        number = block.sequence_no
        if number < self._head.sequence_no:
            held = self._recent.get(number)
            if held is None:
                held = self._local.journal.read(number).block_hash
            if held == block.block_hash:
                return None
            return ReplicaMismatch(
                self.stream,
                number,
                f"the stream holds block hash {block.block_hash.hex()[:16]}…, the local "
                f"copy {held.hex()[:16]}…",
            )
        head = self._head
        try:
            verify_follows(block, head.strand_id, head.sequence_no, head.previous_hash)
        except VerificationError as exc:
            return ReplicaMismatch(
                self.stream, number, f"the stream's block does not continue the local copy: {exc}"
            )
        return None

    def _written(self, future: asyncio.Future[list[BlockAddress]]) -> None:
        if future.cancelled():
            return
        if future.exception() is not None:
            self._tips.fail(self._failed(future.exception()))
            return
        tip = future.result()[-1].sequence_no
        while self._recent and next(iter(self._recent)) <= tip:
            del self._recent[next(iter(self._recent))]
        self._tips.advance(tip)

    # ---- appending -----------------------------------------------------------------------

    async def append(
        self, entries: Entries, transaction_info: Any = None, transaction_id: str | None = None
    ) -> BlockAddress:
        """Append one block; returns once JetStream stored it and the local copy has it."""
        return (await self.append_many([(entries, transaction_info, transaction_id)]))[0]

    async def append_many(
        self, transactions: Sequence[tuple[Entries, Any, str | None]]
    ) -> list[BlockAddress]:
        """Append consecutive blocks; returns once every one is stored and local.

        ``JournalConflict`` if another writer took a position first (``appended`` lists
        any of these blocks that landed before it); catch up and append again.
        ``ReplicationUnavailable`` if the servers did not answer in time: the blocks may
        still be stored, and the next append (or ``catch_up``) will find out.
        """
        return await self._enqueue(transactions, None)

    async def append_at(
        self, at: int, transactions: Sequence[tuple[Entries, Any, str | None]]
    ) -> list[BlockAddress]:
        """``append_many`` whose first block must go at position ``at``: if the local copy
        has moved past it meanwhile (blocks another writer appended, read while
        following), the append is refused with ``JournalConflict`` before anything is
        sent, so a writer that numbers its own blocks (an orderer's block n is journal
        block n) never lands off by some."""
        if not isinstance(at, int) or at < 0:
            raise InvalidInput(f"at: a position is a non-negative integer, not {at!r}")
        return await self._enqueue(transactions, at)

    async def _enqueue(
        self, transactions: Sequence[tuple[Entries, Any, str | None]], at: int | None
    ) -> list[BlockAddress]:
        self._check_usable()
        if not transactions or isinstance(transactions, str | bytes):
            raise InvalidInput("transactions: nothing to append")
        prepared = [self._prepared(item) for item in transactions]
        waiter: asyncio.Future[list[BlockAddress]] = asyncio.get_running_loop().create_future()
        self._queue.append((prepared, waiter, at))
        self._wake.set()
        return await waiter

    def _prepared(self, item: Any) -> Transaction:
        try:
            transaction = item if isinstance(item, Transaction) else prepare(*item)
        except LedgerError:
            raise
        except Exception as exc:  # a malformed tuple
            raise InvalidInput(f"transactions: {exc}") from None
        size = encoded_size(transaction, self._head.strand_id, 1) + HEADER_SIZE
        limit = self._connection.max_payload - HEADER_ALLOWANCE
        if size > limit:
            raise InvalidInput(
                f"entries: a block of {size} bytes does not fit in one message of stream "
                f"{self.stream} (its servers' max_payload allows {limit} bytes of block)"
            )
        return transaction

    async def _append_loop(self) -> None:
        """The appender: seals, publishes and hands over one batch of queued appends at a
        time (later appends queue meanwhile, and go together in the next batch)."""
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._take_batch()
            if not batch:
                continue
            try:
                if self._stale:
                    await self.catch_up()
                    self._stale = False
                await self._append_batch(batch)
            except Exception as exc:
                error = exc if isinstance(exc, LedgerError) else closed_error(self.stream, exc)
                for _, waiter, _ in batch:
                    if not waiter.done():
                        waiter.set_exception(error)

    def _take_batch(self) -> list[_Queued]:
        batch: list[_Queued] = []
        blocks = size = 0
        while self._queue:
            transactions, waiter, at = self._queue[0]
            grows = sum(len(entry.body) for t in transactions for entry in t.entries)
            if batch and (
                blocks + len(transactions) > MAX_BATCH_BLOCKS or size + grows > MAX_BATCH_BYTES
            ):
                break
            self._queue.popleft()
            if not waiter.done():  # a caller that gave up before sealing is not sent
                batch.append((transactions, waiter, at))
                blocks, size = blocks + len(transactions), size + grows
        return batch

    async def _append_batch(self, queued: list[_Queued]) -> None:
        batch = self._where_meant(queued)
        if not batch:
            return
        head = self._head.copy()
        now = _now_micros()
        sealed = [[head.seal(item, now) for item in transactions] for transactions, _, _ in batch]
        blocks = [block for group in sealed for block in group]
        error: LedgerError | None = None
        try:
            landed = await self._publish(blocks)
        except _Stopped as stopped:
            landed, error = stopped.landed, stopped.error
            self._stale = True
        self._take(blocks[:landed])
        offset = 0
        for group, (_, waiter, _) in zip(sealed, batch, strict=True):
            done = max(0, min(len(group), landed - offset))
            offset += len(group)
            if error is None or done == len(group):
                self._settle_when_local(waiter, [block.address for block in group])
            elif not waiter.done():
                waiter.set_exception(_for_caller(error, [b.address for b in group[:done]]))
        if isinstance(error, JournalConflict):
            while self._queue:  # they were to follow blocks that are not in the stream
                _, waiter, _ = self._queue.popleft()
                if not waiter.done():
                    waiter.set_exception(_for_caller(error, []))

    def _where_meant(self, batch: list[_Queued]) -> list[_Queued]:
        """The appends of ``batch`` that go where their callers meant (``at``); the others
        are refused with ``JournalConflict``, unsent."""
        kept: list[_Queued] = []
        position = self._head.sequence_no
        for transactions, waiter, at in batch:
            if at is not None and at != position:
                if waiter.done():
                    continue
                waiter.set_exception(
                    JournalConflict(
                        self.stream,
                        at,
                        f"the append was meant for block {at}, but the next block of the "
                        f"local copy is {position}",
                    )
                )
                continue
            kept.append((transactions, waiter, at))
            position += len(transactions)
        return kept

    async def settle(self) -> BlockAddress | None:
        """Until every block handed to the local copy is durable there (the copy's tip is
        then the newest block this journal knows); returns the tip."""
        if self._head.sequence_no:
            await self.wait_for(self._head.sequence_no - 1, self._timeout)
        return self.tip

    def _settle_when_local(
        self, waiter: asyncio.Future[list[BlockAddress]], addresses: list[BlockAddress]
    ) -> None:
        def settle(local: asyncio.Future[None]) -> None:
            if waiter.done():
                return
            if local.exception() is not None:
                waiter.set_exception(local.exception())
            else:
                waiter.set_result(addresses)

        self._tips.wait(addresses[-1].sequence_no).add_done_callback(settle)

    async def _publish(self, blocks: Sequence[Block]) -> int:
        """Publish ``blocks`` until all are stored; raises ``_Stopped`` otherwise."""
        loop = asyncio.get_running_loop()
        messages = [message(block) for block in blocks]
        deadline, pauses = loop.time() + self._timeout, _pauses()
        landed, form = 0, _LANDED  # (the next send: every block left, with all conditions)
        while landed < len(blocks):
            start = landed
            sending = messages[start:] if form == _LANDED else [_reduced(messages[start], form)]
            try:
                outcomes = await self._publisher.publish(sending, ACK_TIMEOUT)
            except nats.errors.Error as exc:
                raise _Stopped(landed, closed_error(self.stream, exc)) from None
            for outcome, block in zip(outcomes, blocks[landed:], strict=False):
                if not isinstance(outcome, Stored) or _staged(outcome):
                    break
                if outcome.sequence != block.sequence_no + 1:
                    raise _Stopped(landed, self._stored_elsewhere(block, outcome.sequence))
                landed += 1
            if landed == len(blocks):
                break
            if landed - start == len(outcomes):  # all sent landed (one, reduced): the rest
                form = _LANDED
                continue
            outcome = outcomes[landed - start]
            try:
                resolution = await self._resolve(blocks[landed], outcome)
            except ReplicaMismatch as exc:
                raise _Stopped(landed, self._failed(exc)) from None
            except LedgerError as exc:
                raise _Stopped(landed, exc) from None
            form = resolution if resolution in (_UNLINKED, _UNIDENTIFIED) else _LANDED
            if resolution == _LANDED:
                landed += 1
            elif resolution == _RETRY:
                if loop.time() >= deadline:
                    raise _Stopped(
                        landed,
                        ReplicationUnavailable(
                            f"stream {self.stream}: block {blocks[landed].sequence_no} was "
                            f"not acknowledged within {self._timeout:g}s ({_describe(outcome)}); "
                            "it may still be stored: catch up to see"
                        ),
                    )
                await asyncio.sleep(next(pauses))
        return landed

    async def _resolve(self, block: Block, outcome: Outcome) -> str:
        """Why ``block`` was not acknowledged, and what to do.

        No answer (or no stream leader, an election): send it again. That is safe even if
        the first copy was stored after all: the copy is refused (its position is taken)
        or recognised as a duplicate (same message id), never stored twice. A failed
        condition: ask the stream what holds the position: this very block (its answer
        was lost), another writer's (``JournalConflict``), or nothing. The same for a
        "duplicate" answer that names no position (``_staged``).
        """
        number = block.sequence_no
        if isinstance(outcome, NoAnswer) or (isinstance(outcome, Refused) and outcome.transient):
            return _RETRY
        if isinstance(outcome, Refused) and not outcome.conflict:
            raise InvalidInput(
                f"stream {self.stream} refused block {number}: {outcome.description}"
            )
        try:
            held = await self._stream_block_once(number)
            if held is not None:
                if held.block_hash == block.block_hash:
                    return _LANDED
                raise JournalConflict(
                    self.stream,
                    number,
                    f"the stream holds block hash {held.block_hash.hex()[:16]}… there",
                )
            previous = await self._stream_block_once(number - 1) if number else None
        except LedgerError:
            raise
        except Exception as exc:
            if is_closed(exc):
                raise closed_error(self.stream, exc) from None
            return _RETRY
        if number and previous is None:
            # Our predecessor was acknowledged, yet the stream does not hold it: a leader
            # elected a moment ago may not have applied all it holds yet (seen when a
            # partitioned server rejoined), or it never got it (a stale replica elected):
            # put back what the copy holds beyond the stream's tip, then send again.
            if not self._restoring.locked():  # (a restore's own sends just wait for it)
                await self._restore_below(number)
            return _RETRY
        if number and previous.block_hash != block.previous_block_hash:
            raise ReplicaMismatch(
                self.stream,
                number - 1,
                "the stream holds another block here than the local copy",
            )
        # The position is free and follows our block's predecessor, yet the condition
        # failed: a leader restored from a snapshot forgets the last message id. With the
        # predecessor checked by hand, one block goes by position alone.
        if isinstance(outcome, Stored):  # the leader holds our message id from a lost send
            return _UNIDENTIFIED
        return _UNLINKED if outcome.err_code == WRONG_LAST_MSG_ID else _RETRY

    async def _restore_below(self, number: int) -> None:
        """Restore the stream if it holds fewer than ``number`` blocks (no answer: the
        append's retry asks again)."""
        try:
            last, _ = await self._reader.last_sequence()
        except LedgerError:
            raise
        except Exception as exc:
            if is_closed(exc):
                raise closed_error(self.stream, exc) from None
            return
        if last < number:
            await self._restore(last)

    async def _restore(self, stream_blocks: int) -> None:
        """Put back into the stream the copy's blocks beyond its ``stream_blocks`` blocks.

        Only ever called with blocks this process saw acknowledged or read from the
        stream (the copy was checked to be a prefix of the stream at open), or that a
        previous process on this marked copy did (``_fell_back_while_down``), so they
        were in the stream once: the stream lost them. They go back under the append's
        conditions: position and predecessor hash, and a position found taken by the very
        same block (another process restoring too, or a leader that had them after all)
        counts as put back. A *different* block at a position is a fork that cannot be
        mended here: the journal stops with ``ReplicaMismatch`` naming it.
        """
        async with self._restoring:
            held = self._head.sequence_no
            stream_blocks, agrees = await self._stream_tip()
            if stream_blocks >= held:
                return  # restored meanwhile (by us or another process), or caught up
            if not agrees:
                raise self._failed(
                    ReplicaMismatch(
                        self.stream,
                        stream_blocks - 1,
                        f"the stream fell back to {stream_blocks} blocks and holds another "
                        "block here than the local copy, which holds "
                        f"{held}: it cannot be restored from this copy",
                    )
                )
            log.error(
                "stream %s holds %d blocks, but %d were acknowledged: its leader lost "
                "blocks %d to %d; putting them back from the verified local copy",
                self.stream,
                stream_blocks,
                held,
                stream_blocks,
                held - 1,
            )
            await self.wait_for(held - 1, self._timeout)  # durable in the copy: readable
            for start in range(stream_blocks, held, MAX_BATCH_BLOCKS):
                blocks = await self._local.read_range(start, min(held, start + MAX_BATCH_BLOCKS))
                try:
                    await self._publish(blocks)
                except _Stopped as stopped:
                    if isinstance(stopped.error, JournalConflict):
                        raise self._failed(
                            ReplicaMismatch(
                                self.stream,
                                stopped.error.sequence_no,
                                "another block took this position while the stream was "
                                f"being restored from the local copy ({stopped.error.detail})",
                            )
                        ) from None
                    raise stopped.error from None
                self.restored += len(blocks)
            log.warning(
                "stream %s: blocks %d to %d put back; it holds %d blocks again",
                self.stream,
                stream_blocks,
                held - 1,
                held,
            )

    async def _stream_tip(self) -> tuple[int, bool]:
        """The stream's block count and whether its last block is the copy's (an empty
        stream agrees), when the copy holds more blocks than the stream.

        Count and block are two questions; a stream leader elected between them can
        answer the second from a shorter stream (seen in `make chaos`: 63 blocks, then
        block 62 not found on a leader holding 36). A last block no longer there is that,
        not a fork: ask both again, within the timeout."""
        loop = asyncio.get_running_loop()
        deadline, pauses = loop.time() + self._timeout, _pauses()
        while True:
            stream_blocks, _ = await self._retrying(self._reader.last_sequence)
            if not stream_blocks or stream_blocks >= self._head.sequence_no:
                return stream_blocks, True
            try:
                theirs = await self._stream_block(stream_blocks - 1)
            except ReplicaMismatch:
                return stream_blocks, False
            if theirs is not None:
                ours = await self._local.read(stream_blocks - 1)
                return stream_blocks, theirs.block_hash == ours.block_hash
            if loop.time() >= deadline:
                raise ReplicationUnavailable(
                    f"stream {self.stream}: its block count kept falling below the blocks "
                    f"it answered with for {self._timeout:g}s"
                )
            await asyncio.sleep(next(pauses))

    async def _stream_block_once(self, sequence_no: int) -> Block | None:
        data = await self._reader.message_at(sequence_no + 1)
        return None if data is None else self._verified(sequence_no + 1, data)

    def _stored_elsewhere(self, block: Block, sequence: int) -> ReplicaMismatch:
        return self._failed(
            ReplicaMismatch(
                self.stream,
                block.sequence_no,
                f"JetStream stored the block as message {sequence}, not "
                f"{block.sequence_no + 1}: the stream is not laid out as a journal",
            )
        )

    # ---- failing and closing -------------------------------------------------------------

    def _failed(self, exc: BaseException) -> LedgerError:
        """Stop taking appends: the copy or the stream is not what it should be."""
        error = exc if isinstance(exc, LedgerError) else closed_error(self.stream, exc)
        self._failure = self._failure or error
        return error

    def _check_usable(self) -> None:
        if self._closing:
            raise LedgerClosed(f"replicated journal {self.stream} is closed")
        if self._failure is not None:
            raise LedgerClosed(f"replicated journal {self.stream} stopped: {self._failure}")

    async def _retrying(self, operation: Callable[[], Awaitable[T]]) -> T:
        """``operation`` until it answers, for up to ``timeout`` seconds of transient failures."""
        loop = asyncio.get_running_loop()
        deadline, pauses = loop.time() + self._timeout, _pauses()
        while True:
            try:
                return await operation()
            except LedgerError:
                raise
            except Exception as exc:
                if is_closed(exc):
                    raise closed_error(self.stream, exc) from None
                if loop.time() >= deadline:
                    raise ReplicationUnavailable(
                        f"stream {self.stream}: no answer within {self._timeout:g}s "
                        f"({type(exc).__name__}: {exc})"
                    ) from None
            await asyncio.sleep(next(pauses))

    async def close(self) -> None:
        """Finish the queued appends, stop following, close the copy and the connection."""
        if self._closing:
            return
        self._closing = True
        self._wake.set()
        if self._appender is not None:
            await self._appender
        if self._follower is not None:
            self._follower.cancel()
            await asyncio.gather(self._follower, return_exceptions=True)
        try:
            await self._reader.drop()
            await self._connection.close()
        finally:
            await self._local.close()
            self._tips.fail(LedgerClosed(f"replicated journal {self.stream} is closed"))


def _pauses() -> Any:
    """Pauses between tries: short at first, then half a second (an election ends
    without notice: whoever asks first after it is served first)."""
    return itertools.chain(RETRY_PAUSES, itertools.repeat(RETRY_PAUSES[-1]))


def _reduced(sent: tuple[bytes, dict[str, str]], form: str) -> tuple[bytes, dict[str, str]]:
    """A block's message with fewer conditions, once its predecessor was checked by hand:
    ``_UNLINKED`` drops the predecessor's message id; ``_UNIDENTIFIED`` drops its own
    message id too, which the leader would take for a duplicate. Its position stays a
    condition, so it still lands at its place or nowhere."""
    data, headers = sent
    dropped = {EXPECTED_LAST_MSG_ID} | ({MSG_ID} if form == _UNIDENTIFIED else set())
    return data, {key: value for key, value in headers.items() if key not in dropped}


def _staged(outcome: Stored) -> bool:
    """A "duplicate" answer that names no position: the leader staged this message id for
    a send it has not stored (nats-server stages an id at sequence 0 until the message is
    applied; a send lost in an election leaves it staged for the duplicate window). It
    proves nothing about where the block is."""
    return outcome.duplicate and outcome.sequence == 0


def _describe(outcome: Outcome) -> str:
    if isinstance(outcome, Refused):
        return f"refused: {outcome.description}"
    if isinstance(outcome, NoAnswer):
        return f"no answer: {outcome.reason}"
    return "answered as a duplicate of a send not stored" if _staged(outcome) else "stored"


def _for_caller(error: LedgerError, appended: list[BlockAddress]) -> LedgerError:
    """The error one caller gets: a conflict lists that caller's blocks that did land."""
    if isinstance(error, JournalConflict):
        return JournalConflict(error.stream, error.sequence_no, error.detail, appended=appended)
    return error
