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
from tests.support.mtls import member_tls
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
    async with GatewayClient(address, user, tls, client=member_tls(home, member)) as client:
        await client.submit("mychannel", "basic", "CreateAsset", asset, "teal", "2", "Peer1", "3")
        read = await client.evaluate("mychannel", "basic", "ReadAsset", asset)
    return "VALID", json.loads(read)["Owner"]  # submit raises unless the commit is VALID


@pytest.mark.slow
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
        running = {n: v["pid"] for n, v in after["nodes"].items() if n != "reconciler"}

        # An edit `up` cannot apply is refused whole before anything is touched.
        good = spec.read_text()
        spec.write_text(good.replace("members: [org1, org2]", "members: [org1]"))
        refused = consortium(tmp_path, "up", str(spec), check=False)
        assert refused.returncode == 2 and "nothing was changed" in refused.stderr
        assert "channel add-member" in refused.stderr
        now = _status(tmp_path)["nodes"]
        assert {n: now[n]["pid"] for n in running} == running
        assert now["reconciler"]["pid"] == after["nodes"]["reconciler"]["pid"]
        spec.write_text(good)

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


async def _blocks_of_concurrent_submits(tmp_path: Path, count: int, tag: str) -> list[int]:
    """Org1's user submits ``count`` transactions at once; the block each landed in."""
    from ca.msp import load_signing_identity
    from network.gateway_client import GatewayClient

    home = tmp_path / ".consortium" / NETWORK
    connection = json.loads((home / "connection" / "org1.json").read_text())
    user = load_signing_identity(home / "members" / "org1" / "users" / "user1" / "msp", "Org1MSP")
    tls = Path(connection["gateway"]["tlsRootCert"]).read_bytes()
    endpoint = connection["gateway"]["endpoint"]
    async with GatewayClient(endpoint, user, tls, client=member_tls(home, "org1")) as client:
        submitted = await asyncio.gather(
            *(
                client.submit_async(
                    "mychannel", "basic", "CreateAsset", f"{tag}{n}", "red", "1", "B", "1"
                )
                for n in range(count)
            )
        )
        statuses = [await client.commit_status("mychannel", tx_id) for tx_id, _ in submitted]
    assert all(code == 0 for code, _ in statuses), statuses
    return [block for _, block in statuses]


@pytest.mark.slow
def test_batch_settings_change_on_a_running_channel(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        before = json.loads(
            consortium(tmp_path, "channel", "config", "mychannel", "-o", "json").stdout
        )
        orderer = before["Channel"]["groups"]["Orderer"]["values"]
        assert orderer["BatchTimeout"] == "250ms"

        # Edited in the spec, applied by `up` as a config update: a long timeout and
        # blocks of 3, so three transactions sent together share one block.
        text = spec.read_text().replace("timeout: 250ms", "timeout: 20s")
        spec.write_text(text.replace("max_message_count: 100", "max_message_count: 3"))
        applied = consortium(tmp_path, "up", str(spec))
        assert "channel mychannel: batch timeout 20s" in applied.stderr
        shown = consortium(tmp_path, "channel", "config", "mychannel").stdout
        assert "20s" in shown and "max_message_count 3" in shown
        assert len(set(asyncio.run(_blocks_of_concurrent_submits(tmp_path, 3, "x")))) == 1

        # `channel update`: one transaction per block from now on.
        updated = consortium(tmp_path, "channel", "update", "mychannel", "--max-message-count", "1")
        assert "updated" in updated.stdout
        assert len(set(asyncio.run(_blocks_of_concurrent_submits(tmp_path, 3, "y")))) == 3
        again = consortium(tmp_path, "channel", "update", "mychannel", "--max-message-count", "1")
        assert "already has those settings" in again.stdout
        bad = consortium(tmp_path, "channel", "update", "mychannel", "--batch-timeout", "soon",
                         check=False)  # fmt: skip
        assert bad.returncode != 0 and "soon" in bad.stderr
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)


def _application(tmp_path: Path) -> dict:
    shown = consortium(tmp_path, "channel", "config", "mychannel", "-o", "json").stdout
    return json.loads(shown)["Channel"]["groups"]["Application"]


def _planned_organizations(tmp_path: Path, notice: str) -> list[str]:
    """Which organizations org1's gateway asked to endorse a Post (its trace's PLAN
    step); the invoke itself must commit VALID."""
    answer = consortium(tmp_path, "invoke", "board", "Post", notice, "hello", "--member", "org1",
                        "--explain", "-o", "json")  # fmt: skip
    run = json.loads(answer.stdout)
    assert run["status"] == "VALID"
    return next(s["details"]["organizations"] for s in run["steps"] if s["step"] == "PLAN")


