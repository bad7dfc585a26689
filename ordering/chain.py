"""Order (flow step 5), one channel on this orderer: admitted envelopes become signed
blocks in its journal.

The path of an envelope, through three phases:

- **durable admission** — ``order`` queues it; the *inbox writer* appends everything
  queued as one block of the channel's **inbox journal** (one fsync for many envelopes).
  Only then does Broadcast answer SUCCESS, so a ``kill -9`` right after SUCCESS loses
  nothing.
- **cutting** — the inbox writer feeds the envelopes, in inbox order, to the **block
  cutter**; a batch timer cuts a partial batch after ``BatchTimeout``; a config update is
  applied and goes in a block of its own.
- **block writing** — the *block writer* numbers, hashes and signs each batch as a Fabric
  block and appends it to the channel's **block journal** (a ledgerdb journal: fsync,
  hash chain, Merkle proofs). Deliver sees a block only after that append is durable.

Each block's signed consenter metadata records the inbox position of its last envelope.
On restart the chain reads it from the newest block and re-feeds every later inbox
entry, so each acknowledged envelope lands in exactly one block.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from fabric_protos.common import common_pb2, configtx_pb2

from ca.channelconfig import ChannelConfig
from ledgerdb.block import Payload
from ledgerdb.journal import AsyncJournal
from ordering.blockcutter import Batch, BatchSize, BlockCutter
from ordering.configtx import parse_duration
from ordering.configupdate import apply_update
from ordering.errors import ConfigError, OrderingError
from proto.blockhash import block_header_hash
from proto.blocksign import last_config_index, sign_block
from proto.envelope import ParsedTx, parse_envelope
from proto.messages import build_block, build_channel_header
from proto.signer import Signer
from proto.txid import compute_txid, new_nonce

log = logging.getLogger(__name__)

_POSITION = struct.Struct(">qq")  # inbox block sequence, entry index; (-1, -1) = none
NOTHING = (-1, -1)

Position = tuple[int, int]


@dataclass
class _Pending:
    """A cut batch waiting for the block writer."""

    envelopes: Batch
    position: Position
    config: ChannelConfig | None = None  # set for a config block


def encode_position(position: Position) -> bytes:
    return _POSITION.pack(*position)


def decode_position(block: common_pb2.Block) -> Position:
    """The inbox position recorded in a block's signed orderer metadata."""
    if len(block.metadata.metadata) <= common_pb2.SIGNATURES:
        return NOTHING
    raw = block.metadata.metadata[common_pb2.SIGNATURES]
    if not raw:
        return NOTHING
    value = common_pb2.Metadata.FromString(raw).value
    consenter = common_pb2.OrdererBlockMetadata.FromString(value).consenter_metadata
    return _POSITION.unpack(consenter) if len(consenter) == _POSITION.size else NOTHING


def fabric_block(entry_body: bytes) -> common_pb2.Block:
    return common_pb2.Block.FromString(entry_body)


