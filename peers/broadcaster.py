"""One long-lived Broadcast stream to an orderer, shared by every Submit of the gateway.

Opening a stream per transaction costs more than the transaction's own round trip;
instead, envelopes are written to one stream and the orderer's answers, which come back
in the order the envelopes were sent, are matched to the waiting submitters in that
order. If the stream breaks, everything still waiting fails with that error and the next
submit opens a new stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2, ab_pb2_grpc

from peers.channel import OrdererEndpoint


class Broadcaster:
    def __init__(self, endpoint: OrdererEndpoint) -> None:
        self.endpoint = endpoint
        self._channel: grpc.aio.Channel | None = None
        self._call: grpc.aio.StreamStreamCall | None = None
        self._waiting: deque[asyncio.Future[ab_pb2.BroadcastResponse]] = deque()
        self._lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None

    async def _stream(self) -> grpc.aio.StreamStreamCall:
        if self._call is None or self._call.done():
            if self._channel is None:
                self._channel = self.endpoint.channel()
            self._call = ab_pb2_grpc.AtomicBroadcastStub(self._channel).Broadcast()
            self._reader = asyncio.create_task(self._read(self._call))
        return self._call

    async def _read(self, call: grpc.aio.StreamStreamCall) -> None:
        try:
            async for response in call:
                if self._waiting:
                    future = self._waiting.popleft()
                    if not future.done():
                        future.set_result(response)
            error: BaseException = ConnectionError("the orderer closed the Broadcast stream")
        except grpc.aio.AioRpcError as exc:
            error = exc
        except asyncio.CancelledError:
            error = ConnectionError("the Broadcast stream was closed")
        if self._call is call:
            self._call = None
        while self._waiting:
            future = self._waiting.popleft()
            if not future.done():
                future.set_exception(error)

    async def broadcast(
        self, envelope: common_pb2.Envelope, timeout: float = 30.0
    ) -> ab_pb2.BroadcastResponse:
        """Send one envelope; return the orderer's answer to it."""
        future: asyncio.Future[ab_pb2.BroadcastResponse] = (
            asyncio.get_running_loop().create_future()
        )
        async with self._lock:  # the order of writes is the order of answers
            call = await self._stream()
            self._waiting.append(future)
            await call.write(envelope)
        return await asyncio.wait_for(future, timeout)

    async def close(self) -> None:
        if self._call is not None:
            self._call.cancel()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._channel is not None:
            await self._channel.close()
