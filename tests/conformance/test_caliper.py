"""Hyperledger Caliper 0.6.0, unmodified, bound to Fabric's gateway connector, runs a
short asset-transfer benchmark (CreateAsset, ReadAsset, TransferAsset) against
``consortium up`` with the network configuration the CLI writes, and every transaction
of every round succeeds."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_up import spec_with_free_ports
from tests.support.caliper import WORKSPACE, run_caliper, summary, write_network_config
from tests.support.mtls import without_client_auth
from tests.support.processes import consortium

SMOKE = WORKSPACE / "benchmarks" / "smoke.yaml"


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder where ``consortium up`` runs the two-member network."""
    folder = tmp_path_factory.mktemp("caliper")
    try:
        spec = without_client_auth(spec_with_free_ports(folder))  # Caliper has no client cert
        consortium(folder, "up", str(spec), "--no-reconcile", "-o", "json")
        yield folder
    finally:
        consortium(folder, "down", "--purge", check=False)


@pytest.mark.slow
def test_caliper_runs_a_short_benchmark_and_every_transaction_succeeds(network: Path) -> None:
    report = network / "report.html"
    config = write_network_config(network, "org1", network / "caliper-network.json")
    run = run_caliper(config, SMOKE, report, timeout=120)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    rounds = {r.name: r for r in summary(output)}
    assert list(rounds) == [
        "CreateAsset fixed-rate",
        "ReadAsset fixed-load",
        "TransferAsset fixed-load",
    ], output[-4000:]
    assert [(r.succeeded, r.failed) for r in rounds.values()] == [(30, 0), (30, 0), (8, 0)]
    assert "Successful rounds: 3. Failed rounds: 0." in output
    assert "CreateAsset fixed-rate" in report.read_text()


@pytest.mark.slow
def test_the_network_configuration_names_every_member_and_its_profile(network: Path) -> None:
    """What ``consortium connection MEMBER --format caliper|ccp`` prints: Caliper's
    format 2.0.0 with the named member first, and the member's common connection
    profile pointing at its running peer."""
    printed = consortium(network, "connection", "org2", "--format", "caliper").stdout
    config = json.loads(printed)
    profile = json.loads(consortium(network, "connection", "org2", "--format", "ccp").stdout)
    assert config["version"] == "2.0.0" and config["caliper"] == {"blockchain": "fabric"}
    assert config["channels"] == [{"channelName": "mychannel", "contracts": [{"id": "basic"}]}]
    assert [o["mspid"] for o in config["organizations"]] == ["Org2MSP", "Org1MSP"]
    first = config["organizations"][0]
    assert first["connectionProfile"]["path"].endswith("connection/ccp/org2.json")
    assert first["identities"]["certificates"][0]["clientSignedCert"]["path"].endswith("cert.pem")
    assert profile["organizations"]["org2"] == {
        "mspid": "Org2MSP",
        "peers": ["peer0.org2"],
        "certificateAuthorities": ["ca.org2"],
    }
    peer = profile["peers"]["peer0.org2"]
    assert peer["url"].startswith("grpcs://127.0.0.1:")
    assert Path(peer["tlsCACerts"]["path"]).read_text().startswith("-----BEGIN CERTIFICATE")
    assert profile["channels"]["mychannel"]["peers"] == {"peer0.org2": {}}
    # profiles live apart: whatever lists connection/*.json still finds members only
    folder = Path(first["connectionProfile"]["path"]).parents[1]
    assert sorted(p.name for p in folder.glob("*.json")) == ["org1.json", "org2.json"]
