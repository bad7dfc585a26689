"""`consortium up` on a running network with an edited spec: what can be applied is, and
an edit that fails midway leaves every running node running — real processes, the CLI
as a user types it."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from tests.integration.test_up import spec_with_free_ports
from tests.support.fabric_network import free_port
from tests.support.processes import consortium

NETWORK = "two-members"


def _status(tmp_path: Path) -> dict:
    return json.loads(consortium(tmp_path, "status", "-o", "json").stdout)


async def _submit_through(tmp_path: Path, member: str, peer: str, asset: str) -> tuple[str, str]:
    """Org1's user submits through the gateway of one particular peer: (status, owner read
    back through that same peer)."""
    from ca.msp import load_signing_identity
    from network.gateway_client import GatewayClient

    home = tmp_path / ".consortium" / NETWORK
    address = _status(tmp_path)["nodes"][f"peer-{member}-{peer}"]["address"]
    user = load_signing_identity(home / "members" / member / "users" / "user1" / "msp", "Org1MSP")
    tls = (home / "members" / member / "peers" / peer / "tls" / "ca.crt").read_bytes()
    async with GatewayClient(address, user, tls) as client:
        await client.submit("mychannel", "basic", "CreateAsset", asset, "teal", "2", "Peer1", "3")
        read = await client.evaluate("mychannel", "basic", "ReadAsset", asset)
    return "VALID", json.loads(read)["Owner"]  # submit raises unless the commit is VALID


@pytest.mark.slow
@pytest.mark.xfail(
    reason="a peer added later does not learn its org's approved package (recorded only on "
    "the endorsing peer); next: record approvals at commit",
    strict=True,
)
def test_spec_edits_apply_to_a_running_network(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        before = _status(tmp_path)
        reconciler = before["nodes"]["reconciler"]["pid"]

        # A second peer for org1, added to the spec: enrolled, started, joined to the
        # channel, given the chaincode; it endorses and commits.
        text = spec.read_text()
        port = free_port()
        text = re.sub(
            r"(  - name: org1\n(?:    .*\n)*?    peers:\n      - name: peer0\n        port: \d+\n)",
            lambda m: m.group(1) + f"      - name: peer1\n        port: {port}\n",
            text,
        )
        assert "peer1" in text
        spec.write_text(text)
        consortium(tmp_path, "up", str(spec), "-o", "json")
        after = _status(tmp_path)
        assert after["nodes"]["peer-org1-peer1"]["listening"] is True
        # the reconciler was restarted with the edited spec
        assert after["nodes"]["reconciler"]["pid"] not in (None, reconciler)
        status, owner = asyncio.run(_submit_through(tmp_path, "org1", "peer1", "p1"))
        assert (status, owner) == ("VALID", "Peer1")
        assert after["nodes"]["peer-org1-peer0"]["pid"] == before["nodes"]["peer-org1-peer0"]["pid"]
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)


@pytest.mark.slow
def test_a_spec_edit_that_fails_leaves_the_network_running(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        after = _status(tmp_path)
        # An edit that fails midway (a new contract that cannot load) changes nothing that
        # ran: every node keeps its pid, the reconciler runs, the network transacts.
        broken = tmp_path / "broken_contract"
        broken.mkdir()
        (broken / "__init__.py").write_text("raise RuntimeError('this contract cannot load')\n")
        contract = (
            f"  - name: broken\n    path: {broken}\n    channel: mychannel\n"
            f"    port: {free_port()}\n\n# The events bridge"
        )
        spec.write_text(spec.read_text().replace("\n# The events bridge", contract, 1))
        failed = consortium(tmp_path, "up", str(spec), check=False)
        assert failed.returncode == 2
        assert "chaincode-broken exited while starting" in failed.stderr
        survived = _status(tmp_path)
        running = {n: v["pid"] for n, v in after["nodes"].items() if n != "reconciler"}
        assert {n: survived["nodes"][n]["pid"] for n in running} == running
        assert survived["nodes"]["reconciler"]["state"] == "RUNNING"
        assert "chaincode-broken" not in survived["nodes"]
        created = consortium(
            tmp_path, "invoke", "basic", "CreateAsset", "q1", "red", "1", "Q", "1",
            "--member", "org2", "-o", "json",
        )  # fmt: skip
        assert json.loads(created.stdout)["status"] == "VALID"
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)
