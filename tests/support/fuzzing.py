"""What the fuzz tests share: budgets, input strategies, and the checks every answer passes.

Inputs come in three kinds, mixed by ``inputs``: bytes at random, a valid seed mutated
(bytes flipped, cut, inserted, repeated), and a message of the right type whose fields
are drawn at random (decodes, means nothing). ``budget`` keeps ``make test`` bounded;
``make fuzz`` sets ``FUZZ_SCALE`` to multiply every budget.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import events_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.protobuf.message_factory import GetMessageClass
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from proto.seek import build_seek_envelope
from tests.support.orderer import CHANNEL

SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
TRIED: Counter[str] = Counter()  # inputs sent per edge, printed at the end of the run
# gRPC codes no bad input may cause: a crash (UNKNOWN, INTERNAL) or a hang.
FORBIDDEN_CODES = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
# Fabric's endorser and snapshot service return Go errors for refused requests, which gRPC
# carries as UNKNOWN with the error's text (docs/architecture.md, issues 23 and 27): the
# documented shape there.
GO_ERRORS = {
    "/protos.Endorser/ProcessProposal",
    "/protos.Snapshot/Generate",
    "/protos.Snapshot/Cancel",
    "/protos.Snapshot/QueryPendings",
}
LEAKS = ("Traceback", "Unexpected <class", "Exception(", "Error(")


def budget(examples: int) -> settings:
    """``examples`` inputs per test (times FUZZ_SCALE), no per-input deadline, no shrink
    database: the processes are real, so inputs are slow and runs must not replay."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        database=None,
        derandomize=SCALE == 1,
        suppress_health_check=list(HealthCheck),
    )


def mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """``seed`` with one to three edits: flip a byte, cut the end, insert, repeat a run."""

    @st.composite
    def edit(draw: st.DrawFn) -> bytes:
        data = bytearray(seed)
        for _ in range(draw(st.integers(1, 3))):
            where = draw(st.integers(0, max(len(data) - 1, 0)))
            kind = draw(st.sampled_from(("flip", "cut", "insert", "repeat")))
            if kind == "flip" and data:
                data[where] ^= draw(st.integers(1, 255))
            elif kind == "cut":
                del data[where:]
            elif kind == "insert":
                data[where:where] = draw(st.binary(min_size=1, max_size=8))
            else:
                data[where:where] = data[where : where + draw(st.integers(1, 16))]
        return bytes(data)

    return edit()


