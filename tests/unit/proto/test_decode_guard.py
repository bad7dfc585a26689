"""``proto.server``: every method kind of a guarded server answers bytes that do not
decode with INVALID_ARGUMENT naming the message type, and keeps serving good requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from fabric_protos.common import common_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from proto.server import new_server, undecoded

GARBAGE = b"\xff\xff\xff\xff"  # field number 0 does not exist in protobuf: never decodes
GOOD = common_pb2.Envelope(payload=b"p", signature=b"s")
SERVICE = "test.Echo"


async def unary(request: common_pb2.Envelope, _: object) -> common_pb2.Envelope:
    return request


async def unary_stream(
    request: common_pb2.Envelope, _: object
) -> AsyncIterator[common_pb2.Envelope]:
    yield request


async def stream_unary(requests: AsyncIterator[object], _: object) -> common_pb2.Envelope:
    async for request in requests:
        return (
            request
            if isinstance(request, common_pb2.Envelope)
            else common_pb2.Envelope(payload=request)
        )
    return common_pb2.Envelope()


async def stream_stream(
    requests: AsyncIterator[common_pb2.Envelope], _: object
) -> AsyncIterator[common_pb2.Envelope]:
    async for request in requests:
        yield request


def _handlers() -> grpc.GenericRpcHandler:
    decode, encode = common_pb2.Envelope.FromString, common_pb2.Envelope.SerializeToString
    return grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary, decode, encode),
            "UnaryStream": grpc.unary_stream_rpc_method_handler(unary_stream, decode, encode),
            "StreamUnary": grpc.stream_unary_rpc_method_handler(stream_unary, decode, encode),
            "Raw": grpc.stream_unary_rpc_method_handler(
                stream_unary, undecoded(common_pb2.Envelope), encode
            ),
            "StreamStream": grpc.stream_stream_rpc_method_handler(stream_stream, decode, encode),
        },
    )


@pytest.fixture
async def channel() -> AsyncIterator[grpc.aio.Channel]:
    server = new_server()
    server.add_generic_rpc_handlers([_handlers()])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as opened:
        yield opened
    await server.stop(None)


def _method(channel: grpc.aio.Channel, name: str) -> object:
    path = f"/{SERVICE}/{name}"
    kinds = {"Unary": channel.unary_unary, "UnaryStream": channel.unary_stream}
    kind = kinds.get(
        name, channel.stream_stream if name == "StreamStream" else channel.stream_unary
    )
    return kind(path, request_serializer=None, response_deserializer=None)


async def _call(channel: grpc.aio.Channel, name: str, data: bytes) -> list[bytes]:
    method = _method(channel, name)
    if name in ("Unary", "UnaryStream"):
        call = method(data, timeout=5)
    else:
        call = method(iter([data]), timeout=5)
    if name in ("UnaryStream", "StreamStream"):
        return [response async for response in call]
    return [await call]


@pytest.mark.parametrize("name", ["Unary", "UnaryStream", "StreamUnary", "StreamStream", "Raw"])
async def test_undecodable_bytes_are_invalid_argument_naming_the_type(
    channel: grpc.aio.Channel, name: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _call(channel, name, GARBAGE)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == (
        f"/{SERVICE}/{name}: the request does not decode as a common.Envelope message"
    )
    data = GOOD.SerializeToString()
    echoed = common_pb2.Envelope(payload=data) if name == "Raw" else GOOD
    assert await _call(channel, name, data) == [echoed.SerializeToString()]


async def test_a_raw_method_gets_the_bytes_themselves(channel: grpc.aio.Channel) -> None:
    data = GOOD.SerializeToString()
    answer = common_pb2.Envelope.FromString((await _call(channel, "Raw", data))[0])
    assert answer.payload == data  # stream_unary wraps bytes it was handed in a payload


async def test_health_is_guarded_too(channel: grpc.aio.Channel) -> None:
    check = channel.unary_unary(
        "/grpc.health.v1.Health/Check", request_serializer=None, response_deserializer=None
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await check(GARBAGE, timeout=5)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "grpc.health.v1.HealthCheckRequest" in refused.value.details()
    answer = health_pb2.HealthCheckResponse.FromString(
        await check(health_pb2.HealthCheckRequest().SerializeToString(), timeout=5)
    )
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


def test_every_server_is_made_by_new_server() -> None:
    """A server made elsewhere would answer bad bytes with grpc's UNKNOWN again."""
    root = Path(__file__).resolve().parents[3]
    parts = ("proto", "ledgerdb", "ca", "chaincode", "ordering", "peers", "network")
    makers = [
        str(path.relative_to(root))
        for part in parts
        for path in sorted((root / part).rglob("*.py"))
        if "grpc.aio.server(" in path.read_text() and path != root / "proto" / "server.py"
    ]
    assert makers == []
