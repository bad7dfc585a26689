"""Every gRPC method a running peer, orderer and contract serve, fed malformed and
mutated-valid requests: each answer has the documented shape (``check_answer``), the node
answers a good request after each input, and no refused input wrote a block."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import chaincode_shim_pb2, events_pb2, peer_pb2, snapshot_pb2
from google.protobuf.descriptor import MethodDescriptor
from grpc_health.v1 import health_pb2
from hypothesis import given
from hypothesis import strategies as st

from proto import privatedata_pb2, trace_pb2
from proto.proposal import propose
from proto.seek import build_seek_envelope
from tests.support.fabric_network import FabricNetwork
from tests.support.fuzzing import (
    TRIED,
    budget,
    call_raw,
    check_answer,
    inputs,
    orderer_height,
    peer_height,
)
from tests.support.orderer import CHANNEL, transaction
from tests.support.pki import make_org

HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].methods_by_name["Check"]
PEER_SERVICES = (
    gateway_pb2.DESCRIPTOR.services_by_name["Gateway"],
    peer_pb2.DESCRIPTOR.services_by_name["Endorser"],
    snapshot_pb2.DESCRIPTOR.services_by_name["Snapshot"],
    events_pb2.DESCRIPTOR.services_by_name["Deliver"],
    privatedata_pb2.DESCRIPTOR.services_by_name["PrivateData"],
    trace_pb2.DESCRIPTOR.services_by_name["TraceService"],
)
ORDERER_SERVICE = ab_pb2.DESCRIPTOR.services_by_name["AtomicBroadcast"]
CONTRACT_SERVICE = chaincode_shim_pb2.DESCRIPTOR.services_by_name["Chaincode"]
# Streams that wait for blocks still to come: a valid request may outlast the timeout.
WAITING = {"ChaincodeEvents", "Deliver", "DeliverFiltered", "DeliverWithPrivateData"}


@dataclass
class Node:
    name: str
    channel: grpc.Channel
    health: bool = True


def _methods() -> list[tuple[str, MethodDescriptor]]:
    peer = [("peer", m) for service in PEER_SERVICES for m in service.methods]
    orderer = [("orderer", m) for m in ORDERER_SERVICE.methods]
    contract = [("contract", m) for m in CONTRACT_SERVICE.methods]
    health = [("peer", HEALTH), ("orderer", HEALTH)]
    return peer + orderer + contract + health


@pytest.fixture(scope="module")
def nodes(fabric: FabricNetwork) -> Iterator[dict[str, Node]]:
    peer = fabric.peers["Org1MSP"]
    credentials = {"peer": fabric.credentials("Org1MSP"), "orderer": fabric.orderer.credentials()}
    opened = {
        "peer": Node("peer", grpc.secure_channel(peer.address, credentials["peer"])),
        "orderer": Node(
            "orderer",
            grpc.secure_channel(f"127.0.0.1:{fabric.orderer.port}", credentials["orderer"]),
        ),
        "contract": Node("contract", grpc.insecure_channel(fabric.contract_address), False),
    }
    yield opened
    for node in opened.values():
        node.channel.close()


@pytest.fixture(scope="module")
def seeds(fabric: FabricNetwork) -> dict[str, list[bytes]]:
    """A valid request per method where one can be made without writing anything: reads,
    block 0, and envelopes signed by an organization outside the channel."""
    user = fabric.users["Org1MSP"]
    stranger = make_org("Org9MSP").identity("user.Org9MSP", "client")
    proposed = propose(user, CHANNEL, fabric.chaincode, ["GetAllAssets"])
    seek = build_seek_envelope(user, CHANNEL, 0, 0, True).SerializeToString()
    foreign = transaction(stranger, stranger).SerializeToString()
    evaluate = gateway_pb2.EvaluateRequest(
        transaction_id=proposed.tx_id, channel_id=CHANNEL, proposed_transaction=proposed.signed
    )
    endorse = gateway_pb2.EndorseRequest(
        transaction_id=proposed.tx_id, channel_id=CHANNEL, proposed_transaction=proposed.signed
    )
    submit = gateway_pb2.SubmitRequest(
        transaction_id="0" * 64,
        channel_id=CHANNEL,
        prepared_transaction=common_pb2.Envelope.FromString(foreign),
    )
    return {
        "ProcessProposal": [proposed.signed.SerializeToString()],
        "Evaluate": [evaluate.SerializeToString()],
        "Endorse": [endorse.SerializeToString()],
        "Submit": [submit.SerializeToString()],
        "Deliver": [seek],
        "DeliverFiltered": [seek],
        "DeliverWithPrivateData": [seek],
        "Broadcast": [foreign],
        "Check": [health_pb2.HealthCheckRequest().SerializeToString()],
    }


def _serving(node: Node) -> None:
    """A good request still gets a good answer."""
    if not node.health:
        return
    answer = node.channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )(health_pb2.HealthCheckRequest(), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("node_name", "method"),
    _methods(),
    ids=lambda value: value if isinstance(value, str) else value.full_name,
)
def test_every_method_answers_bad_requests_in_shape(
    fabric: FabricNetwork,
    nodes: dict[str, Node],
    seeds: dict[str, list[bytes]],
    node_name: str,
    method: MethodDescriptor,
) -> None:
    node = nodes[node_name]
    heights = {"peer": peer_height(fabric), "orderer": orderer_height(fabric)}
    strategy = inputs(method.input_type, seeds.get(method.name, ()))

    @budget(25)
    @given(data=strategy)
    def one(data: bytes) -> None:
        TRIED[f"gRPC {node_name} {method.full_name}"] += 1
        answer = call_raw(node.channel, method, data, timeout=3 if method.name in WAITING else 5)
        if (
            isinstance(answer, grpc.RpcError)
            and method.name in WAITING
            and answer.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        ):
            return  # a valid request waiting for the next block
        check_answer(method, data, answer)
        _serving(node)

    one()
    assert peer_height(fabric) == heights["peer"]
    assert orderer_height(fabric) == heights["orderer"]


@budget(20)
@given(data=st.binary(min_size=1, max_size=64))
def test_a_contract_refuses_undecodable_shim_messages(nodes: dict[str, Node], data: bytes) -> None:
    """The contract's Connect stream (the peer dials it) names ChaincodeMessage."""
    method = CONTRACT_SERVICE.methods_by_name["Connect"]
    check_answer(method, data, call_raw(nodes["contract"].channel, method, data))
