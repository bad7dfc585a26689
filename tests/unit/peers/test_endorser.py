"""The endorser reads what Propose built, and refuses a proposal with Fabric's answers
(status 500, the reason in the message) before any chaincode runs."""

from __future__ import annotations

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_pb2

from peers.endorser import Endorser, ProposalRefused, unpack_proposal
from peers.ledger import Ledger
from peers.worldstate import BlockUpdate
from proto.proposal import propose
from tests.support.channel import ChannelFixture
from tests.support.orderer import CHANNEL
from tests.support.pki import make_org


def test_unpack_reads_back_what_propose_built(channel: ChannelFixture) -> None:
    proposed = propose(channel.clients["Org1MSP"], CHANNEL, "basic", ["ReadAsset", b"a1"])
    unpacked = unpack_proposal(proposed.signed)
    assert (unpacked.channel_header.channel_id, unpacked.chaincode) == (CHANNEL, "basic")
    assert unpacked.channel_header.tx_id == proposed.tx_id
    assert list(unpacked.input.args) == [b"ReadAsset", b"a1"]


def test_unpack_refuses_what_does_not_decode(channel: ChannelFixture) -> None:
    signed = propose(channel.clients["Org1MSP"], CHANNEL, "basic", ["ReadAsset"]).signed
    signed.proposal_bytes = b"\xff\xff"
    with pytest.raises(ProposalRefused, match="proposal does not decode"):
        unpack_proposal(signed)


@pytest.mark.parametrize(
    ("header_type", "named"),
    # found by the fuzzer: a type HeaderType has no name for was a ValueError (UNKNOWN)
    [(common_pb2.CONFIG, "CONFIG"), (common_pb2.MESSAGE, "MESSAGE"), (1796590158, "1796590158")],
)
def test_unpack_refuses_what_is_not_a_chaincode_proposal(
    channel: ChannelFixture, header_type: int, named: str
) -> None:
    proposal = propose(channel.clients["Org1MSP"], CHANNEL, "basic", ["ReadAsset"]).proposal
    header = common_pb2.Header.FromString(proposal.header)
    channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
    channel_header.type = header_type
    header.channel_header = channel_header.SerializeToString()
    proposal.header = header.SerializeToString()
    signed = proposal_pb2.SignedProposal(proposal_bytes=proposal.SerializeToString())
    with pytest.raises(ProposalRefused, match=f"invalid header type {named};"):
        unpack_proposal(signed)


@pytest.fixture
def endorser(ledger: Ledger, channel: ChannelFixture) -> Endorser:
    return Endorser(
        channel.peers["Org1MSP"],
        {CHANNEL: ledger}.get,
        chaincodes=lambda channel_id, definition: None,  # nothing installed
    )


async def _refusal(endorser: Endorser, signed: proposal_pb2.SignedProposal) -> str:
    response = await endorser.process_proposal(signed)
    assert response.response.status == 500 and not response.endorsement.signature
    assert not response.payload  # the peer's own refusal, not the chaincode's
    return response.response.message


async def _rejection(endorser: Endorser, signed: proposal_pb2.SignedProposal) -> str:
    """A refusal before simulation: Fabric's endorser returns it as an error too."""
    response, error = await endorser.endorse(signed)
    assert error is not None and error == response.response.message
    return error


async def test_refusals_before_simulation(endorser: Endorser, channel: ChannelFixture) -> None:
    client = channel.clients["Org1MSP"]
    elsewhere = propose(client, "elsewhere", "basic", ["ReadAsset"]).signed
    assert await _refusal(endorser, elsewhere) == "channel 'elsewhere' not found"
    forged = propose(client, CHANNEL, "basic", ["ReadAsset"]).signed
    forged.signature = channel.clients["Org2MSP"].sign(forged.proposal_bytes)
    assert await _rejection(endorser, forged) == (
        f"error validating proposal: access denied: channel [{CHANNEL}] creator org [Org1MSP]"
    )
    stranger = make_org("Org9MSP").identity("mallory", "client")
    unknown = propose(stranger, CHANNEL, "basic", ["ReadAsset"]).signed
    assert await _rejection(endorser, unknown) == (
        f"error validating proposal: access denied: channel [{CHANNEL}] creator org unknown, "
        "creator is malformed"
    )
    stale = propose(client, CHANNEL, "basic", ["ReadAsset"], now=1_000_000).signed
    assert "incorrect timestamp" in await _refusal(endorser, stale)
    undefined = propose(client, CHANNEL, "nosuch", ["ReadAsset"]).signed
    assert "chaincode nosuch not found" in await _refusal(endorser, undefined)
    uninstalled = propose(client, CHANNEL, "basic", ["ReadAsset"]).signed
    assert await _refusal(endorser, uninstalled) == (
        "chaincode basic is defined but not installed on this peer"
    )


async def test_a_committed_txid_is_not_endorsed_again(
    endorser: Endorser, ledger: Ledger, channel: ChannelFixture
) -> None:
    proposed = propose(channel.clients["Org1MSP"], CHANNEL, "basic", ["CreateAsset"])
    ledger.state.commit_block(BlockUpdate(ledger.state.height, transactions=[(proposed.tx_id, 0)]))
    creator = channel.clients["Org1MSP"].creator.hex()
    assert await _rejection(endorser, proposed.signed) == (
        f"duplicate transaction found [{proposed.tx_id}]. Creator [{creator}]"
    )
