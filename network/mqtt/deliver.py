"""Blocks from a peer's ``Deliver`` service, followed for as long as the bridge runs.

The bridge reads as a client identity of a member, over the peer's TLS, through the same
gateway connection a Fabric client uses. A dropped stream, a restarted peer or a channel
the peer has not joined yet is retried with backoff from the next block not yet seen, so
the caller gets each block once and in order.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2, events_pb2_grpc

from network.gateway_client import GatewayClient
from network.mqtt.errors import EventsError
from network.mqtt.retry import Backoff
from proto.seek import FOREVER, build_seek_envelope

log = logging.getLogger(__name__)


class DeliverRefused(EventsError):
    """The peer answered the seek with a status instead of blocks (FORBIDDEN, NOT_FOUND…)."""


async def _stream(
    client: GatewayClient, channel: str, start: int | str, private_data: bool
) -> AsyncIterator[Any]:
    """The peer's answers: blocks (``Deliver``), or blocks with the private data the
    identity's organization may read (``DeliverWithPrivateData``)."""
    seek = build_seek_envelope(client.signer, channel, start, FOREVER)
    stub = events_pb2_grpc.DeliverStub(client.channel)
    rpc = stub.DeliverWithPrivateData if private_data else stub.Deliver
    wanted = "block_and_private_data" if private_data else "block"
    async for response in rpc(iter([seek])):
        if response.WhichOneof("Type") == wanted:
            yield getattr(response, wanted)
        else:
            status = common_pb2.Status.Name(response.status)
            raise DeliverRefused(f"channel {channel}: the peer answered {status}")


async def follow_blocks(
    client: GatewayClient, channel: str, start: int | str, backoff: Backoff | None = None
) -> AsyncIterator[common_pb2.Block]:
    """Blocks ``start``, ``start + 1``, … (``start`` may be ``"newest"``) forever."""
    async for block in _follow(client, channel, start, backoff, private_data=False):
        yield block


async def follow_blocks_with_private_data(
    client: GatewayClient, channel: str, start: int | str, backoff: Backoff | None = None
) -> AsyncIterator[events_pb2.BlockAndPrivateData]:
    """As ``follow_blocks``, each block with its transactions' readable private data."""
    async for delivered in _follow(client, channel, start, backoff, private_data=True):
        yield delivered


async def _follow(
    client: GatewayClient,
    channel: str,
    start: int | str,
    backoff: Backoff | None,
    private_data: bool,
) -> AsyncIterator[Any]:
    backoff = backoff or Backoff()
    following: int | str = start
    while True:
        try:
            async for delivered in _stream(client, channel, following, private_data):
                block = delivered.block if private_data else delivered
                number = block.header.number
                if isinstance(following, int) and number < following:
                    continue  # never hand the caller a block twice
                backoff.reset()
                following = number + 1
                yield delivered
            raise DeliverRefused(f"channel {channel}: the peer ended the stream")
        except (grpc.aio.AioRpcError, DeliverRefused) as exc:
            detail = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
            delay = backoff.next_delay()
            log.warning("deliver %s from %s: %s; again in %.1fs", channel, following, detail, delay)
            await asyncio.sleep(delay)
