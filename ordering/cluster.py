"""Order (flow step 5) on an ordering cluster: any node admits, one cuts, all deliver.

An ordering cluster is several ordering service nodes (OSNs) sharing, per channel, two
JetStream streams replicated on the cluster's NATS servers:

- the channel's **ingress** (``ordering.ingress``): every OSN admits envelopes into it
  and answers Broadcast SUCCESS once JetStream acknowledged them;
- the channel's **block journal** (``ledgerdb.replicated``): the ledgerdb journal with
  its blocks in a stream and a verified local copy on every OSN, from which each OSN
  serves Deliver — so all serve the same blocks, with the same header hashes.

One OSN at a time, the holder of the channel's **cutting lease** (``ordering.lease``),
reads the ingress in order and cuts blocks exactly as a single orderer does
(``Chain``'s cutting and block making, inherited): each block's metadata records the
ingress position of its last envelope. A new cutter catches its copy up to the stream's
tip, reads that position from the newest block, and continues from the next envelope:
none is lost, duplicated or reordered. A cutter appends only while its lease holds, and
the journal's conditional append refuses a block at a position another cutter already
filled (``JournalConflict``), so even a cutter wrong about its lease cannot fork the chain:
it steps down and follows.

If JetStream loses acknowledged messages (nats-server 2.9.10 can elect a replica that
missed them as a stream's leader), both streams are mended while ordering goes on: every
node's block journal puts back the blocks its verified copy holds beyond the stream's tip
(``ledgerdb.replicated``), and the cutter fills the ingress positions it has read past
(``Ingress.mend``, checked every third of the lease), so new envelopes get positions after
the ones already cut. A new cutter first asks the other nodes how long their copies are
(``ordering.copies``) and cuts only once the stream holds that many blocks, or lets the
lease go; and each node admits again the envelopes it admitted that the ingress lost
before any cutter read them (``ordering.admissions``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import nats.errors
from fabric_protos.common import common_pb2
from nats.aio.client import Client

from ca.channelconfig import ChannelConfig
from ledgerdb.block import Payload
from ledgerdb.errors import JournalConflict, LedgerError
from ledgerdb.replicated import ReplicatedJournal
from ordering.admissions import Admissions
from ordering.blockcutter import BlockCutter
from ordering.chain import NOTHING, Chain, decode_position, fabric_block
from ordering.copies import CopyHeights
from ordering.errors import OrderingError
from ordering.ingress import READ_STALL_SECONDS, Ingress, IngressUnavailable
from ordering.lease import CuttingLease
from proto.blockhash import block_header_hash
from proto.blocksign import last_config_index
from proto.signer import Signer

log = logging.getLogger(__name__)
RETRY_SECONDS = 0.5
LOOKUP_CACHE_BLOCKS = 64


class LeaseLost(OrderingError):
    """This node's cutting lease ran out (or another node holds it): it stops cutting."""


class IngressFellBack(OrderingError):
    """The ingress fell back: the term ends once it is mended, and the next one reads it
    afresh (the old consumer may be gone with the stale leader; it waited ~20 s for
    heartbeats to notice)."""


class IngressStalled(OrderingError):
    """The cutter's ingress consumer delivered nothing for a while though the stream
    holds more (``Ingress.reading_stalled``): the term ends, and the next one reads with
    a new consumer (or another node, less loaded, takes the lease)."""


class CopiesAhead(LeaseLost):
    """Another node's copy holds blocks the stream lost, and the stream did not get them
    back within this node's lease: it lets the lease go rather than cut behind them."""


def journal_name(channel_id: str) -> str:
    """The replicated journal of a channel's blocks (``LEDGERDB_ordering-<channel>``)."""
    return "ordering-" + channel_id.replace(".", "_")


