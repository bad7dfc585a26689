"""The byte streams the shim protocol runs over: a gRPC ``Chaincode.Connect`` call, or an
in-process pipe to a contract servicer in the same event loop.

Both carry serialized ``ChaincodeMessage`` bytes and parse them on arrival, so the
in-process harness exercises exactly the encoding a real connection does.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

import grpc
from fabric_protos.peer import chaincode_shim_pb2
from google.protobuf.message import DecodeError

from chaincode.errors import ChaincodeDisconnected, ShimError

Message = chaincode_shim_pb2.ChaincodeMessage
CONNECT_METHOD = "/protos.Chaincode/Connect"


class ChaincodeStream(Protocol):
    async def send(self, message: Message) -> None: ...

    async def recv(self) -> Message | None:
        """The next message from the chaincode, ``None`` once the stream has ended."""
        ...

    async def close(self) -> None: ...


def parse_message(raw: bytes) -> Message:
    try:
        return Message.FromString(raw)
    except DecodeError as exc:
        raise ShimError(f"chaincode sent a malformed ChaincodeMessage ({exc})") from None


@dataclass(frozen=True)
class ClientTLS:
    """What the peer presents when dialling a TLS chaincode server."""

    root_certificates: bytes
    private_key: bytes | None = None
    certificate_chain: bytes | None = None
    server_name: str | None = None


class GrpcStream:
    """The peer's end of ``Chaincode.Connect``: the peer dials, the contract serves."""

    def __init__(self, channel: grpc.aio.Channel, call: Any, address: str) -> None:
        self._channel = channel
        self._call = call
        self.address = address

    @classmethod
    async def dial(
        cls, address: str, tls: ClientTLS | None = None, timeout: float = 5.0
    ) -> GrpcStream:
        if tls is None:
            channel = grpc.aio.insecure_channel(address)
        else:
            credentials = grpc.ssl_channel_credentials(
                tls.root_certificates, tls.private_key, tls.certificate_chain
            )
            options = (
                [("grpc.ssl_target_name_override", tls.server_name)] if tls.server_name else []
            )
            channel = grpc.aio.secure_channel(address, credentials, options=options)
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except TimeoutError:
            await channel.close()
            raise ShimError(
                f"address {address}: no chaincode server answered within {timeout:g}s"
            ) from None
        call = channel.stream_stream(
            CONNECT_METHOD,
            request_serializer=Message.SerializeToString,
            response_deserializer=None,
        )()
        return cls(channel, call, address)

    async def send(self, message: Message) -> None:
        try:
            await self._call.write(message)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, asyncio.InvalidStateError) as exc:
            raise ChaincodeDisconnected(
                f"chaincode at {self.address}: stream closed ({exc})"
            ) from None

    async def recv(self) -> Message | None:
        try:
            raw = await self._call.read()
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.CANCELLED:
                return None
            raise ChaincodeDisconnected(
                f"chaincode at {self.address}: stream failed ({exc.code().name}: {exc.details()})"
            ) from None
        if raw is grpc.aio.EOF:
            return None
        return parse_message(raw)

    async def close(self) -> None:
        self._call.cancel()
        await self._channel.close()


class _ContractContext:
    """The slice of ``grpc.aio.ServicerContext`` a contract servicer writes through."""

    def __init__(self, pipe: InProcessStream) -> None:
        self._pipe = pipe

    async def write(self, message: Message) -> None:
        self._pipe._to_peer.put_nowait(message.SerializeToString())


class InProcessStream:
    """A pipe to a ``Chaincode`` servicer running as a task in this event loop."""

    address = "in-process"

    def __init__(self) -> None:
        self._to_peer: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._to_contract: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._task: asyncio.Task | None = None

    def serve(self, servicer: Any) -> None:
        """Start ``servicer.Connect`` on this pipe, as a gRPC server would for one call."""
        self._task = asyncio.create_task(servicer.Connect(self._requests(), _ContractContext(self)))
        self._task.add_done_callback(lambda _task: self._to_peer.put_nowait(None))

    async def _requests(self) -> AsyncIterator[Message]:
        while True:
            raw = await self._to_contract.get()
            if raw is None:
                return
            yield Message.FromString(raw)

    async def send(self, message: Message) -> None:
        if self._task is not None and self._task.done():
            raise ChaincodeDisconnected("in-process chaincode: stream closed")
        self._to_contract.put_nowait(message.SerializeToString())

    async def recv(self) -> Message | None:
        raw = await self._to_peer.get()
        if raw is None:
            self._to_peer.put_nowait(None)
            return None
        return parse_message(raw)

    async def close(self) -> None:
        self._to_contract.put_nowait(None)
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 2.0)
            except (TimeoutError, Exception):
                self._task.cancel()
