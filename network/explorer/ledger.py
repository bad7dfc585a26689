"""The blocks of every channel, followed live over a peer's Deliver as a member's user.

Each block is decoded once (``blocks.block_view``) and kept in memory with an index from
txid to its place, so a transaction page needs no ledger scan; pages open a subscription
and are told of each new block as it is appended (server-sent events). A peer that is
down is retried with backoff (``network.mqtt.deliver.follow_blocks``) while the explorer
keeps serving what it has, and the channel is shown as not following.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from fabric_protos.common import common_pb2

from network.explorer.blocks import BlockView, TxView, block_view
from network.explorer.config import ExplorerConfig, ExplorerConfigError
from network.gateway_client import GatewayClient
from network.mqtt.deliver import follow_blocks

log = logging.getLogger(__name__)
QUEUE_SIZE = 256  # a page that reads slower than blocks arrive misses some, not the server


@dataclass(frozen=True)
class Place:
    channel: str
    block: int
    index: int


class Ledger:
    """Every channel's blocks as decoded views, the txid index and live subscribers."""

    def __init__(self, config: ExplorerConfig) -> None:
        self.config = config
        self.blocks: dict[str, list[BlockView]] = {channel: [] for channel in config.channels}
        self.places: dict[str, Place] = {}
        self.arrived: dict[tuple[str, int], float] = {}  # when each block reached us
        self.following: dict[str, str] = {channel: "starting" for channel in config.channels}
        self._subscribers: set[asyncio.Queue[BlockView]] = set()

    async def follow(self, channel: str) -> None:
        """Append ``channel``'s blocks as the reading member's peer delivers them; a
        channel no member of ours can read is shown as such, not followed."""
        try:
            member = self.config.reader_of(channel)
            client = GatewayClient.from_connection(self.config.connection(member), "user1")
        except (ExplorerConfigError, OSError, ValueError, KeyError) as exc:
            self.following[channel] = f"not followed: {exc}"
            log.warning("channel %s is not followed: %s", channel, exc)
            return
        try:
            start = len(self.blocks[channel])
            self.following[channel] = f"following as {member}"
            async for block in follow_blocks(client, channel, start):
                self.add(channel, block)
        finally:
            await client.close()

    def add(self, channel: str, block: common_pb2.Block) -> BlockView:
        view = block_view(channel, block)
        chain = self.blocks.setdefault(channel, [])
        if view.number != len(chain):  # never twice, never out of order
            return chain[view.number] if view.number < len(chain) else view
        chain.append(view)
        self.arrived[(channel, view.number)] = time.time()
        for tx in view.txs:
            if tx.txid and tx.txid not in self.places:  # a duplicate txid keeps the first
                self.places[tx.txid] = Place(channel, view.number, tx.index)
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(view)
        return view

    def block(self, channel: str, number: int) -> BlockView | None:
        chain = self.blocks.get(channel, [])
        return chain[number] if 0 <= number < len(chain) else None

    def height(self, channel: str) -> int:
        return len(self.blocks.get(channel, []))

    def find(self, txid: str) -> tuple[BlockView, TxView] | None:
        place = self.places.get(txid)
        if place is None:
            return None
        view = self.blocks[place.channel][place.block]
        return view, view.txs[place.index]

    def last_writer(self, channel: str, key: str, before: Place) -> tuple[int, TxView] | None:
        """The last VALID transaction before ``before`` that wrote ``key`` (for an MVCC
        conflict: who changed what the transaction had read)."""
        for view in reversed(self.blocks.get(channel, [])[: before.block + 1]):
            for tx in reversed(view.txs):
                if view.number == before.block and tx.index >= before.index:
                    continue
                if tx.code == "VALID" and key in tx.writes:
                    return view.number, tx
        return None

    @contextlib.contextmanager
    def subscription(self) -> Iterator[asyncio.Queue[BlockView]]:
        queue: asyncio.Queue[BlockView] = asyncio.Queue(QUEUE_SIZE)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