class ClusterChain(Chain):
    """One channel on one node of an ordering cluster. Create with ``ClusterChain.open``."""

    def __init__(
        self,
        channel_id: str,
        directory: Path,
        blocks: ReplicatedJournal,
        ingress: Ingress,
        lease: CuttingLease,
        signer: Signer,
        connection: Client | None = None,
    ) -> None:
        super().__init__(channel_id, directory, blocks, None, signer)  # type: ignore[arg-type]
        self.blocks: ReplicatedJournal = blocks
        self.ingress = ingress
        self.lease = lease
        self.role = "follower"
        self._leading: asyncio.Task[None] | None = None
        self.copies = (
            None
            if connection is None
            else CopyHeights(
                connection, channel_id, lease.node, self._copy_height, self.blocks.catch_up
            )
        )
        self._parsed: dict[int, common_pb2.Block] = {}  # ``_looked_up``
        # the grace is set from the config; kept envelopes are recorded in the folder
        self.admissions = Admissions(ingress, grace=0.0, directory=directory)

    # -- opening ------------------------------------------------------------------------

    @classmethod
    async def open_in_cluster(
        cls,
        channel_id: str,
        directory: Path,
        signer: Signer,
        *,
        servers: list[str],
        js,
        lease: CuttingLease,
        replicas: int,
        genesis: common_pb2.Block | None = None,
        connection: Client | None = None,
    ) -> ClusterChain:
        """Open the channel's replicated journal (its local copy in ``directory``) and
        ingress, append ``genesis`` if the journal is empty, and start following and
        competing for the lease."""
        blocks = await ReplicatedJournal.open(
            directory / "blocks",
            servers=servers,
            name=journal_name(channel_id),
            replicas=replicas,
            follow=True,
        )
        ingress = Ingress(js, channel_id, replicas)
        chain = cls(channel_id, directory, blocks, ingress, lease, signer, connection)
        try:
            await ingress.open()
            if chain.copies is not None:
                await chain.copies.answer()
            await chain._start(genesis)
        except BaseException:
            await chain.close()
            raise
        return chain

    async def _start(self, genesis: common_pb2.Block | None) -> None:
        if self.blocks.tip is None:
            first = self._genesis_to_start(genesis)
            with contextlib.suppress(JournalConflict):  # another node appended it first
                await self.blocks.append([Payload(first)])
            await self.blocks.catch_up()
        await self._resume_from_tip()
        self._tasks = [
            asyncio.create_task(self._compete(), name=f"lease:{self.channel_id}"),
            asyncio.create_task(self._watch_blocks(), name=f"blocks:{self.channel_id}"),
            asyncio.create_task(self._admit_lost(), name=f"admitted:{self.channel_id}"),
        ]

    async def _resume_from_tip(self) -> None:
        """Take the newest block of the local copy as where cutting continues."""
        tip = self.blocks.tip
        assert tip is not None
        last = await self.read_block(tip.sequence_no)
        self._next_number = tip.sequence_no + 1
        self._previous_hash = block_header_hash(last.header)
        self._last_config = last_config_index(last) if last.header.number > 0 else 0
        self._use_config(ChannelConfig.from_block(await self.read_block(self._last_config)))
        self._last_fed = decode_position(last)
        self.admissions.covered(last)
        self._positions = []
        # Long enough for a cutter that read an envelope to have put it in a block.
        self.admissions.grace = self._timeout + 3 * self.lease.seconds
        self._cancel_timer()
        self._pending_blocks = asyncio.Queue()

    # -- durable admission: into the replicated ingress ---------------------------------

    async def order(self, envelope: bytes, is_config_update: bool) -> None:
        """Return once ``envelope`` is in the channel's replicated ingress (SUCCESS)."""
        self._check_running()
        self.admissions.keep(envelope, is_config_update)
        try:
            position = await self.ingress.admit(envelope, is_config_update)
        except BaseException as exc:
            self.admissions.refused(envelope)
            if isinstance(exc, IngressUnavailable):
                raise OrderingError(str(exc)) from None
            raise
        await self.admissions.placed(envelope, position)  # on disk before SUCCESS

    @property
    def halted(self) -> str | None:
        """Why this node's journal copy stopped (a block in the stream that is not the one
        its copy holds, naming the stream and the block), or None while it follows: the
        node then neither cuts nor serves blocks past its height until an operator acts
        (``docs/architecture.md``, issue 18: a node halted on ReplicaMismatch)."""
        stopped = self.blocks.stopped
        return None if stopped is None else str(stopped)

    def _copy_height(self) -> int | None:
        """The copy's height, as other nodes ask it (None: it stopped, it cannot help)."""
        return None if self.blocks.stopped is not None else self.height

    async def _admit_lost(self) -> None:
        """Every lease: admit again the envelopes this node admitted that the ingress lost
        before a cutter read them (``Admissions``). Only with the copy at the end of the
        longest chain it can learn of: a block holding such an envelope, lost by the block
        stream and not put back yet, would otherwise have it ordered twice."""
        while not self._stopped:
            await asyncio.sleep(self.lease.seconds)
            try:
                if self.admissions.overdue() and await self._at_longest_copy():
                    await self.admissions.admit_lost(self._holds_envelope)
            except (IngressUnavailable, LedgerError, nats.errors.Error, TimeoutError) as exc:
                log.warning("channel %s: checking admitted envelopes: %s", self.channel_id, exc)

    # -- leading: cutting while the lease holds -------------------------------------------

    async def _compete(self) -> None:
        """Forever: take the lease when it is free, cut while it holds, then follow."""
        while not self._stopped:
            if not await self.lease.renew():
                await asyncio.sleep(self.lease.seconds / 3)
                continue
            log.info(
                "channel %s: cutting blocks (lease term %s)",
                self.channel_id,
                self.lease.record.term if self.lease.record else "?",
            )
            self.role = "cutter"
            try:
                await self._lead()
            except CopiesAhead as exc:
                log.warning("channel %s: %s", self.channel_id, exc)
                await self.lease.release()
                await asyncio.sleep(self.lease.seconds)  # another node may do better
            except (LeaseLost, JournalConflict, IngressFellBack, IngressStalled) as exc:
                log.warning("channel %s: stopped cutting: %s", self.channel_id, exc)
            except (IngressUnavailable, LedgerError, nats.errors.Error, TimeoutError) as exc:
                log.warning("channel %s: cutting interrupted: %s", self.channel_id, exc)
                await self.lease.release()
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                self.role = "follower"
                self._cancel_timer()

    async def _lead(self) -> None:
        """Cut from the ingress until the lease is lost; the first of the four tasks
        to end (lease renewal, ingress mending, ingress reading, block writing) ends the
        term."""
        await self._reach_longest_copy()
        await self.blocks.settle()  # what following took meanwhile is durable: the tip
        await self._resume_from_tip()
        self._cutter = BlockCutter(self._cutter.batch_size)
        tasks = [
            asyncio.create_task(self._keep_lease()),
            asyncio.create_task(self._mend_ingress()),
            asyncio.create_task(self._read_ingress()),
            asyncio.create_task(self._block_writer()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # raises what ended the term
            raise LeaseLost(f"channel {self.channel_id}: cutting ended")
        finally:
            # Seen as a follower at once: a task may take a while to end (one inside a
            # NATS request under load kept a term ending for 10 s), and its appends are
            # conditional, so nothing it still finishes can land after another cutter's.
            self.role = "follower"
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _reach_longest_copy(self) -> None:
        """Bring the copy to the stream's end, and the stream to the longest copy the
        other nodes report, before cutting: a cutter behind a copy that holds blocks the
        stream lost would cut other blocks at their positions, and halt the nodes holding
        them. Waits at most one lease (``CopiesAhead``), renewing it meanwhile."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease.seconds
        while True:
            await self.blocks.catch_up()  # puts back what this copy holds beyond the stream
            stream = await self.blocks.stream_length()
            heights = await self.copies.ask(stream) if self.copies is not None else {}
            ahead = {node: height for node, height in heights.items() if height > stream}
            if not ahead:
                if stream > self.height:  # more came meanwhile
                    await self.blocks.catch_up()
                return
            if loop.time() >= deadline:
                raise CopiesAhead(
                    f"the stream holds {stream} blocks, the copies of "
                    + ", ".join(f"{node} {height}" for node, height in sorted(ahead.items()))
                    + f", and it was not put back within {self.lease.seconds:g}s: "
                    "letting the cutting lease go"
                )
            log.warning(
                "channel %s: the stream holds %d blocks, but %s: waiting for it to be put "
                "back before cutting",
                self.channel_id,
                stream,
                ", ".join(f"{node} holds {height}" for node, height in sorted(ahead.items())),
            )
            await asyncio.sleep(0.1)
            if not await self.lease.renew():
                raise LeaseLost(f"channel {self.channel_id}: the cutting lease was lost")

    async def _keep_lease(self) -> None:
        while True:
            await asyncio.sleep(self.lease.seconds / 3)
            if not await self.lease.renew():
                raise LeaseLost(f"channel {self.channel_id}: the cutting lease was lost")

    async def _mend_ingress(self) -> None:
        """Keep the ingress at least as long as what this term has read (it fell back if
        a stale replica became its leader: ``Ingress.mend``), and end the term if this
        term's reading stalled (``IngressStalled``)."""
        while True:
            read = self._last_fed[0]
            last = await self.ingress.last_sequence()
            if self.ingress.reading_stalled(last):
                raise IngressStalled(
                    f"channel {self.channel_id}: the ingress holds position {last}, but "
                    f"nothing after {self.ingress.delivered} reached this cutter in "
                    f"{READ_STALL_SECONDS:g}s: reading again with a new consumer"
                )
            if read > 0 and last < read:
                read = await self._write_what_was_read()
                again = await self.ingress.mend(read, self._holds_envelope)
                if again is not None:
                    raise IngressFellBack(
                        f"channel {self.channel_id}: the ingress fell back below position "
                        f"{read} and was mended ({again} envelopes admitted again)"
                    )
            await asyncio.sleep(self.lease.seconds / 3)

    async def _write_what_was_read(self) -> int:
        """Cut and write every envelope this term has read; the last position read. Before
        a mend compares the ingress with the blocks (an envelope only in the cutter's
        batch would look admitted anew, and be ordered twice), and before the term ends
        (the next one resumes after the newest block's position)."""
        self._cancel_timer()
        self._cut(self._cutter.cut())
        read = self._last_fed[0]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease.seconds
        while decode_position(await self.read_block(self.height - 1))[0] < read:
            if loop.time() >= deadline:
                raise IngressFellBack(
                    f"channel {self.channel_id}: the ingress fell back, and the blocks of "
                    f"what was read up to position {read} were not written within "
                    f"{self.lease.seconds:g}s: not mended by this term"
                )
            await asyncio.sleep(0.02)
        return read

    async def _holds_envelope(self, position: int, envelope: bytes, config_update: bool) -> bool:
        """Whether the block cut from ingress position ``position`` holds ``envelope`` (a
        config update: whether that block is a config block; it holds the new config)."""
        tip = self.blocks.tip
        low, high = 1, (tip.sequence_no if tip else 0) + 1
        while low < high:  # the first block whose last envelope is at or after position
            middle = (low + high) // 2
            if decode_position(await self._looked_up(middle))[0] < position:
                low = middle + 1
            else:
                high = middle
        if tip is None or low > tip.sequence_no:
            return False
        block = await self._looked_up(low)
        if config_update:
            return last_config_index(block) == low
        return envelope in block.data.data

    async def _looked_up(self, number: int) -> common_pb2.Block:
        """Block ``number`` of the copy, parsed, from a small cache: the lookups of many
        envelopes (a restarted node checking what it recorded) walk the same blocks, and
        a block in the copy never changes."""
        block = self._parsed.get(number)
        if block is None:
            block = self._parsed[number] = await self.read_block(number)
            if len(self._parsed) > LOOKUP_CACHE_BLOCKS:
                del self._parsed[next(iter(self._parsed))]
        return block

    async def _read_ingress(self) -> None:
        after = self._last_fed[0] if self._last_fed != NOTHING else 0
        async for admitted in self.ingress.read(after):
            if not self.lease.held():
                raise LeaseLost(f"channel {self.channel_id}: the lease ran out while reading")
            self._feed(admitted.envelope, (admitted.sequence, 0), admitted.is_config_update)

    async def _append_blocks(self, blocks: list[common_pb2.Block]) -> None:
        """The block writer's append: only while the lease holds, and conditional on the
        position (``JournalConflict`` if another cutter filled it)."""
        if not self.lease.held():
            number = blocks[0].header.number
            raise LeaseLost(f"channel {self.channel_id}: the lease ran out before block {number}")
        await self.blocks.append_at(  # block n at position n, or not at all
            blocks[0].header.number,
            [([Payload(block.SerializeToString())], None, None) for block in blocks],
        )

    async def _at_longest_copy(self) -> bool:
        """Whether this copy holds every block the stream and the other copies hold."""
        stream = await self.blocks.stream_length()
        if stream > self.height:
            return False
        heights = await self.copies.ask(stream) if self.copies is not None else {}
        return all(height <= self.height for height in heights.values())

    def _writing_failed(self, exc: Exception) -> None:
        """A lost lease or position ends this node's term (the chain goes on, followed);
        raised out of the block writer, it ends ``_lead``."""
        raise exc

    # -- following: every node's view of the channel ------------------------------------

    async def _watch_blocks(self) -> None:
        """Every block reaching this node's copy: keeps admission's config current (a
        config block another node cut reaches it through following) and forgets the
        admitted envelopes it holds."""
        number = self.height
        while not self._stopped:
            await self.blocks.wait_for(number)
            block = await self.read_block(number)
            is_config = last_config_index(block) == number
            if self.role != "cutter" and is_config:
                self._use_config(ChannelConfig.from_block(block))
                self._last_config = number
            self.admissions.ordered(block, is_config)
            number += 1

    # -- Deliver: from the local copy ---------------------------------------------------

    @property
    def height(self) -> int:
        tip = self.blocks.tip
        return 0 if tip is None else tip.sequence_no + 1

    async def wait_for(self, number: int) -> None:
        """Return once block ``number`` is in this node's copy (Deliver's BLOCK_UNTIL_READY)."""
        self._check_running()
        try:
            await self.blocks.wait_for(number)
        except LedgerError as exc:  # the copy stopped following: clients go elsewhere
            raise OrderingError(f"channel {self.channel_id}: {exc}") from None

    async def read_block(self, number: int) -> common_pb2.Block:
        stored = await self.blocks.read(number)
        return fabric_block(stored.entries[0].body)

    async def close(self) -> None:
        self._stopped = True
        if self.copies is not None:
            await self.copies.close()
        await self.lease.release()
        self._cancel_timer()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.admissions.log is not None:
            await self.admissions.log.close()
        await self.blocks.close()
