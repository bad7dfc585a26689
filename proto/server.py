"""Every gRPC server of consortium is made here, so bad bytes get one answer everywhere.

grpc's asyncio server decodes a request before any servicer code runs; bytes that do not
parse reach the client as ``UNKNOWN "Unexpected <class 'DecodeError'>: …"``, Python's
exception class rather than an answer. ``new_server`` installs ``DecodeGuard``, which
takes decoding over from grpc for every method of every service on the server (Fabric's,
ours, health): each request is decoded inside the call, and one that does not decode is
refused with ``INVALID_ARGUMENT`` and a sentence naming the method and the message type
(DESIGN.md "Bad input and faults": where Go's gRPC says INTERNAL, we name the type).

A method that wants the undecoded bytes (Broadcast keeps them to hash and order them
byte for byte) registers ``undecoded(MessageType)`` as its deserializer: the guard still
checks that the bytes parse as that type, then hands the servicer the bytes themselves.

Servicers must be ``async def`` (coroutines or async generators) and read requests from
the request iterator, not ``context.read()``: that is what the guard wraps.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from proto.interceptors import WrappingInterceptor
from proto.limits import Limits, StreamLimiter

Options = Sequence[tuple[str, Any]]
Decoder = Callable[[bytes], Any]
Behaviour = Callable[..., Any]


class Undecoded:
    """A request deserializer that leaves the bytes as they came, once the guard has
    checked that they parse as ``message_type``."""

    def __init__(self, message_type: type[Message]) -> None:
        self.message_type = message_type

    def __call__(self, data: bytes) -> bytes:
        return data


def undecoded(message_type: type[Message]) -> Undecoded:
    """The deserializer of a method whose servicer wants the request's raw bytes."""
    return Undecoded(message_type)


def new_server(options: Options = (), limits: Limits | None = None) -> grpc.aio.Server:
    """A ``grpc.aio`` server whose every method refuses undecodable requests the same way
    and holds to ``limits`` (message size, streams per service and client, write deadline;
    Fabric's defaults when None). ``options`` come last, so a caller can still override."""
    limits = limits or Limits()
    return grpc.aio.server(
        interceptors=[StreamLimiter(limits), DecodeGuard()],
        options=list({**dict(limits.message_options()), **dict(options)}.items()),
    )


class Health(health.aio.HealthServicer):
    """The standard health service, saying which name it does not know (grpc's answers
    NOT_FOUND with no details at all)."""

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        status = self._server_status.get(request.service)
        if status is None:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"no service named {request.service!r} is served here"
            )
        return health_pb2.HealthCheckResponse(status=status)


def add_health(server: grpc.aio.Server) -> Health:
    """Serve ``Health`` on ``server``; the caller sets each service SERVING once started."""
    servicer = Health()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    return servicer


def message_name(deserializer: Decoder) -> str:
    """The protobuf full name a deserializer reads (``protos.SignedProposal``)."""
    if isinstance(deserializer, Undecoded):
        return deserializer.message_type.DESCRIPTOR.full_name
    owner = getattr(deserializer, "__self__", None)
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", "request message")


def refusal(method: str, deserializer: Decoder) -> str:
    """The one sentence a client gets for bytes that are not the method's request type."""
    return f"{method}: the request does not decode as a {message_name(deserializer)} message"


class DecodeGuard(WrappingInterceptor):
    """Moves request decoding from grpc into each call, where a failure can be answered."""

    def wraps(self, handler: grpc.RpcMethodHandler) -> bool:
        return handler.request_deserializer is not None

    def wrap(self, handler: Any, method: str) -> Any:
        return guard(handler, method)


def guard(handler: Any, method: str) -> Any:
    """``handler`` with grpc's decoding switched off and done by ``decode`` instead."""
    deserializer: Decoder = handler.request_deserializer
    check = deserializer.message_type.FromString if isinstance(deserializer, Undecoded) else None

    async def decode(data: bytes, context: grpc.aio.ServicerContext) -> Any:
        try:
            if check is not None:
                check(data)
            return deserializer(data)
        except DecodeError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, refusal(method, deserializer))

    async def decoded(
        requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        async for data in requests:
            yield await decode(data, context)

    kind, behaviour = _behaviour(handler)
    if behaviour is None or not _is_async(behaviour):
        return handler  # a sync servicer keeps grpc's own decoding
    if handler.request_streaming:

        async def request(data: Any, context: grpc.aio.ServicerContext) -> Any:
            return decoded(data, context)
    else:
        request = decode
    return handler._replace(request_deserializer=None, **{kind: _wrap(behaviour, request)})


def _behaviour(handler: Any) -> tuple[str, Behaviour | None]:
    for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
        if getattr(handler, kind) is not None:
            return kind, getattr(handler, kind)
    return "unary_unary", None


def _is_async(behaviour: Behaviour) -> bool:
    return inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)


def _wrap(behaviour: Behaviour, request: Callable[..., Any]) -> Behaviour:
    """A function of the same kind as ``behaviour`` (grpc picks how to drive a handler by
    whether it is an async generator or a coroutine) that decodes its request first."""
    if inspect.isasyncgenfunction(behaviour):

        async def stream(data: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            async for response in behaviour(await request(data, context), context):
                yield response

        return stream

    async def unary(data: Any, context: grpc.aio.ServicerContext) -> Any:
        return await behaviour(await request(data, context), context)

    return unary
