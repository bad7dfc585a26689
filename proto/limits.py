"""Per-node resource limits, so a flood from one client cannot starve the others.

Fabric bounds a peer's concurrent Deliver and Endorser calls per service (we count per
method)
(``peer.limits.concurrency``) and every node's message size (``MaxRecvMsgSize``,
100 MiB). consortium keeps those and adds two that Fabric leaves to the operating
system: a ceiling per client, so one client cannot take the whole service's share,
and a deadline on each write of a streamed answer, so a client that opens streams
and never reads holds no more than one HTTP/2 flow-control window per stream and
gives its slot back. Every refusal is ``RESOURCE_EXHAUSTED`` with Fabric's sentence
(``too many requests for protos.Deliver/Deliver, exceeding concurrency limit (2500)``).

A client is its TLS client certificate when it presented one (every node and client
of a network does, under mutual TLS), otherwise its host: many connections from one
machine are one client.

``Limits`` is read from a node's ``limits:`` setting (``parse_limits``) and applied by
``StreamLimiter``, which ``proto.server.new_server`` installs on every server.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

import grpc

from proto.errors import ProtoError
from proto.interceptors import WrappingInterceptor

MIB = 1024 * 1024


class LimitsError(ProtoError):
    """A ``limits:`` setting that is not a mapping of known positive numbers."""


@dataclass(frozen=True)
class Limits:
    """The numbers; the defaults are Fabric's where Fabric has one."""

    max_message_bytes: int = 100 * MIB  # Fabric's MaxRecvMsgSize / MaxSendMsgSize
    streams_per_service: int = 2500  # Fabric's peer.limits.concurrency.deliverService
    streams_per_client: int = 256
    write_timeout_seconds: float = 60.0

    def message_options(self) -> list[tuple[str, int]]:
        """The grpc channel options that bound one message each way."""
        return [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", self.max_message_bytes),
        ]


def parse_limits(raw: Any) -> Limits:
    """``Limits`` from a node config's ``limits:`` mapping (absent: the defaults)."""
    if raw is None:
        return Limits()
    if not isinstance(raw, Mapping):
        raise LimitsError("limits must be a mapping of " + ", ".join(_names()))
    unknown = sorted(set(raw) - set(_names()))
    if unknown:
        raise LimitsError(f"unknown setting limits.{unknown[0]}; known: {', '.join(_names())}")
    values: dict[str, Any] = {}
    for name in raw:
        value = raw[name]
        kind = float if name == "write_timeout_seconds" else int
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise LimitsError(f"limits.{name} must be a positive number, got {value!r}")
        if kind is int and value != int(value):
            raise LimitsError(f"limits.{name} must be a whole number, got {value!r}")
        values[name] = kind(value)
    return Limits(**values)


def _names() -> list[str]:
    return [f.name for f in fields(Limits)]


def service_name(method: str) -> str:
    """``/orderer.AtomicBroadcast/Deliver`` → ``orderer.AtomicBroadcast/Deliver``: limits
    count per method, so the orderer's Deliver streams never crowd out Broadcast (one
    service in Fabric's protos)."""
    return method.strip("/")


def client_of(context: grpc.aio.ServicerContext) -> str:
    """Who is calling: the TLS client certificate's digest, else the peer's host."""
    certificate = context.auth_context().get("x509_pem_cert")
    if certificate:
        return "cert:" + hashlib.sha256(certificate[0]).hexdigest()[:16]
    peer = context.peer() or ""
    host = peer.split(":", 1)[1] if ":" in peer else peer  # ipv4:H:P, ipv6:[H]:P
    return "host:" + host.rsplit(":", 1)[0]


class StreamCounter:
    """Open streams per service and per (service, client); admits or refuses one more."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.services: Counter[str] = Counter()
        self.clients: Counter[tuple[str, str]] = Counter()

    def refusal(self, service: str, client: str) -> str | None:
        """Why one more stream may not open, or None (and then it is counted)."""
        if self.services[service] >= self.limits.streams_per_service:
            limit = self.limits.streams_per_service
            return f"too many requests for {service}, exceeding concurrency limit ({limit})"
        if self.clients[(service, client)] >= self.limits.streams_per_client:
            limit = self.limits.streams_per_client
            return (
                f"too many requests for {service} from this client, "
                f"exceeding concurrency limit per client ({limit})"
            )
        self.services[service] += 1
        self.clients[(service, client)] += 1
        return None

    def release(self, service: str, client: str) -> None:
        self.services[service] -= 1
        self.clients[(service, client)] -= 1
        if self.clients[(service, client)] <= 0:
            del self.clients[(service, client)]


class StreamLimiter(WrappingInterceptor):
    """Counts every call that streams answers (Deliver, ChaincodeEvents, Broadcast,
    chaincode Connect …) against ``Limits`` and bounds how long one write may wait."""

    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self.counter = StreamCounter(limits)

    def wraps(self, handler: grpc.RpcMethodHandler) -> bool:
        return bool(handler.response_streaming)

    def wrap(self, handler: Any, method: str) -> Any:
        kind = "stream_stream" if handler.request_streaming else "unary_stream"
        behaviour = getattr(handler, kind)
        if behaviour is None or not inspect.isasyncgenfunction(behaviour):
            return handler  # a sync or write()-style servicer is left as grpc drives it
        service = service_name(method)
        counter = self.counter
        timeout = counter.limits.write_timeout_seconds

        async def limited(request: Any, context: grpc.aio.ServicerContext) -> None:
            if handler.request_streaming:
                # a refusal before the client's first message reaches the client as a
                # failed send (INTERNAL), not as our answer: take that message first
                request = await _peeked(request)
            client = client_of(context)
            refused = counter.refusal(service, client)
            if refused is not None:
                await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, refused)
            try:
                await _write_all(behaviour(request, context), context, timeout, method)
            finally:
                counter.release(service, client)

        return handler._replace(**{kind: limited})


async def _peeked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """``requests`` with its first message already received."""
    try:
        first = await requests.__anext__()
    except StopAsyncIteration:
        return _chain([], requests)
    return _chain([first], requests)


async def _chain(head: list[Any], rest: AsyncIterator[Any]) -> AsyncIterator[Any]:
    for item in head:
        yield item
    async for item in rest:
        yield item


async def _write_all(
    answers: AsyncIterator[Any], context: grpc.aio.ServicerContext, timeout: float, method: str
) -> None:
    """Write each answer, giving up on a client that has not made room within ``timeout``."""
    async for answer in answers:
        try:
            async with asyncio.timeout(timeout):  # no task per write, unlike wait_for
                await context.write(answer)
        except TimeoutError:
            await answers.aclose()  # type: ignore[attr-defined]
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"{method}: the client read nothing for {timeout:g} s; its stream is closed",
            )
