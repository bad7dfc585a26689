"""The endorser simulates proposals on a real chaincode-as-a-service process and its
endorsements commit as VALID; bad proposals get Fabric's refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509
from fabric_protos.peer import proposal_pb2

from ca.signing import SoftwareSigner, verify
from chaincode.endpoint import ChaincodeEndpoint
from peers.committer import commit_block
from peers.endorser import Endorser
from peers.ledger import Ledger
from proto.envelope import Code
from proto.messages import build_transaction_envelope
from proto.proposal import propose
from tests.support.channel import ChannelFixture, define
from tests.support.fabric_network import free_port
from tests.support.orderer import CHANNEL
from tests.support.pki import make_org

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "chaincode" / "samples" / "asset_transfer"


@pytest.fixture(scope="module")
def contract_address() -> AsyncIterator[str]:
    address = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaincode.runner",
            str(SAMPLE),
            "--id",
            "basic_1.0:x",
            "--address",
            address,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "serving chaincode" in line:
            break
    else:
        raise AssertionError("chaincode runner did not start")
    yield address
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
async def network(tmp_path: Path, contract_address: str):
    channel = ChannelFixture(tmp_path / "channel")
    ledgers = {}
    endpoints = []
    endorsers = {}
    for mspid in ("Org1MSP", "Org2MSP"):
        ledger = Ledger(tmp_path / mspid)
        commit_block(ledger, channel.genesis)
        define(ledger.state)
        ledgers[mspid] = ledger
        endpoint = ChaincodeEndpoint(contract_address)
        endpoints.append(endpoint)
        endorsers[mspid] = Endorser(
            channel.peers[mspid],
            lambda name, ledger=ledger: ledger if name == CHANNEL else None,
            lambda _channel, definition, endpoint=endpoint: (
                endpoint if definition.name == "basic" else None
            ),
        )
    yield channel, ledgers, endorsers
    for endpoint in endpoints:
        await endpoint.close()
    for ledger in ledgers.values():
        ledger.close()


def _proposal(signer: SoftwareSigner, *args: str, channel_id: str = CHANNEL, chaincode="basic"):
    proposed = propose(signer, channel_id, chaincode, args)
    return proposed.proposal, proposed.signed


async def test_endorse_commit_and_query(network) -> None:
    channel, ledgers, endorsers = network
    client = channel.clients["Org1MSP"]
    proposal, signed = _proposal(client, "CreateAsset", "asset1", "blue", "5", "Tom", "300")
    responses = [await e.process_proposal(signed) for e in endorsers.values()]
    for response, mspid in zip(responses, endorsers, strict=True):
        assert response.response.status == 200, response.response.message
        peer = channel.peers[mspid]
        public_key = x509.load_pem_x509_certificate(peer.certificate_pem).public_key()
        verify(
            public_key,
            response.payload + response.endorsement.endorser,
            response.endorsement.signature,
        )
    # Two peers, same proposal: byte-identical results.
    assert responses[0].payload == responses[1].payload

    block = channel.block([build_transaction_envelope(client, proposal, responses)])
    for ledger in ledgers.values():
        assert [v.code for v in commit_block(ledger, block).verdicts] == [Code.VALID]

    _, query = _proposal(client, "ReadAsset", "asset1")
    answer = await endorsers["Org2MSP"].process_proposal(query)
    assert json.loads(answer.response.payload)["Owner"] == "Tom"
    assert ledgers["Org1MSP"].state.state_hash() == ledgers["Org2MSP"].state.state_hash()


async def test_refusals_say_what_fabric_says(network) -> None:
    channel, _ledgers, endorsers = network
    endorser = endorsers["Org1MSP"]
    client = channel.clients["Org1MSP"]

    async def refusal(signed: proposal_pb2.SignedProposal) -> str:
        response = await endorser.process_proposal(signed)
        assert response.response.status == 500 and not response.endorsement.signature
        return response.response.message

    _, wrong_channel = _proposal(client, "ReadAsset", "a", channel_id="other")
    assert "channel 'other' not found" in await refusal(wrong_channel)

    _, forged = _proposal(client, "ReadAsset", "a")
    forged.signature = channel.clients["Org2MSP"].sign(forged.proposal_bytes)
    assert "access denied" in await refusal(forged)

    stranger = make_org("Org9MSP").identity("mallory", "client")
    _, unknown = _proposal(stranger, "ReadAsset", "a")
    assert await refusal(unknown) == (
        "error validating proposal: access denied: channel [mychannel] creator org unknown, "
        "creator is malformed"
    )  # the endorser's log names Org9MSP; the caller learns nothing

    _, undefined = _proposal(client, "Anything", chaincode="nosuch")
    assert "chaincode nosuch not found" in await refusal(undefined)

    old = propose(client, CHANNEL, "basic", ["ReadAsset", "a"], now=1_000_000)
    assert "incorrect timestamp" in await refusal(old.signed)

    _, garbage = _proposal(client, "ReadAsset", "a")
    garbage.proposal_bytes = b"\xff\xfe"
    assert "does not decode" in await refusal(garbage)

    _, missing = _proposal(client, "ReadAsset", "no-such-asset")
    response = await endorser.process_proposal(missing)
    assert response.response.status == 500
    assert "no-such-asset" in response.response.message
    assert not response.endorsement.signature


async def test_replayed_proposal_is_refused_after_commit(network) -> None:
    channel, ledgers, endorsers = network
    client = channel.clients["Org1MSP"]
    proposal, signed = _proposal(client, "CreateAsset", "asset9", "red", "1", "Ann", "1")
    responses = [await e.process_proposal(signed) for e in endorsers.values()]
    block = channel.block([build_transaction_envelope(client, proposal, responses)])
    commit_block(ledgers["Org1MSP"], block)
    again = await endorsers["Org1MSP"].process_proposal(signed)
    assert "duplicate transaction found" in again.response.message
