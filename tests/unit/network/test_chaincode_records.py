"""What the supervisor records per chaincode, without starting anything: the record a
network from before records gets, and what counts as a change (an upgrade)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

from chaincode.packaging import read_package
from network.spec import load_spec
from network.supervisor import Home, Supervisor
from network.supervisor.chaincodes import code_digest

ROOT = Path(__file__).resolve().parents[3]


def _supervisor(tmp_path: Path, state: dict) -> Supervisor:
    spec = load_spec(ROOT / "deploy" / "two-members.yaml")
    supervisor = Supervisor(spec, Home(tmp_path / "net"), lambda _: None)
    supervisor.state = state
    return supervisor


def _tls_issued(supervisor: Supervisor, name: str) -> None:
    """Stand-ins for the key pairs `up` has the member's TLS CA issue (no CA runs here)."""
    folder = supervisor.contract_tls(name).folder
    folder.mkdir(parents=True)
    for file in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key", "issuer"):
        (folder / file).write_text(f"PEM of {file}")


def test_a_network_from_before_records_gets_its_spec_chaincodes_at_sequence_1(tmp_path):
    supervisor = _supervisor(
        tmp_path, {"deployed": ["basic"], "installed": {"basic": ["peer-org1-peer0"]}}
    )
    record = supervisor.chaincode_records["basic"]
    assert (record["sequence"], record["version"], record["port"]) == (1, "1.0", 9999)
    assert record["installed"] == ["peer-org1-peer0"]
    assert record["package_id"].startswith("basic_1.0:")
    assert (supervisor.home.root / "chaincodes" / f"{record['package_id']}.tar.gz").is_file()
    assert "deployed" not in supervisor.state


def test_code_settings_and_address_changes_are_upgrades(tmp_path):
    folder = tmp_path / "contract"
    shutil.copytree(ROOT / "chaincode" / "samples" / "token", folder)
    supervisor = _supervisor(tmp_path, {})
    _tls_issued(supervisor, "basic")
    entry = next(iter(supervisor.spec.chaincodes))
    wanted = dataclasses.replace(supervisor.wanted_from_spec(entry), directory=str(folder))
    identifier = supervisor._store_package(wanted)
    supervisor.state["chaincodes"] = {"basic": supervisor._record(wanted, 1, identifier, entry)}
    assert supervisor.runs_as(wanted)
    # the package asks peers for mutual TLS, and the runner serves it
    stored = supervisor.home.root / "chaincodes" / f"{identifier}.tar.gz"
    assert stored.stat().st_mode & 0o777 == 0o600  # it holds the peers' TLS client key
    package = stored.read_bytes()
    connection = json.loads(read_package(package)[1]["connection.json"])
    assert connection["client_cert"] == "PEM of client.crt"
    assert connection["tls_required"] and connection["client_auth_required"]
    options = supervisor.runner_tls_options(supervisor.state["chaincodes"]["basic"])
    assert options[options.index("--client-ca") + 1].endswith("tls/basic/ca.crt")
    assert not supervisor.runs_as(dataclasses.replace(wanted, policy="MAJORITY"))
    assert not supervisor.runs_as(dataclasses.replace(wanted, port=9998))
    before = code_digest(str(folder))
    (folder / "contract.py").write_text((folder / "contract.py").read_text() + "\n# edited\n")
    assert code_digest(str(folder)) != before
    assert not supervisor.runs_as(wanted)
