"""The gateway's endorsement plan and its refusals, and the chaincode events it reads
from committed blocks."""

from __future__ import annotations

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import chaincode_event_pb2

from peers.channel import Halt, PeerChannel
from peers.endorser import unpack_proposal
from peers.gateway import Gateway, GatewayError, RemotePeer, _chaincode_events
from peers.ledger import Ledger
from proto.envelope import parse_block
from proto.proposal import propose
from tests.support.channel import ChannelFixture
from tests.support.orderer import CHANNEL


def _names(events: list[chaincode_event_pb2.ChaincodeEvent]) -> list[str]:
    return [event.event_name for event in events]


def test_chaincode_events_of_valid_transactions_of_the_chaincode(
    events_block: common_pb2.Block,
) -> None:
    assert _names(_chaincode_events(events_block, "basic", "")) == ["First", "Second"]
    assert _names(_chaincode_events(events_block, "token", "")) == ["Elsewhere"]


def test_chaincode_events_resume_after_a_checkpointed_transaction(
    events_block: common_pb2.Block,
) -> None:
    checkpoint = parse_block(events_block)[2].tx_id
    assert _names(_chaincode_events(events_block, "basic", checkpoint)) == ["Second"]


def test_a_block_with_an_envelope_that_does_not_decode_is_still_served(
    events_block: common_pb2.Block,
) -> None:
    """Only a faulty orderer could order it; readers skip it instead of failing."""
    events_block.data.data.append(b"\xff\xff")
    events_block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] += bytes([2])
    assert _names(_chaincode_events(events_block, "basic", "")) == ["First", "Second"]


# -- planning -----------------------------------------------------------------------------


@pytest.fixture
def gateway(ledger: Ledger, channel: ChannelFixture) -> Gateway:
    peer_channel = PeerChannel(CHANNEL, ledger, channel.peers["Org1MSP"])
    org2 = RemotePeer("Org2MSP", "peer0.org2:7051", channel=None)  # type: ignore[arg-type]
    return Gateway(
        "Org1MSP",
        "peer0.org1:7051",
        endorser=None,  # type: ignore[arg-type]
        channels={CHANNEL: peer_channel}.get,
        peers=lambda: [org2],
        orderers=list,
    )


def _proposal(channel: ChannelFixture, chaincode: str = "basic", channel_id: str = CHANNEL):
    return propose(channel.clients["Org1MSP"], channel_id, chaincode, ["CreateAsset"]).signed


def _unpacked(channel: ChannelFixture, chaincode: str = "basic", channel_id: str = CHANNEL):
    return unpack_proposal(_proposal(channel, chaincode, channel_id))


def test_the_plan_follows_the_endorsement_policy(gateway: Gateway, channel) -> None:
    assert gateway._plan(_unpacked(channel), []) == ["Org1MSP", "Org2MSP"]
    assert gateway._plan(_unpacked(channel), ["Org2MSP", "Org2MSP"]) == ["Org2MSP"]
    assert gateway._plan(_unpacked(channel, "nosuch"), []) == ["Org1MSP"]  # endorser refuses


def test_plan_refusals(gateway: Gateway, channel) -> None:
    garbage = _proposal(channel)
    garbage.proposal_bytes = b"\xff\xff"
    with pytest.raises(GatewayError) as raised:
        gateway._unpack(garbage)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(GatewayError, match="channel 'elsewhere' not found") as raised:
        gateway._plan(_unpacked(channel, channel_id="elsewhere"), [])
    assert raised.value.code == grpc.StatusCode.NOT_FOUND
    gateway._peers = list  # Org2 unreachable: no plan satisfies AND(Org1, Org2)
    with pytest.raises(GatewayError, match="no peer combination can satisfy") as raised:
        gateway._plan(_unpacked(channel), [])
    assert raised.value.code == grpc.StatusCode.FAILED_PRECONDITION


# -- a channel halted on a ledger failure -------------------------------------------------


async def test_a_halted_channel_answers_unavailable(gateway: Gateway, channel) -> None:
    """What a Fabric client gets from a peer that is down: Endorse, Evaluate and Submit
    refused with UNAVAILABLE and the reason, before anything is simulated or sent."""
    peer_channel = gateway._channels(CHANNEL)
    assert peer_channel is not None
    peer_channel.halted = Halt(7, "StorageFailure: no space left on device", 0.0)
    signed = _proposal(channel)
    calls = [
        gateway._endorse(signed, unpack_proposal(signed), []),
        gateway._evaluate(gateway_pb2.EvaluateRequest(proposed_transaction=signed)),
        gateway._submit(
            gateway_pb2.SubmitRequest(
                channel_id=CHANNEL, prepared_transaction=common_pb2.Envelope(signature=b"s")
            )
        ),
    ]
    for call in calls:
        with pytest.raises(GatewayError) as raised:
            await call
        assert raised.value.code == grpc.StatusCode.UNAVAILABLE
        assert str(raised.value) == (
            f"channel {CHANNEL} is unavailable on this peer: committing block 7 failed "
            "(StorageFailure: no space left on device); retrying"
        )
