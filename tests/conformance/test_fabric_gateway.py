"""The unmodified Node ``@hyperledger/fabric-gateway`` client against a real network:
orderer, two peers, the asset_transfer contract as a service, 2-of-2 endorsement, TLS."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from proto.envelope import Code
from tests.support.fabric_network import FabricNetwork
from tests.support.pki import make_org

HERE = Path(__file__).resolve().parent


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def report(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict]:
    node = shutil.which("node")
    assert node, "node is not installed: run deploy/install-deps.sh"
    assert (HERE / "node_modules" / "@hyperledger" / "fabric-gateway").is_dir(), (
        "tests/conformance/node_modules is missing: run deploy/install-deps.sh"
    )
    root = tmp_path_factory.mktemp("gateway")
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
        result = subprocess.run(
            [node, str(HERE / "gateway_flow.js"), str(config)],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=HERE,
        )
        assert result.returncode == 0, result.stderr + result.stdout
        yield json.loads(result.stdout.strip().splitlines()[-1])
    finally:
        network.stop()


def test_submit_then_evaluate_on_the_other_org(report: dict) -> None:
    assert report["create"]["successful"] and report["create"]["code"] == Code.VALID
    assert report["read"]["Owner"] == "Tom" and report["read"]["ID"] == "node1"


def test_submit_async_and_get_status(report: dict) -> None:
    assert report["transferResult"] == "Tom"
    assert report["transferStatus"]["successful"]
    assert report["transferStatus"]["block"] > report["create"]["block"]


def test_chaincode_events_and_checkpoint_resume(report: dict) -> None:
    first, second = report["events"]
    assert first["name"] == "CreateAsset" and first["txid"] == report["create"]["txid"]
    assert first["payload"]["Owner"] == "Tom"
    assert second["name"] == "TransferAsset" and second["payload"]["Owner"] == "Saptha"
    # Resuming after the checkpointed first event yields the second one next.
    assert report["resumed"] == {"name": second["name"], "txid": second["txid"]}


def test_block_events(report: dict) -> None:
    assert report["blocks"] == [0, 1]


def test_conflicting_transfers(report: dict) -> None:
    codes = sorted(s["code"] for s in report["conflict"])
    assert codes == [Code.VALID, Code.MVCC_READ_CONFLICT]
    error = report["conflictError"]
    assert error is not None and error["isCommitError"]
    assert error["code"] == Code.MVCC_READ_CONFLICT


def test_unknown_msp_gives_endorse_error_with_details(report: dict) -> None:
    """Fabric's endorser does not name the unknown organization (the reason is in its
    log); only the gateway's own organization was asked."""
    error = report["strangerError"]
    assert error is not None and error["isEndorseError"], error
    assert [d["mspId"] for d in error["details"]] == ["Org1MSP"]
    assert "creator org unknown" in error["details"][0]["message"]
    assert "Org9MSP" not in error["details"][0]["message"]


def test_a_client_without_a_tls_client_certificate_is_refused(report: dict) -> None:
    """The network wants mutual TLS, as ``up`` runs it, and every call above presented
    the organization's TLS client certificate; the same client with the TLS root alone
    (``createSsl(root)``) is refused at the handshake: UNAVAILABLE, no answer."""
    assert report["mutualTls"]
    error = report["withoutClientCertError"]
    assert error is not None and error["isGatewayError"], error
    assert error["code"] == 14, error  # grpc.status.UNAVAILABLE
