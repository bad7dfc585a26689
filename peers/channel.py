"""A channel this peer has joined: its ledger, the block puller that feeds it from the
ordering service, and the notifications that commit status and events wait on.

A block the ledger fails to store or apply (a full disk, an I/O error) halts the
channel rather than ending the puller: the failure is logged once and reported
(``halted``: the ``/healthz`` check, a metric, UNAVAILABLE from the gateway and endorser),
and the same block is tried again with a bounded backoff, each time after
``Ledger.reopen`` has put the stores back as a restart would. The channel resumes by
itself once the write succeeds. Commit-status waiters keep waiting meanwhile: nothing is
announced that the ledger does not hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

import grpc
import lmdb
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2_grpc

from ledgerdb.errors import LedgerError
from peers.committer import BlockRejected, CommittedBlock, commit_block
from peers.errors import BlockNotAvailable, PeerError
from peers.ledger import Ledger, transactions_filter
from peers.tracestore import Tracer, no_trace
from peers.validation import TxVerdict
from proto import keepalive
from proto.credentials import TlsIdentity, channel_credentials
from proto.envelope import parse_block
from proto.seek import FOREVER, NEWEST, SeekError, build_seek_envelope
from proto.signer import Signer
from proto.tracing import Step

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0
RECENT_BLOCKS = 8
"""Committed blocks a channel keeps in memory for its readers. Live followers (the events
bridge, the explorer, analytics, chaincode-event streams) each ask for the block just
committed; serving it from memory spares every one of them a worker-thread hop, a journal
read and a parse of the whole block (issue 19). Older blocks come from the journal."""
STALL_SECONDS = 5.0
"""An orderer that sent no block for this long is compared with the others: one that is
alive but behind (its copy of a replicated journal stuck, say) is left for one ahead."""
ASK_SECONDS = 2.0
HALT_RETRY_FIRST = 0.25
HALT_RETRY_MOST = 2.0
"""A halted channel retries its block after HALT_RETRY_FIRST seconds, doubling up to
HALT_RETRY_MOST: room that comes back is used within two seconds, and a disk that stays
full costs a reopen of the ledger every two seconds."""


def _pauses() -> Iterator[float]:
    delay = HALT_RETRY_FIRST
    while True:
        yield delay
        delay = min(delay * 2, HALT_RETRY_MOST)


@dataclass(frozen=True)
class Halt:
    """Why a channel stopped committing: the block it keeps trying and the first error."""

    block: int
    error: str
    since: float  # time.monotonic()

    def sentence(self, channel_id: str) -> str:
        return (
            f"channel {channel_id} is unavailable on this peer: committing block "
            f"{self.block} failed ({self.error}); retrying"
        )


@dataclass(frozen=True)
class OrdererEndpoint:
    address: str
    tls_root: bytes | None = None
    hostname_override: str = ""
    client: TlsIdentity | None = None  # presented to servers that require mutual TLS

    def channel(self) -> grpc.aio.Channel:
        options = [
            ("grpc.max_receive_message_length", 100 * 1024 * 1024),
            # A node that died and came back is used again within a second or two:
            # gRPC's default backoff grows to two minutes after a few refusals.
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.min_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 2000),
            *keepalive.CLIENT_OPTIONS,  # a cut-off orderer is left in seconds
        ]
        if self.tls_root is None:
            return grpc.aio.insecure_channel(self.address, options=options)
        if self.hostname_override:
            options.append(("grpc.ssl_target_name_override", self.hostname_override))
        credentials = channel_credentials(self.tls_root, self.client)
        return grpc.aio.secure_channel(self.address, credentials, options=options)


REPLACED_GRACE_SECONDS = 30.0
"""How long a connection replaced by one with a rotated client certificate stays open,
so the calls in flight on it finish (a rotation fails no transaction)."""

_closing: set[asyncio.Task[object]] = set()


def close_later(close: Callable[[], Awaitable[object]]) -> None:
    """Close a replaced connection after ``REPLACED_GRACE_SECONDS``."""
    loop = asyncio.get_running_loop()

    def start() -> None:
        task = loop.create_task(close())
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    loop.call_later(REPLACED_GRACE_SECONDS, start)


class PeerChannel:
    """Commits blocks from the orderer into the ledger and tells waiters about them."""

    def __init__(
        self, channel_id: str, ledger: Ledger, signer: Signer, trace: Tracer = no_trace
    ) -> None:
        self.channel_id = channel_id
        self.trace = trace
        self.ledger = ledger
        self.signer = signer
        self._committed = asyncio.Condition()
        self._recent: dict[int, common_pb2.Block] = {}
        """The last ``RECENT_BLOCKS`` committed blocks, as stored; read-only to readers."""
        self._tx_waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._listeners: list[Callable[[CommittedBlock], None]] = []
        self._puller: asyncio.Task[None] | None = None
        self._committing = asyncio.Lock()  # a puller is cancelled between blocks only
        self._stopped = False
        self.halted: Halt | None = None
        """Set while a block cannot be committed (see the module docstring)."""
        self.failed_commits = 0
        """Commit attempts that failed on a ledger error, ever (a metric)."""

    def unavailable(self) -> str | None:
        """The sentence refusals carry while the channel is halted, else None."""
        return None if self.halted is None else self.halted.sentence(self.channel_id)

    @property
    def height(self) -> int:
        return self.ledger.height

    def _trace_block(self, committed: CommittedBlock) -> None:
        number = committed.block.header.number
        for index, verdict in enumerate(committed.verdicts):
            if not verdict.tx_id:
                continue
            self.trace(Step.ORDER, verdict.tx_id, self.channel_id, block=number, index=index)
            self.trace(
                Step.VALIDATE,
                verdict.tx_id,
                self.channel_id,
                code=verdict.code_name,
                reason=verdict.reason,
                block=number,
            )
            private = committed.private.get(verdict.tx_id)
            self.trace(
                Step.COMMIT,
                verdict.tx_id,
                self.channel_id,
                block=number,
                applied=verdict.code == 0,
                height=number + 1,
                **({"private": private} if private else {}),
            )

    def on_commit(self, listener: Callable[[CommittedBlock], None]) -> None:
        self._listeners.append(listener)

    # -- committing --------------------------------------------------------------------

    async def commit(self, block: common_pb2.Block) -> CommittedBlock:
        """Commit the next block, halting until it commits if the ledger fails to write
        it; raise ``BlockRejected`` for a block that is not the next valid one."""
        committed = await self._commit_until_done(block)
        self._remember(committed.block)
        for announce in (self._trace_block, *self._listeners):
            try:  # the block is committed whatever a listener does: never stop here
                announce(committed)
            except Exception:
                log.exception("channel %s: after block %d", self.channel_id, self.height - 1)
        self._wake(v.tx_id for v in committed.verdicts)
        async with self._committed:
            self._committed.notify_all()
        return committed

    def _remember(self, stored: common_pb2.Block) -> None:
        number = stored.header.number
        self._recent[number] = stored
        self._recent.pop(number - RECENT_BLOCKS, None)

    async def _commit_until_done(self, block: common_pb2.Block) -> CommittedBlock:
        """Commit ``block``; after a ledger failure, reopen the ledger at once (readers
        need it) and retry after a growing pause, until the block is committed."""
        number = block.header.number
        pauses = _pauses()
        while True:
            try:
                return self._resumed(await asyncio.to_thread(commit_block, self.ledger, block))
            except BlockRejected:
                self.halted = None  # the ledger answers: the block is what is wrong
                raise
            except Exception as exc:
                self._halt(number, exc)
            done = await self._reopen_until_open(number, pauses)
            if done is not None:  # recovery finished the commit from the block store
                return self._resumed(done)
            await self._pause(pauses)

    async def _reopen_until_open(
        self, number: int, pauses: Iterator[float]
    ) -> CommittedBlock | None:
        while True:
            try:
                return await asyncio.to_thread(self._reopen, number)
            except Exception as exc:  # opening writes too: it fails while the disk is full
                self._halt(number, exc)
            await self._pause(pauses)

    async def _pause(self, pauses: Iterator[float]) -> None:
        """The pause before the next attempt; a channel being closed stops retrying (its
        close waits for the block being committed, which would otherwise never end)."""
        self._raise_if_stopped()
        await asyncio.sleep(next(pauses))
        self._raise_if_stopped()

    def _raise_if_stopped(self) -> None:
        if self._stopped:
            raise asyncio.CancelledError(f"channel {self.channel_id} stopped while halted")

    def _resumed(self, committed: CommittedBlock) -> CommittedBlock:
        if self.halted is not None:
            log.warning(
                "channel %s resumed: block %d committed after %.1f s halted",
                self.channel_id,
                self.halted.block,
                time.monotonic() - self.halted.since,
            )
            self.halted = None
        return committed

    def _halt(self, number: int, exc: Exception) -> None:
        """Record a failed attempt; the first of a halt is logged (with the traceback if
        it is not a storage error), the others only at DEBUG."""
        self.failed_commits += 1
        error = f"{type(exc).__name__}: {exc}"
        if self.halted is not None:
            log.debug("channel %s: block %d still fails: %s", self.channel_id, number, error)
            return
        self.halted = Halt(number, error, time.monotonic())
        storage = isinstance(exc, PeerError | LedgerError | lmdb.Error | OSError)
        log.error("%s", self.halted.sentence(self.channel_id), exc_info=not storage)

    def _reopen(self, number: int) -> CommittedBlock | None:
        """Reopen the ledger; the block as committed if recovery finished it (it was
        stored before the failure), else None (commit it again). Runs in a worker thread:
        reopening a journal scans its open segment (tens of milliseconds, see
        tests/bench/bench_ledger_reopen.py), too long to hold the event loop; a reader of
        the failed journal meanwhile gets its LedgerClosed, as during the whole halt."""
        self.ledger.reopen()
        if self.ledger.height <= number:
            return None
        return _committed_from_store(self.ledger.read_block(number))

    def start_pulling(self, orderers: list[OrdererEndpoint]) -> None:
        self._puller = asyncio.create_task(self._pull(orderers), name=f"pull:{self.channel_id}")

    async def _pull(self, orderers: list[OrdererEndpoint]) -> None:
        """Follow the channel on the ordering service forever, resuming at our height on
        the next orderer after an error, or on one that is ahead of a silent one."""
        attempt = 0
        while not self._stopped:
            endpoint = orderers[attempt % len(orderers)]
            attempt += 1
            try:
                ahead = await self._pull_while_current(endpoint, orderers)
                if ahead is not None:
                    log.warning(
                        "channel %s: orderer %s sent no block for %gs while %s has more; "
                        "pulling from %s at height %d",
                        self.channel_id,
                        endpoint.address,
                        STALL_SECONDS,
                        ahead.address,
                        ahead.address,
                        self.height,
                    )
                    attempt = orderers.index(ahead)
                    continue
            except (grpc.aio.AioRpcError, BlockRejected, OSError) as exc:
                log.warning(
                    "channel %s: deliver from %s: %s", self.channel_id, endpoint.address, exc
                )
            except Exception:  # the follower must outlive whatever went wrong
                log.exception("channel %s: deliver from %s", self.channel_id, endpoint.address)
            if not self._stopped:
                await asyncio.sleep(RETRY_SECONDS)

    async def _pull_while_current(
        self, endpoint: OrdererEndpoint, orderers: list[OrdererEndpoint]
    ) -> OrdererEndpoint | None:
        """Pull from ``endpoint`` until its stream ends (None), or until it sent nothing
        for ``STALL_SECONDS`` while another orderer holds a block we lack (that one)."""
        pulling = asyncio.create_task(self._pull_from(endpoint))
        others = [o for o in orderers if o is not endpoint]
        try:
            while True:
                height = self.height
                done, _ = await asyncio.wait({pulling}, timeout=STALL_SECONDS)
                if done:
                    pulling.result()
                    return None
                if self.height == height and others and self.halted is None:
                    ahead = await self._orderer_ahead(others)
                    if ahead is not None:
                        return ahead
        finally:
            async with self._committing:  # never in the middle of committing a block
                pulling.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pulling

    async def _orderer_ahead(self, others: list[OrdererEndpoint]) -> OrdererEndpoint | None:
        """The first of ``others`` whose newest block is one we lack (asked once each;
        one that does not answer in ``ASK_SECONDS`` is skipped)."""
        for endpoint in others:
            seek = build_seek_envelope(
                self.signer, self.channel_id, NEWEST, NEWEST, fail_if_not_ready=True
            )
            try:
                async with endpoint.channel() as channel:
                    stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
                    async with asyncio.timeout(ASK_SECONDS):
                        async for response in stub.Deliver(iter([seek])):
                            if response.WhichOneof("Type") != "block":
                                break
                            if response.block.header.number >= self.height:
                                return endpoint
            except (grpc.aio.AioRpcError, OSError, TimeoutError):
                continue
        return None

    async def _pull_from(self, endpoint: OrdererEndpoint) -> None:
        seek = build_seek_envelope(self.signer, self.channel_id, self.height, FOREVER)
        async with endpoint.channel() as channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
            async for response in stub.Deliver(iter([seek])):
                if response.WhichOneof("Type") != "block":
                    log.warning(
                        "channel %s: orderer answered status %s",
                        self.channel_id,
                        common_pb2.Status.Name(response.status),
                    )
                    return
                if response.block.header.number < self.height:
                    continue
                async with self._committing:
                    committed = await self.commit(response.block)
                invalid = sum(1 for v in committed.verdicts if v.code != 0)
                log.info(
                    "channel %s: committed block %d (%d txs, %d invalid)",
                    self.channel_id,
                    response.block.header.number,
                    len(committed.verdicts),
                    invalid,
                )

    # -- waiting -----------------------------------------------------------------------

    async def wait_for_height(self, height: int) -> None:
        async with self._committed:
            await self._committed.wait_for(lambda: self.height >= height or self._stopped)

    async def wait_for_transaction(self, tx_id: str) -> tuple[int, int, int]:
        """(block, tx number, validation code) once ``tx_id`` is committed.

        Each waiter waits on its own transaction id and is woken only by the block that
        holds it (with fifty commit-status calls waiting, waking all of them for every
        block and having each look itself up cost more than the commit-status calls).
        """
        found = self._lookup(tx_id)
        if found is None and not self._stopped:
            future = asyncio.get_running_loop().create_future()
            waiters = self._tx_waiters.setdefault(tx_id, [])
            waiters.append(future)
            try:
                await future
            finally:
                waiters.remove(future)
                if not waiters and self._tx_waiters.get(tx_id) is waiters:
                    del self._tx_waiters[tx_id]
            if self._stopped:  # the ledger is closed
                raise asyncio.CancelledError(f"channel {self.channel_id} stopped")
            found = self._lookup(tx_id)
        if found is None:
            raise asyncio.CancelledError(f"channel {self.channel_id} stopped")
        return found

    def _lookup(self, tx_id: str) -> tuple[int, int, int] | None:
        """A committed transaction, or None — also while a halted ledger cannot answer:
        the caller then waits for the block, as for one not committed yet."""
        try:
            return self.ledger.state.transaction(tx_id)
        except lmdb.Error:
            return None

    def _wake(self, tx_ids: Iterable[str]) -> None:
        for tx_id in tx_ids:
            for future in self._tx_waiters.get(tx_id, ()):
                if not future.done():
                    future.set_result(None)

    async def blocks(self, start: int, stop: int) -> AsyncIterator[common_pb2.Block]:
        """Committed blocks ``start``..``stop``, waiting for those not committed yet."""
        number = start
        while number <= stop and not self._stopped:
            if number >= self.height:
                await self.wait_for_height(number + 1)
                continue
            block = self._recent.get(number)
            if block is None:
                try:
                    block = await asyncio.to_thread(self.ledger.read_block, number)
                except BlockNotAvailable as exc:  # before the snapshot the peer joined from
                    raise SeekError(common_pb2.NOT_FOUND, str(exc)) from None
            yield block
            number += 1

    async def _stop_puller(self) -> None:
        """Stop following; the puller leaves between blocks, never inside a commit."""
        if self._puller is not None:
            self._puller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._puller

    async def pull_again(self, orderers: list[OrdererEndpoint]) -> None:
        """Follow the channel on ``orderers`` from now on, at our height: after the
        peer's TLS client certificate was rotated, the stream is opened again with it."""
        await self._stop_puller()
        if not self._stopped:
            self.start_pulling(orderers)

    async def close(self) -> None:
        self._stopped = True
        await self._stop_puller()
        self._wake(list(self._tx_waiters))
        async with self._committed:
            self._committed.notify_all()
        self.ledger.close()


def _committed_from_store(block: common_pb2.Block) -> CommittedBlock:
    """A stored block as the committer would have reported it: the codes it records."""
    codes = transactions_filter(block)
    txs = parse_block(block)
    verdicts = [TxVerdict(tx.tx_id, codes[n]) for n, tx in enumerate(txs)]
    return CommittedBlock(block, verdicts, txs=txs)
