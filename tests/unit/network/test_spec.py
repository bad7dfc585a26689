"""Network specs: the shipped ones are valid; every mistake names file, line and field."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from network.spec import SpecError, load_spec, ports_in_use

ROOT = Path(__file__).resolve().parents[3]
TWO = (ROOT / "deploy" / "two-members.yaml").read_text()


@pytest.mark.parametrize("name", ["two-members.yaml", "three-members.yaml"])
def test_shipped_specs_are_valid(name: str) -> None:
    spec = load_spec(ROOT / "deploy" / name)
    assert spec.members and spec.channels and spec.chaincodes
    assert {c.name for c in spec.chaincodes} == {"basic"}


def _error(tmp_path: Path, text: str) -> SpecError:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return caught.value


def _last_line_with(text: str, needle: str) -> int:
    return max(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    ("old", "new", "field", "message", "at"),
    [
        (
            "  voting_policy:",
            "  votes: 3\n  voting_policy:",
            "network.votes",
            "unknown key",
            "votes",
        ),
        (
            "threshold_percentage: 50",
            "threshold_percentage: 150",
            "threshold_percentage",
            "0 to 100",
            "threshold_percentage",
        ),
        ("GREATER_THAN\n", "MORE\n", "threshold_comparator", "GREATER_THAN", "MORE"),
        ("    mspid: Org2MSP", "    mspid: Org1MSP", "members[1].mspid", "used twice", "mspid"),
        (
            "members: [org1, org2]",
            "members: [org1, org9]",
            "channels[0].members[1]",
            "org9",
            "org9",
        ),
        ("port: 8051", "port: 7051", "peer org2/peer0", "also used by", "port: 7051"),
        (
            "\"AND('Org1MSP.peer', 'Org2MSP.peer')\"",
            "\"AND('Org1MSP.peer', \"",
            "chaincodes[0].endorsement_policy",
            "",
            "endorsement_policy",
        ),
        (
            '    account: "222222222222"',
            '    account: "22"',
            "members[1].account",
            "12-digit",
            '"22"',
        ),
        (
            "sample: asset_transfer",
            "sample: nothing",
            "chaincodes[0].sample",
            "not one of",
            "nothing",
        ),
        ("timeout: 250ms", "timeout: soon", "channels[0].batch.timeout", "duration", "soon"),
        (
            "max_message_count: 100",
            "max_message_count: 0",
            "channels[0].batch.max_message_count",
            "from 1",
            "max_message_count",
        ),
        (
            "sample: asset_transfer",
            "path: ./no-such-contract",
            "chaincodes[0].path",
            "is not a folder",
            "no-such-contract",
        ),
        (
            "endorsement_policy: \"AND('Org1MSP.peer', 'Org2MSP.peer')\"",
            "endorsement_policy: /Channel/Orderer/Admins",
            "chaincodes[0].endorsement_policy",
            "/Channel/Application/",
            "/Channel/Orderer/Admins",
        ),
        (
            "max_message_count: 100\n",
            "max_message_count: 100\n    anchor_peers: {org3: [peer0]}\n",
            "channels[0].anchor_peers.org3",
            "unknown key",
            "anchor_peers",
        ),
        (
            "max_message_count: 100\n",
            "max_message_count: 100\n    anchor_peers:\n      org2: [peer7]\n",
            "channels[0].anchor_peers.org2[0]",
            "no peer named 'peer7'",
            "peer7",
        ),
        (
            "max_message_count: 100\n",
            "max_message_count: 100\n    policies:\n      Endorsement: SOME Endorsement\n",
            "channels[0].policies.Endorsement",
            "",
            "SOME",
        ),
        (
            "max_message_count: 100\n",
            "max_message_count: 100\n    policies:\n      BlockValidation: ANY Writers\n",
            "channels[0].policies.BlockValidation",
            "unknown key",
            "BlockValidation",
        ),
    ],
)
def test_mistakes_name_file_line_and_field(
    tmp_path: Path, old: str, new: str, field: str, message: str, at: str
) -> None:
    assert old in TWO
    text = TWO.replace(old, new, 1)
    error = _error(tmp_path, text)
    assert field in error.field, str(error)
    assert message in error.message, str(error)
    assert error.line == _last_line_with(text, at), str(error)
    assert str(error).startswith(f"{tmp_path / 'spec.yaml'}:{error.line}: ")


def test_missing_field_and_broken_yaml(tmp_path: Path) -> None:
    error = _error(tmp_path, TWO.replace("    mspid: Org1MSP\n", "", 1))
    assert error.field == "members[0]" and "mspid is required" in error.message
    error = _error(tmp_path, "network: [unclosed\n")
    assert error.line == 2 and error.field == "(yaml)"


def test_port_in_use_is_found_and_the_cli_exits_2(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        text = TWO.replace("port: 9999", f"port: {port}")
        path = tmp_path / "spec.yaml"
        path.write_text(text)
        spec = load_spec(path)
        # other networks on this machine may hold some of the spec's fixed ports too
        assert "chaincode basic" in [what for what, *_ in ports_in_use(spec)]
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                "from network.cli import main; main()",
                "spec",
                "validate",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert f"port 127.0.0.1:{port} is already in use" in result.stderr
    assert all("is already in use" in line for line in result.stderr.splitlines())


def test_two_chaincodes_of_one_name_are_refused(tmp_path: Path) -> None:
    start = TWO.index("  - name: basic")
    end = TWO.index("\n\n", start)
    second = TWO[start:end].replace("port: 9999", "port: 9998")
    error = _error(tmp_path, TWO[:end] + "\n" + second + TWO[end:])
    assert error.field == "chaincodes[1].name" and "used twice" in error.message


@pytest.mark.parametrize(
    ("policy", "reference"),
    [
        ("MAJORITY", "/Channel/Application/Endorsement"),
        ("/Channel/Application/Endorsement", "/Channel/Application/Endorsement"),
        ("/Channel/Application/Org1MSP/Endorsement", "/Channel/Application/Org1MSP/Endorsement"),
    ],
)
def test_endorsement_policy_may_be_a_channel_policy(
    tmp_path: Path, policy: str, reference: str
) -> None:
    from fabric_protos.peer import policy_pb2

    from network.chaincode_deploy import Definition

    text = TWO.replace("\"AND('Org1MSP.peer', 'Org2MSP.peer')\"", policy)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    chaincode = load_spec(path).chaincodes[0]
    definition = Definition(chaincode.name, "1.0", 1, chaincode.endorsement_policy)
    parsed = policy_pb2.ApplicationPolicy.FromString(definition.validation_parameter())
    assert parsed.channel_config_policy_reference == reference


def test_endorsement_policy_defaults_to_the_channel_endorsement_policy(tmp_path: Path) -> None:
    text = re.sub(r"\n    endorsement_policy: .*", "", TWO)
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    assert load_spec(path).chaincodes[0].endorsement_policy == ""


def test_anchor_peers_and_policies_are_read(tmp_path: Path) -> None:
    text = TWO.replace(
        "max_message_count: 100\n",
        "max_message_count: 100\n    anchor_peers: {org2: [peer0]}\n"
        "    policies:\n      Endorsement: ANY Endorsement\n"
        "      Readers: \"OR('Org1MSP.member', 'Org2MSP.member')\"\n",
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    channel = load_spec(path).channels[0]
    assert channel.anchor_peers == {"org2": ("peer0",)}
    assert channel.policies == {
        "Endorsement": "ANY Endorsement",
        "Readers": "OR('Org1MSP.member', 'Org2MSP.member')",
    }


HOSTS = "hosts:\n  - {address: 10.77.0.1, netns: orderha-h0}\n  - {address: 10.77.0.2, netns: h1}\n"


def test_hosts_name_network_namespaces_nodes_are_started_in(tmp_path: Path) -> None:
    from network.supervisor.base import SupervisorBase

    path = tmp_path / "spec.yaml"
    path.write_text(HOSTS + TWO.replace("port: 7051", "port: 7051\n        host: 10.77.0.1"))
    spec = load_spec(path)
    assert spec.namespaces == {"10.77.0.1": "orderha-h0", "10.77.0.2": "h1"}
    supervisor = SupervisorBase(spec, home=None)  # type: ignore[arg-type]
    assert supervisor.launcher("10.77.0.1") == ["ip", "netns", "exec", "orderha-h0"]
    assert supervisor.launcher("127.0.0.1") == []


@pytest.mark.parametrize(
    ("entry", "field", "message"),
    [
        ("{address: nowhere, netns: h0}", "hosts[0].address", "is not an IP address"),
        ("{address: 10.0.0.1, netns: 'a b'}", "hosts[0].netns", "network namespace name"),
        ("{address: 10.0.0.1}", "hosts[0]", "netns is required"),
    ],
)
def test_a_wrong_host_entry_is_named(tmp_path: Path, entry: str, field: str, message: str) -> None:
    error = _error(tmp_path, f"hosts:\n  - {entry}\n" + TWO)
    assert error.field == field and message in error.message


def test_an_address_listed_twice_is_refused(tmp_path: Path) -> None:
    twice = "hosts:\n  - {address: 10.0.0.1, netns: a}\n  - {address: 10.0.0.1, netns: b}\n"
    error = _error(tmp_path, twice + TWO)
    assert error.field == "hosts[1].address" and "listed twice" in error.message


def test_a_peer_may_name_a_snapshot_to_join_from_and_an_orderer_may_not(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(TWO.replace("port: 7051\n", "port: 7051\n        snapshot: taken/7\n", 1))
    peer = load_spec(path).members[0].peers[0]
    assert peer.snapshot == str(tmp_path / "taken" / "7")  # relative to the spec file
    orderer = TWO.replace("admin_port: 7053\n", "admin_port: 7053\n      snapshot: taken/7\n", 1)
    error = _error(tmp_path, orderer)
    assert error.field == "ordering.orderers[0].snapshot" and "unknown key" in error.message


def test_client_auth_is_on_unless_the_spec_turns_it_off(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(TWO)
    assert load_spec(path).client_auth is True
    path.write_text(TWO + "\ntls: {client_auth: false}\n")
    assert load_spec(path).client_auth is False
    error = _error(tmp_path, TWO + "\ntls: {client_auth: maybe}\n")
    assert error.field == "tls.client_auth" and "true or false" in error.message
    error = _error(tmp_path, TWO + "\ntls: {mutual: true}\n")
    assert error.field == "tls.mutual" and "unknown key" in error.message