_SCALARS: dict[int, st.SearchStrategy[Any]] = {
    FieldDescriptor.TYPE_STRING: st.text(max_size=24),
    FieldDescriptor.TYPE_BYTES: st.binary(max_size=48),
    FieldDescriptor.TYPE_BOOL: st.booleans(),
    FieldDescriptor.TYPE_DOUBLE: st.floats(allow_nan=True),
    FieldDescriptor.TYPE_FLOAT: st.floats(width=32),
    FieldDescriptor.TYPE_INT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: st.integers(-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: st.integers(-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: st.integers(0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: st.integers(0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: st.integers(0, 2**64 - 1),
}


@st.composite
def message(draw: st.DrawFn, descriptor: Descriptor, depth: int = 2) -> Message:
    """A message of ``descriptor``'s type with a random subset of its fields set."""
    built = GetMessageClass(descriptor)()
    for field in descriptor.fields:
        if not draw(st.booleans()):
            continue
        if field.message_type is not None:
            if depth == 0 or field.message_type.GetOptions().map_entry:
                continue
            values = draw(st.lists(message(field.message_type, depth - 1), max_size=2))
            if _repeated(field):
                getattr(built, field.name).extend(values)
            elif values:
                getattr(built, field.name).CopyFrom(values[0])
            continue
        value = st.integers(0, 8) if field.enum_type is not None else _SCALARS[field.type]
        if _repeated(field):
            getattr(built, field.name).extend(draw(st.lists(value, max_size=3)))
        else:
            setattr(built, field.name, draw(value))
    return built


def _repeated(field: FieldDescriptor) -> bool:
    return field.label == FieldDescriptor.LABEL_REPEATED


def inputs(descriptor: Descriptor, seeds: Sequence[bytes] = ()) -> st.SearchStrategy[bytes]:
    """Bytes for a request of ``descriptor``'s type: garbage, mutated seeds, random fields."""
    kinds = [
        st.binary(max_size=256),
        message(descriptor).map(lambda built: built.SerializeToString()),
    ]
    kinds += [mutated(seed) for seed in seeds]
    return st.one_of(kinds)


def decodes(descriptor: Descriptor, data: bytes) -> bool:
    try:
        GetMessageClass(descriptor).FromString(data)
    except DecodeError:
        return False
    return True


def method_kind(channel: grpc.Channel, method: Any) -> Callable[..., Any]:
    """The raw-bytes multicallable for a protobuf ``MethodDescriptor``."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    kinds = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }
    return kinds[(method.client_streaming, method.server_streaming)](
        path, request_serializer=None, response_deserializer=None
    )


def call_raw(channel: grpc.Channel, method: Any, data: bytes, timeout: float = 5.0) -> Any:
    """Send ``data`` as the one request of ``method``; the responses, or the RpcError."""
    call = method_kind(channel, method)
    request = iter([data]) if method.client_streaming else data
    try:
        if method.server_streaming:
            return list(call(request, timeout=timeout))
        return call(request, timeout=timeout)
    except grpc.RpcError as error:
        return error


def check_answer(method: Any, data: bytes, answer: Any) -> None:
    """The documented shape: undecodable bytes are INVALID_ARGUMENT naming the type; any
    other refusal is a deliberate status with a sentence, never a crash, leak or hang."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    if not decodes(method.input_type, data):
        assert isinstance(answer, grpc.RpcError), f"{path} accepted undecodable bytes"
        assert answer.code() == grpc.StatusCode.INVALID_ARGUMENT, (answer.code(), path)
        assert answer.details() == (
            f"{path}: the request does not decode as a {method.input_type.full_name} message"
        )
        return
    if isinstance(answer, grpc.RpcError):
        go_error = path in GO_ERRORS and answer.code() == grpc.StatusCode.UNKNOWN
        assert go_error or answer.code() not in FORBIDDEN_CODES, (
            path,
            answer.code(),
            answer.details(),
        )
        assert answer.details(), (path, answer.code())
        assert not any(leak in answer.details() for leak in LEAKS), answer.details()


def _newest(
    target: str,
    credentials: grpc.ChannelCredentials,
    service: str,
    answer: type[Message],
    signer: Any,
) -> int:
    """The newest block's number, read by Deliver as a client reads it."""
    seek = build_seek_envelope(signer, CHANNEL, "newest", "newest", True)
    with grpc.secure_channel(target, credentials) as channel:
        deliver = channel.stream_stream(
            f"/{service}/Deliver",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=answer.FromString,
        )
        for response in deliver(iter([seek]), timeout=10):
            if response.WhichOneof("Type") == "block":
                return response.block.header.number
    raise AssertionError(f"{target} sent no block")


def peer_height(fabric: Any) -> int:
    """Org1's peer's newest block number: a refused input must leave it as it was."""
    peer = fabric.peers["Org1MSP"]
    credentials = fabric.credentials("Org1MSP")
    signer = fabric.users["Org1MSP"]
    return _newest(peer.address, credentials, "protos.Deliver", events_pb2.DeliverResponse, signer)


def orderer_height(fabric: Any) -> int:
    """The orderer's newest block number."""
    orderer = fabric.orderer
    target, credentials = f"127.0.0.1:{orderer.port}", orderer.credentials()
    signer = fabric.users["Org1MSP"]
    return _newest(target, credentials, "orderer.AtomicBroadcast", ab_pb2.DeliverResponse, signer)