class Chain:
    """The ordering pipeline of one channel. Create with ``Chain.open``."""

    def __init__(
        self,
        channel_id: str,
        directory: Path,
        blocks: AsyncJournal,
        inbox: AsyncJournal,
        signer: Signer,
    ) -> None:
        self.channel_id = channel_id
        self.directory = directory
        self.blocks = blocks
        self.inbox = inbox
        self.signer = signer
        self.config: ChannelConfig
        self._cutter: BlockCutter
        self._timeout = 2.0
        self._height = 0
        self._previous_hash = b""
        self._last_config = 0
        self._queue: list[tuple[bytes, bool, asyncio.Future[None]]] = []
        self._queue_ready = asyncio.Event()
        self._pending_blocks: asyncio.Queue[_Pending | None] = asyncio.Queue()
        self._new_block = asyncio.Condition()
        self._timer: asyncio.TimerHandle | None = None
        self._last_fed: Position = NOTHING
        self._positions: list[Position] = []  # of the envelopes pending in the cutter
        self._next_number = 0
        self._stopped = False
        self._tasks: list[asyncio.Task[None]] = []
        self._failure: BaseException | None = None

    # -- opening and recovery ------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        channel_id: str,
        directory: Path,
        signer: Signer,
        genesis: common_pb2.Block | None = None,
    ) -> Chain:
        """Open (or create from ``genesis``) the channel's journals and recover."""
        blocks = await AsyncJournal.open(directory / "blocks")
        inbox = await AsyncJournal.open(directory / "inbox")
        chain = cls(channel_id, directory, blocks, inbox, signer)
        try:
            await chain._recover(genesis)
        except BaseException:
            await chain.close()
            raise
        return chain

    def _genesis_to_start(self, genesis: common_pb2.Block | None) -> bytes:
        """The block a channel with no blocks starts from: its genesis (config) block."""
        if genesis is None:
            raise OrderingError(f"channel {self.channel_id} has no blocks and no genesis")
        if genesis.header.number != 0:
            raise ConfigError(
                f"join block for {self.channel_id} is block {genesis.header.number}; "
                "this orderer can only start a channel from its genesis block (0)"
            )
        ChannelConfig.from_block(genesis)  # refuse a block that is not a valid config
        return genesis.SerializeToString()

    async def _recover(self, genesis: common_pb2.Block | None) -> None:
        if self.blocks.tip is None:
            await self.blocks.append([Payload(self._genesis_to_start(genesis))])
        tip = self.blocks.tip
        assert tip is not None
        last = await self.read_block(tip.sequence_no)
        self._height = self._next_number = tip.sequence_no + 1
        self._previous_hash = block_header_hash(last.header)
        self._last_config = last_config_index(last) if last.header.number > 0 else 0
        self._use_config(ChannelConfig.from_block(await self.read_block(self._last_config)))
        self._last_fed = decode_position(last)
        self._tasks = [
            asyncio.create_task(self._inbox_writer(), name=f"inbox:{self.channel_id}"),
            asyncio.create_task(self._block_writer(), name=f"blocks:{self.channel_id}"),
        ]
        await self._replay_inbox()

    async def _replay_inbox(self) -> None:
        """Re-feed acknowledged envelopes that no block holds yet (after a crash)."""
        tip = self.inbox.tip
        if tip is None:
            return
        start = max(self._last_fed[0], 0)
        replayed = 0
        for inbox_block in await self.inbox.read_range(start, tip.sequence_no + 1):
            for index, entry in enumerate(inbox_block.entries):
                position = (inbox_block.sequence_no, index)
                if position > self._last_fed:
                    header_type = parse_envelope(entry.body).header_type
                    is_config_update = header_type == common_pb2.CONFIG_UPDATE
                    self._feed(entry.body, position, is_config_update)
                    replayed += 1
        if replayed:
            log.info("channel %s: re-ordered %d acknowledged envelopes", self.channel_id, replayed)

    def _use_config(self, config: ChannelConfig) -> None:
        self.config = config
        size = config.batch_size
        self._cutter = BlockCutter(
            BatchSize(size.max_message_count, size.absolute_max_bytes, size.preferred_max_bytes)
        )
        self._timeout = parse_duration(config.batch_timeout, "Orderer.BatchTimeout")

    # -- durable admission ---------------------------------------------------------------

    async def order(self, envelope: bytes, is_config_update: bool) -> None:
        """Return once ``envelope`` is durable in the inbox (Broadcast's SUCCESS)."""
        self._check_running()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((envelope, is_config_update, future))
        self._queue_ready.set()
        await future

    async def _inbox_writer(self) -> None:
        while True:
            await self._queue_ready.wait()
            self._queue_ready.clear()
            batch, self._queue = self._queue, []
            if not batch:
                continue
            try:
                address = await self.inbox.append([Payload(envelope) for envelope, _, _ in batch])
            except Exception as exc:  # the disk failed: nothing in this batch is acknowledged
                self._fail(exc)
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(OrderingError(f"inbox append failed: {exc}"))
                return
            for index, (envelope, is_config_update, future) in enumerate(batch):
                self._feed(envelope, (address.sequence_no, index), is_config_update)
                if not future.done():
                    future.set_result(None)

    # -- cutting ------------------------------------------------------------------------

    def _feed(self, envelope: bytes, position: Position, is_config_update: bool) -> None:
        self._last_fed = position
        if is_config_update:
            self._feed_config_update(envelope, position)
            return
        self._positions.append(position)
        batches, pending = self._cutter.ordered(envelope)
        for batch in batches:
            self._cut(batch)
        if pending and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._timeout, self._on_timeout)
        elif not pending:
            self._cancel_timer()

    def _on_timeout(self) -> None:
        self._timer = None
        self._cut(self._cutter.cut())

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _cut(self, batch: Batch) -> None:
        """Hand a batch to the block writer with the inbox position of its last envelope."""
        if not batch:
            return
        position = self._positions[len(batch) - 1]
        del self._positions[: len(batch)]
        self._pending_blocks.put_nowait(_Pending(batch, position))

    def _feed_config_update(self, envelope: bytes, position: Position) -> None:
        """A config update is applied in order and goes in a block of its own."""
        self._cancel_timer()
        self._cut(self._cutter.cut())
        parsed = parse_envelope(envelope)
        try:
            update = _config_update_of(parsed)
            new_config = apply_update(self.config, update)
        except ConfigError as exc:  # valid at admission, stale now: Fabric drops it too
            log.warning("channel %s: config update dropped at ordering: %s", self.channel_id, exc)
            return
        assert parsed.envelope is not None  # admission decoded it
        config_envelope = self._config_envelope(new_config, parsed.envelope)
        next_config = ChannelConfig.from_config(self.channel_id, new_config)
        self._use_config(next_config)
        self._pending_blocks.put_nowait(
            _Pending([config_envelope.SerializeToString()], position, next_config)
        )

    def _config_envelope(
        self, config: configtx_pb2.Config, update_envelope: common_pb2.Envelope
    ) -> common_pb2.Envelope:
        nonce = new_nonce()
        header = common_pb2.Header(
            channel_header=build_channel_header(
                common_pb2.CONFIG, self.channel_id, compute_txid(nonce, self.signer.creator)
            ).SerializeToString(),
            signature_header=common_pb2.SignatureHeader(
                creator=self.signer.creator, nonce=nonce
            ).SerializeToString(),
        )
        data = configtx_pb2.ConfigEnvelope(
            config=config, last_update=update_envelope
        ).SerializeToString()
        payload = common_pb2.Payload(header=header, data=data).SerializeToString()
        return common_pb2.Envelope(payload=payload, signature=self.signer.sign(payload))

    # -- block writing ---------------------------------------------------------------------

    async def _block_writer(self) -> None:
        while True:
            first = await self._pending_blocks.get()
            if first is None:
                return
            group = [first]
            while not self._pending_blocks.empty():
                following = self._pending_blocks.get_nowait()
                if following is None:
                    break
                group.append(following)
            blocks = [self._make_block(pending) for pending in group]
            try:
                await self._append_blocks(blocks)
            except Exception as exc:
                self._writing_failed(exc)
                return
            async with self._new_block:
                self._height += len(blocks)
                self._new_block.notify_all()

    async def _append_blocks(self, blocks: list[common_pb2.Block]) -> None:
        await self.blocks.append_many(
            [([Payload(block.SerializeToString())], None, None) for block in blocks]
        )

    def _writing_failed(self, exc: Exception) -> None:
        """The disk failed: the channel halts (nothing after this is acknowledged)."""
        self._fail(exc)

    def _make_block(self, pending: _Pending) -> common_pb2.Block:
        number = self._next_number
        block = build_block(number, self._previous_hash, pending.envelopes)
        if pending.config is not None:
            self._last_config = number
        sign_block(block, self.signer, self._last_config, encode_position(pending.position))
        self._previous_hash = block_header_hash(block.header)
        self._next_number = number + 1
        return block

    # -- Deliver ----------------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self._height

    async def read_block(self, number: int) -> common_pb2.Block:
        stored = await self.blocks.read(number)
        return fabric_block(stored.entries[0].body)

    async def wait_for(self, number: int) -> None:
        """Return once block ``number`` is durable (Deliver's BLOCK_UNTIL_READY)."""
        async with self._new_block:
            await self._new_block.wait_for(lambda: self._height > number or self._stopped)
        self._check_running()

    async def stream(self, start: int, stop: int) -> AsyncIterator[common_pb2.Block]:
        number = start
        while number <= stop:
            if number >= self.height:
                await self.wait_for(number)
            upto = min(stop + 1, self.height)
            for stored in await self.blocks.read_range(number, upto):
                yield fabric_block(stored.entries[0].body)
            number = upto

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def failure(self) -> BaseException | None:
        """The write failure that halted this channel, if one did."""
        return self._failure

    def _check_running(self) -> None:
        if self._failure is not None:
            raise OrderingError(f"channel {self.channel_id} halted: {self._failure}")
        if self._stopped:
            raise OrderingError(f"channel {self.channel_id} is stopped")

    def _fail(self, exc: BaseException) -> None:
        log.error("channel %s halted: %s", self.channel_id, exc)
        self._failure = exc

    async def close(self) -> None:
        """Stop accepting, finish what is queued, close the journals."""
        self._stopped = True
        self._cancel_timer()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        queued, self._queue = self._queue, []
        for _, _, future in queued:  # never written: not acknowledged
            if not future.done():
                future.set_exception(OrderingError(f"channel {self.channel_id} is stopped"))
        async with self._new_block:
            self._new_block.notify_all()
        await self.blocks.close()
        await self.inbox.close()


def _config_update_of(parsed: ParsedTx) -> configtx_pb2.ConfigUpdateEnvelope:
    """The update an admitted CONFIG_UPDATE envelope carries."""
    assert parsed.payload is not None  # admission decoded it
    return configtx_pb2.ConfigUpdateEnvelope.FromString(parsed.payload.data)