@pytest.mark.slow
def test_anchor_peers_and_policies_change_on_a_running_channel(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    contract = Path(__file__).parent / "contracts" / "notice_board"
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        nodes = _status(tmp_path)["nodes"]
        application = _application(tmp_path)
        # The genesis block names each member's first peer as its anchor (test-network's way).
        assert {m: g["values"]["AnchorPeers"] for m, g in application["groups"].items()} == {
            "Org1MSP": [nodes["peer-org1-peer0"]["address"]],
            "Org2MSP": [nodes["peer-org2-peer0"]["address"]],
        }
        # A chaincode on the channel's Endorsement policy (MAJORITY of two: both endorse).
        consortium(tmp_path, "chaincode", "deploy", str(contract), "--name", "board")
        assert _planned_organizations(tmp_path, "n1") == ["Org1MSP", "Org2MSP"]

        # Edited in the spec: a second anchor peer for org1, and ANY Endorsement.
        port = free_port()
        text = spec.read_text()
        text = re.sub(
            r"(  - name: org1\n(?:    .*\n)*?    peers:\n      - name: peer0\n        port: \d+\n)",
            lambda m: m.group(1) + f"      - name: peer1\n        port: {port}\n",
            text,
        )
        text = text.replace(
            "      max_message_count: 100\n",
            "      max_message_count: 100\n"
            "    anchor_peers: {org1: [peer0, peer1]}\n"
            "    policies: {Endorsement: ANY Endorsement}\n",
        )
        spec.write_text(text)
        applied = consortium(tmp_path, "up", str(spec))
        assert "policy Endorsement = ANY Endorsement by config update" in applied.stderr  # plan
        assert "channel mychannel: anchor peers of org1" in applied.stderr
        application = _application(tmp_path)
        assert application["groups"]["Org1MSP"]["values"]["AnchorPeers"] == [
            nodes["peer-org1-peer0"]["address"],
            f"127.0.0.1:{port}",
        ]
        assert application["policies"]["Endorsement"] == "ANY Endorsement"
        # The peers enforce the new policy: org1 alone endorses, and it commits VALID.
        assert _planned_organizations(tmp_path, "n2") == ["Org1MSP"]

        # Removing a policy from the spec is refused whole, before anything changes.
        spec.write_text(text.replace("    policies: {Endorsement: ANY Endorsement}\n", ""))
        refused = consortium(tmp_path, "up", str(spec), check=False)
        assert refused.returncode != 0
        assert "channels.mychannel.policies.Endorsement" in refused.stderr
        assert _application(tmp_path)["policies"]["Endorsement"] == "ANY Endorsement"
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)


@pytest.mark.slow
def test_boto3_create_node_and_delete_node_start_and_stop_a_real_peer(tmp_path: Path) -> None:
    from network.controlplane.keyfile import local_secret
    from network.localnet import CREDENTIALS
    from tests.integration.test_controlplane_server import client

    spec = spec_with_free_ports(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "--no-reconcile", "-o", "json")
        status = _status(tmp_path)
        credentials = tmp_path / ".consortium" / "two-members" / CREDENTIALS
        amb = client(
            f"http://{status['nodes']['control-plane']['address']}",
            "111111111111",
            str(local_secret(credentials, "111111111111")),
        )
        network_id = status["network_id"]
        member_id = next(m["id"] for m in status["members"] if m["name"] == "org1")
        node_id = amb.create_node(
            NetworkId=network_id,
            MemberId=member_id,
            NodeConfiguration={"InstanceType": "bc.t3.small", "AvailabilityZone": "us-east-1a"},
        )["NodeId"]
        consortium(tmp_path, "reconcile")
        node = amb.get_node(NetworkId=network_id, MemberId=member_id, NodeId=node_id)["Node"]
        endpoint = node["FrameworkAttributes"]["Fabric"]["PeerEndpoint"]
        assert node["Status"] == "AVAILABLE"
        assert _status(tmp_path)["nodes"]["peer-org1-peer1"]["address"] == endpoint
        status, owner = asyncio.run(_submit_through(tmp_path, "org1", "peer1", "n1"))
        assert (status, owner) == ("VALID", "Peer1")  # it endorsed and committed

        amb.delete_node(NetworkId=network_id, MemberId=member_id, NodeId=node_id)
        consortium(tmp_path, "reconcile")
        node = amb.get_node(NetworkId=network_id, MemberId=member_id, NodeId=node_id)["Node"]
        assert node["Status"] == "DELETED"
        assert _status(tmp_path)["nodes"].get("peer-org1-peer1", {}).get("pid") is None
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)
