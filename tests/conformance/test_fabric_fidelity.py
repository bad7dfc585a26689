"""Where a Fabric client can tell the difference, consortium answers as Fabric 2.5.12:
the unmodified Node ``@hyperledger/fabric-gateway`` client against a real network
(orderer, two peers, the asset_transfer contract as a service, 2-of-2, TLS). Each
expectation is what Fabric's own code answers (``internal/pkg/gateway``,
``core/endorser``, ``common/deliver``, ``orderer/common/msgprocessor``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from tests.support.fabric_network import FabricNetwork
from tests.support.orderer import CHANNEL
from tests.support.pki import make_org

HERE = Path(__file__).resolve().parent
Code = transaction_pb2.TxValidationCode
FAILED_PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION.value[0]
ABORTED = grpc.StatusCode.ABORTED.value[0]
UNKNOWN = grpc.StatusCode.UNKNOWN.value[0]
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE.value[0]
ENDORSE_FAILED = "failed to endorse transaction, see attached details for more info"
INVALID = "error validating proposal: "


def _node(*args: str | Path) -> dict:
    node = shutil.which("node")
    assert node, "node is not installed: run deploy/install-deps.sh"
    result = subprocess.run(
        [node, *map(str, args)], capture_output=True, text=True, timeout=180, cwd=HERE
    )
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout.strip().splitlines()[-1])


@dataclass
class Fidelity:
    network: FabricNetwork
    config: Path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def network(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Fidelity]:
    root = tmp_path_factory.mktemp("fidelity")
    network = FabricNetwork(root)
    try:
        await network.start()
        await network.join_and_deploy()
        config = network.node_client_config(
            root / "clients",
            {
                "user1": network.users["Org1MSP"],
                "user2": network.users["Org2MSP"],
                "stranger": make_org("Org9MSP").identity("mallory", "client"),
            },
        )
        yield Fidelity(network, config)
    finally:
        network.stop()


@pytest.fixture(scope="module")
def fidelity(network: Fidelity) -> dict:
    report = _node(HERE / "fidelity_flow.js", network.config)
    report["creator"] = network.network.users["Org1MSP"].creator.hex()
    report["org1"] = network.network.peers["Org1MSP"].address
    return report


def _one_detail(error: dict, org1: str, message: str) -> None:
    assert error["details"] == [{"address": org1, "mspId": "Org1MSP", "message": message}]


# -- point 9: events from the next block to commit (the client's default) ------------


def test_block_filtered_and_chaincode_events_with_no_start_block(fidelity: dict) -> None:
    now = fidelity["now"]
    assert now["block"] >= now["height"]
    assert now["blockEvent"] == now["filteredEvent"] == now["block"]
    assert now["chaincodeEvent"] == {"block": now["block"], "txid": now["txid"]}


# -- point 6: a start block beyond the height is NOT_FOUND at once; at the height waits --


def test_deliver_beyond_the_height_is_refused_at_once(fidelity: dict) -> None:
    assert fidelity["beyondHeight"]["message"] == "Unexpected status response: 404"


def test_deliver_from_the_height_waits_for_the_next_block(fidelity: dict) -> None:
    assert fidelity["now"]["atHeightEvent"] == fidelity["now"]["block"]


# -- points 3 and 4: refusals the peer raises; the chaincode's own ---------------------


def test_a_bad_signature_gets_the_endorsers_generic_refusal(fidelity: dict) -> None:
    refusal = f"{INVALID}access denied: channel [{CHANNEL}] creator org [Org1MSP]"
    evaluate, endorse = fidelity["badSignature"]["evaluate"], fidelity["badSignature"]["endorse"]
    assert evaluate["code"] == FAILED_PRECONDITION
    assert evaluate["message"] == f"evaluate call to endorser returned error: {refusal}"
    _one_detail(evaluate, fidelity["org1"], refusal)
    assert endorse["code"] == ABORTED and endorse["message"] == ENDORSE_FAILED
    _one_detail(endorse, fidelity["org1"], refusal)


def test_a_high_s_signature_is_refused_the_same_way(fidelity: dict) -> None:
    refusal = f"{INVALID}access denied: channel [{CHANNEL}] creator org [Org1MSP]"
    assert fidelity["highS"]["code"] == FAILED_PRECONDITION
    _one_detail(fidelity["highS"], fidelity["org1"], refusal)


def test_an_unknown_organization_is_not_named(fidelity: dict) -> None:
    """Only the first endorser (this gateway's own organization) is asked."""
    refusal = (
        f"{INVALID}access denied: channel [{CHANNEL}] creator org unknown, creator is malformed"
    )
    assert fidelity["stranger"]["code"] == ABORTED
    _one_detail(fidelity["stranger"], fidelity["org1"], refusal)


def test_a_duplicate_txid(fidelity: dict) -> None:
    duplicate = fidelity["duplicate"]
    refusal = f"duplicate transaction found [{duplicate['txid']}]. Creator [{fidelity['creator']}]"
    assert duplicate["evaluate"]["code"] == FAILED_PRECONDITION
    assert (
        duplicate["evaluate"]["message"] == f"evaluate call to endorser returned error: {refusal}"
    )
    assert duplicate["endorse"]["code"] == ABORTED
    _one_detail(duplicate["endorse"], fidelity["org1"], refusal)


def test_only_a_chaincode_error_is_unknown_chaincode_response(fidelity: dict) -> None:
    evaluate, endorse = (
        fidelity["chaincodeError"]["evaluate"],
        fidelity["chaincodeError"]["endorse"],
    )
    assert evaluate["code"] == UNKNOWN
    assert evaluate["message"] == (
        "evaluate call to endorser returned error: "
        "chaincode response 500, The asset nosuchasset does not exist"
    )
    assert endorse["code"] == ABORTED and endorse["message"] == ENDORSE_FAILED
    assert len(endorse["details"]) == 1  # the first endorser's failure ends it
    assert endorse["details"][0]["message"].startswith("chaincode response 500, ")


def test_unknown_chaincode_channel_and_organization(fidelity: dict) -> None:
    assert fidelity["unknownChaincode"] == {
        "type": "GatewayError",
        "code": FAILED_PRECONDITION,
        "message": f"no peers available to evaluate chaincode nosuchcc in channel {CHANNEL}",
        "details": [],
    }
    assert fidelity["unknownChannel"]["code"] == UNAVAILABLE
    assert fidelity["unknownChannel"]["message"] == (
        "failed to get config for channel [nosuchchannel]: "
        "could not get last config for channel nosuchchannel"
    )
    assert fidelity["unknownChannel"]["details"] == []
    assert fidelity["noSuchOrg"]["code"] == UNAVAILABLE
    assert (
        fidelity["noSuchOrg"]["message"]
        == "failed to find any endorsing peers for org(s): NoSuchMSP"
    )
    assert fidelity["noSuchOrg"]["details"] == []


# -- point 5: an orderer's refusal on Submit -----------------------------------------


def test_an_orderer_refusal_is_in_the_message_without_details(fidelity: dict) -> None:
    refusal = fidelity["ordererRefusal"]
    assert refusal["type"] == "SubmitError" and refusal["code"] == ABORTED
    assert refusal["message"] == (
        "received unsuccessful response from orderer: status=FORBIDDEN, info=implicit policy "
        "evaluation failed - 0 sub-policies were satisfied, but this policy requires 1 of the "
        "'Writers' sub-policies to be satisfied: permission denied"
    )
    assert refusal["details"] == []


# -- the basic sample answers as fabric-samples' asset-transfer-basic ------------------


def test_create_asset_returns_the_asset(fidelity: dict) -> None:
    assert fidelity["now"]["created"] == (
        '{"ID":"now1","Color":"red","Size":1,"Owner":"Bob","AppraisedValue":10}'
    )


# -- point 7: block metadata ---------------------------------------------------------


def test_genesis_metadata_is_fabrics(fidelity: dict) -> None:
    """``OrdererBlockMetadata{last_config: 0}`` in slot 0, as Fabric's genesis factory."""
    genesis = fidelity["metadata"]["Org1MSP"][0]
    assert genesis[common_pb2.SIGNATURES] == "0a020a00"
    assert len(genesis) <= common_pb2.COMMIT_HASH or genesis[common_pb2.COMMIT_HASH] == ""


def test_every_block_from_1_on_has_a_commit_hash_both_peers_agree_on(fidelity: dict) -> None:
    org1, org2 = fidelity["metadata"]["Org1MSP"], fidelity["metadata"]["Org2MSP"]
    assert len(org1) == len(org2) >= 3
    hashes = []
    for mine, theirs in zip(org1[1:], org2[1:], strict=True):
        value = common_pb2.Metadata.FromString(bytes.fromhex(mine[common_pb2.COMMIT_HASH])).value
        assert len(value) == 32 and mine[common_pb2.COMMIT_HASH] == theirs[common_pb2.COMMIT_HASH]
        hashes.append(value)
    assert len(set(hashes)) == len(hashes)  # chained: no two alike


# -- point 1: every endorsement reads the chaincode's definition sequence --------------


@pytest.mark.asyncio(loop_scope="module")
async def test_a_transaction_endorsed_before_an_upgrade_is_invalid_after_it(
    network: Fidelity, tmp_path: Path
) -> None:
    before, after = tmp_path / "before.tx", tmp_path / "after.tx"
    _node(HERE / "upgrade_flow.js", network.config, "endorse", before)
    await network.network.redefine(sequence=2, version="2.0")
    _node(HERE / "upgrade_flow.js", network.config, "endorse", after)
    raced = _node(HERE / "upgrade_flow.js", network.config, "submit", before)
    assert raced["code"] == Code.MVCC_READ_CONFLICT and not raced["successful"]
    assert _node(HERE / "upgrade_flow.js", network.config, "submit", after)["code"] == Code.VALID
