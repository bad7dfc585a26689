"""Fabric's ``AtomicBroadcast`` service: Broadcast in, Deliver out.

Broadcast answers each envelope of a stream in order, but checks and orders envelopes of
one stream concurrently, so a client that pipelines many envelopes on one stream is not
held to one fsync per envelope.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2, ab_pb2_grpc

from ca.channelconfig import ChannelConfig
from ordering.chain import Chain
from ordering.errors import OrderingError
from ordering.metrics import count_broadcast
from ordering.msgprocessor import Rejected, admit, check_signed_by_policy
from proto.seek import SeekError, parse_seek_envelope, seek_blocks
from proto.server import undecoded

log = logging.getLogger(__name__)
_END = object()


PIPELINE_DEPTH = 1000  # envelopes of one Broadcast stream being ordered at once


class AtomicBroadcast(ab_pb2_grpc.AtomicBroadcastServicer):
    def __init__(self, chains: Callable[[str], Chain | None]) -> None:
        self._chains = chains

    def _config(self, channel_id: str) -> ChannelConfig | None:
        chain = self._chains(channel_id)
        return chain.config if chain is not None else None

    # -- Broadcast ------------------------------------------------------------------------

    async def _broadcast_one(self, envelope: bytes) -> ab_pb2.BroadcastResponse:
        started, admitted, checked = time.perf_counter(), None, 0.0
        try:
            admitted = admit(envelope, self._config)
            checked = time.perf_counter() - started
            chain = self._chains(admitted.channel_id)
            if chain is None:
                raise Rejected(common_pb2.NOT_FOUND, f"channel {admitted.channel_id!r} was removed")
            await chain.order(admitted.envelope, admitted.is_config_update)
            answer = ab_pb2.BroadcastResponse(status=common_pb2.SUCCESS)
        except Rejected as rejected:
            answer = ab_pb2.BroadcastResponse(status=rejected.status, info=str(rejected))
        except OrderingError as exc:
            answer = ab_pb2.BroadcastResponse(
                status=common_pb2.SERVICE_UNAVAILABLE, info=f"cannot order now: {exc}"
            )
        count_broadcast(
            admitted.channel_id if admitted else "",
            admitted.is_config_update if admitted else None,
            answer.status,
            checked or time.perf_counter() - started,
        )
        return answer

    async def Broadcast(
        self,
        request_iterator: AsyncIterator[common_pb2.Envelope],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[ab_pb2.BroadcastResponse]:
        # bounded: a client that sends without reading answers stops being read (HTTP/2
        # flow control then holds it back) instead of growing this queue
        answers: asyncio.Queue[object] = asyncio.Queue(maxsize=PIPELINE_DEPTH)

        async def read() -> None:
            try:
                async for envelope in request_iterator:
                    await answers.put(asyncio.ensure_future(self._broadcast_one(envelope)))
            finally:
                await answers.put(_END)

        reader = asyncio.ensure_future(read())
        try:
            while (answer := await answers.get()) is not _END:
                assert isinstance(answer, asyncio.Future)
                yield await answer
        finally:
            reader.cancel()

    # -- Deliver --------------------------------------------------------------------------

    async def Deliver(
        self,
        request_iterator: AsyncIterator[common_pb2.Envelope],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[ab_pb2.DeliverResponse]:
        async for envelope in request_iterator:
            status = common_pb2.SUCCESS
            try:
                async for block in self._deliver_one(envelope):
                    yield ab_pb2.DeliverResponse(block=block)
            except (SeekError, Rejected) as error:
                status = error.status
                log.info("deliver refused: %s", error)
            except OrderingError as error:
                status = common_pb2.SERVICE_UNAVAILABLE
                log.info("deliver stopped: %s", error)
            yield ab_pb2.DeliverResponse(status=status)

    async def _deliver_one(self, envelope: common_pb2.Envelope) -> AsyncIterator[common_pb2.Block]:
        request = parse_seek_envelope(envelope)
        chain = self._chains(request.channel_id)
        if chain is None:
            raise SeekError(common_pb2.NOT_FOUND, f"channel {request.channel_id!r} not found")
        check_signed_by_policy(chain.config, "/Channel/Readers", request.signed_data, "deliver")
        async for block in seek_blocks(request, chain.height, chain.stream):
            yield block


def add_to_server(servicer: AtomicBroadcast, server: grpc.aio.Server) -> None:
    """Register the service; Broadcast takes undecoded envelopes (checked to parse by the
    server's guard, see ``proto.server``), Deliver decoded ones."""
    handlers = {
        "Broadcast": grpc.stream_stream_rpc_method_handler(
            servicer.Broadcast,
            request_deserializer=undecoded(common_pb2.Envelope),
            response_serializer=ab_pb2.BroadcastResponse.SerializeToString,
        ),
        "Deliver": grpc.stream_stream_rpc_method_handler(
            servicer.Deliver,
            request_deserializer=common_pb2.Envelope.FromString,
            response_serializer=ab_pb2.DeliverResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("orderer.AtomicBroadcast", handlers),)
    )
