"""The blocks of every channel, followed live over a peer's Deliver as a member's user.

Each block is stored as it arrives in the explorer's block store (``store``: on disk,
with the txid and key-writer indexes) and decoded again when a page asks, through a
small cache of decoded blocks, so memory stays bounded on a channel of any length.
Pages open a subscription and are told of each new block and each newly followed
channel (server-sent events). A peer that is down is retried with backoff
(``network.mqtt.deliver.follow_blocks``) while the explorer keeps serving what it has,
and the channel is shown as not following.

Channels are taken from the config as ``up`` and ``channel add-member`` last wrote it
(``config.LiveConfig``): a channel created, or joined by one of our members, after the
explorer started is followed from then on, without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from fabric_protos.common import common_pb2

from network.explorer.blocks import BlockView, TxView, block_view
from network.explorer.config import ExplorerConfig, ExplorerConfigError, LiveConfig
from network.explorer.store import BlockStore, Place
from network.gateway_client import GatewayClientError
from network.mqtt.deliver import follow_blocks
from proto.blockhash import block_header_hash

__all__ = ["Event", "Ledger", "Place"]

log = logging.getLogger(__name__)
QUEUE_SIZE = 256  # a page that reads slower than blocks arrive misses some, not the server
CACHE_BLOCKS = 256  # decoded blocks kept: five pages of the block list
WATCH_SECONDS = 1.0  # how often the config is looked at for new channels
Event = tuple[str, dict[str, Any]]  # (server-sent event name, its JSON data)


class Ledger:
    """Every channel's blocks (in the store), a cache of decoded ones and live subscribers."""

    def __init__(self, config: ExplorerConfig, store: BlockStore | None = None) -> None:
        self.live = LiveConfig(config)
        if store is None:
            folder = config.file.parent / "store" if config.file else None
            store = BlockStore(folder) if folder else BlockStore.temporary()
        self.store = store
        self.following: dict[str, str] = {}
        self._cache: OrderedDict[tuple[str, int], BlockView] = OrderedDict()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._readers: dict[str, str] = {}  # channel → the member whose user follows it
        self._subscribers: set[asyncio.Queue[Event]] = set()

    @property
    def config(self) -> ExplorerConfig:
        return self.live.current()

    async def watch(self) -> None:
        """Follow every channel the config names, now and as it grows (a new channel,
        or one a member of ours was added to); a follower that ended (no member of ours
        could read the channel) is started again when the config is looked at next."""
        try:
            while True:
                config = self.config
                for channel in config.channels:
                    task = self._tasks.get(channel)
                    if task is not None and self._readers.get(channel) != _reader(config, channel):
                        task.cancel()  # its member left the channel, or a better one came
                    if task is None or task.done():
                        if task is None:
                            self._publish(("channel", {"channel": channel}))
                        self._tasks[channel] = asyncio.create_task(self.follow(channel))
                await asyncio.sleep(WATCH_SECONDS)
        finally:
            for task in self._tasks.values():
                task.cancel()

    async def follow(self, channel: str) -> None:
        """Append ``channel``'s blocks as the reading member's peer delivers them; a
        channel no member of ours can read is shown as such, not followed."""
        config = self.config
        self._readers[channel] = _reader(config, channel)
        try:
            member = config.reader_of(channel)
            client = config.client(member)
        except (ExplorerConfigError, GatewayClientError, OSError, ValueError, KeyError) as exc:
            reason = f"not followed: {exc}"
            if self.following.get(channel) != reason:
                log.warning("channel %s is not followed: %s", channel, exc)
            self.following[channel] = reason
            return
        try:
            self.following[channel] = f"following as {member}"
            height = self.store.height(channel)
            async for block in follow_blocks(client, channel, max(0, height - 1)):
                if block.header.number == height - 1 and not self._agrees(channel, block):
                    return  # forgotten: the watcher follows the channel again from block 0
                self.add(channel, block)
        finally:
            await client.close()

    def _agrees(self, channel: str, block: common_pb2.Block) -> bool:
        """Whether the peer's block is the one stored under its number (the follower asks
        for the last stored block again first); if not, the channel was made again in
        this folder, and what the store holds of it is forgotten."""
        stored = self.block(channel, block.header.number)
        if stored is not None and stored.header_hash == block_header_hash(block.header).hex():
            return True
        log.warning(
            "channel %s: the peer's block %d differs from the stored one; reading the "
            "channel again from block 0",
            channel,
            block.header.number,
        )
        self.store.forget(channel)
        for key in [key for key in self._cache if key[0] == channel]:
            del self._cache[key]
        return False

    def add(self, channel: str, block: common_pb2.Block) -> BlockView:
        """Store the channel's next block (a block out of order or seen before is not
        stored again) and tell the subscribers."""
        number = block.header.number
        if number != self.store.height(channel):
            return self.block(channel, number) or block_view(channel, block)
        view = block_view(channel, block)
        txids = [(tx.index, tx.txid) for tx in view.txs if tx.txid]
        writes = [(tx.index, key) for tx in view.txs if tx.code == "VALID" for key in tx.writes]
        if not self.store.append(channel, number, block.SerializeToString(), txids, writes):
            return view
        self._remember(view)
        self._publish(("block", view.summary()))
        return view

    def _publish(self, event: Event) -> None:
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    def _remember(self, view: BlockView) -> None:
        self._cache[(view.channel, view.number)] = view
        self._cache.move_to_end((view.channel, view.number))
        while len(self._cache) > CACHE_BLOCKS:
            self._cache.popitem(last=False)

    def block(self, channel: str, number: int) -> BlockView | None:
        view = self._cache.get((channel, number))
        if view is not None:
            self._cache.move_to_end((channel, number))
            return view
        raw = self.store.block(channel, number) if number >= 0 else None
        if raw is None:
            return None
        view = block_view(channel, common_pb2.Block.FromString(raw))
        self._remember(view)
        return view

    def newest_first(self, channel: str, before: int, count: int) -> list[BlockView]:
        """Up to ``count`` blocks below number ``before``, newest first (a page)."""
        top = min(before, self.height(channel))
        numbers = range(top - 1, max(0, top - count) - 1, -1)
        return [view for n in numbers if (view := self.block(channel, n)) is not None]

    def height(self, channel: str) -> int:
        return self.store.height(channel)

    def find(self, txid: str) -> tuple[BlockView, TxView] | None:
        place = self.store.place(txid)
        view = self.block(place.channel, place.block) if place else None
        if place is None or view is None:
            return None
        return view, view.txs[place.index]

    def last_writer(self, channel: str, key: str, before: Place) -> tuple[int, TxView] | None:
        """The last VALID transaction before ``before`` that wrote ``key`` (for an MVCC
        conflict: who changed what the transaction had read)."""
        found = self.store.last_writer(channel, key, before)
        view = self.block(channel, found[0]) if found else None
        if found is None or view is None:
            return None
        return found[0], view.txs[found[1]]

    @contextlib.contextmanager
    def subscription(self) -> Iterator[asyncio.Queue[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)


def _reader(config: ExplorerConfig, channel: str) -> str:
    try:
        return config.reader_of(channel)
    except ExplorerConfigError:
        return ""
