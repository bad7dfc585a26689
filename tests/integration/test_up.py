"""`consortium up`: a whole network from one spec, transactions from the CLI, down and
resume with all data — real processes, the CLI as a user types it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from network.controlplane.client import Client
from network.controlplane.keyfile import local_secret, secret_for
from network.localnet import CREDENTIALS
from network.mqtt.access import Login
from tests.support.fabric_network import free_port
from tests.support.mosquitto import LiveLogin, LoginRefused
from tests.support.processes import consortium

ROOT = Path(__file__).resolve().parents[2]


def _query(plane: Client, statement: str, *parameters: str) -> list[dict]:
    body = {"Statement": statement, "Parameters": list(parameters)}
    return plane.call("POST", "/governance/query", body)["Values"]


def spec_with_free_ports(directory: Path) -> Path:
    """deploy/two-members.yaml with every port a free one (``free_port`` never gives
    one twice)."""
    text = (ROOT / "deploy" / "two-members.yaml").read_text()
    text = re.sub(r"port: \d+", lambda _: f"port: {free_port()}", text)
    path = directory / "net.yaml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_up_invoke_down_resume(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        up = json.loads(consortium(tmp_path, "up", str(spec), "-o", "json").stdout)
        assert set(up["nodes"]) >= {
            "control-plane",
            "orderer-orderer0",
            "peer-org1-peer0",
            "ca-org2",
        }

        created = consortium(
            tmp_path,
            "invoke",
            "basic",
            "CreateAsset",
            "a1",
            "red",
            "3",
            "Ann",
            "9",
            "--member",
            "org1",
            "-o",
            "json",
        )
        assert json.loads(created.stdout)["status"] == "VALID"
        txid = json.loads(created.stdout)["txid"]
        explained = consortium(tmp_path, "tx", "explain", txid, "--member", "org1", "-o", "json")
        steps = [s["step"] for s in json.loads(explained.stdout)["steps"]]
        assert {"PROPOSE", "PLAN", "ENDORSE", "SUBMIT", "ORDER", "VALIDATE", "COMMIT"} <= set(steps)
        log = consortium(tmp_path, "logs", "orderer-orderer0", "-n", "5").stdout
        assert "listening on port" in log
        read = consortium(
            tmp_path, "query", "basic", "ReadAsset", "a1", "--member", "org2", "-o", "json"
        )
        assert json.loads(read.stdout)["result"]["Owner"] == "Ann"

        # As the issue types them: no SPEC, the only network under .consortium is meant.
        connection = json.loads(consortium(tmp_path, "connection", "org1", "-o", "json").stdout)
        assert (
            connection["mspId"] == "Org1MSP"
            and Path(connection["gateway"]["tlsRootCert"]).is_file()
        )

        status = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)
        assert status["nodes"]["reconciler"]["state"] == "RUNNING"
        assert status["nodes"]["peer-org1-peer0"]["listening"] is True
        heights = status["channels"]["mychannel"]
        assert heights["peer-org1-peer0"] == heights["orderer-orderer0"] >= 2
        assert sorted(m["name"] for m in status["members"]) == ["org1", "org2"]
        assert status["open_proposals"] == []
        url = f"http://{status['nodes']['control-plane']['address']}"
        secret = local_secret(tmp_path / ".consortium" / "two-members" / CREDENTIALS, "1" * 12)
        assert secret is not None
        _assert_strict_sigv4(url, "1" * 12, secret)
        asyncio.run(_assert_mqtt_ingress_is_org1s(tmp_path / ".consortium" / "two-members"))
        plane = Client(url, "1" * 12, secret=secret)
        peers = {
            row["PeerEndpoint"]: row["Status"]
            for row in _query(
                plane, "SELECT n.Status, n.FrameworkAttributes.Fabric.PeerEndpoint FROM nodes AS n"
            )
        }
        assert peers == {
            status["nodes"]["peer-org1-peer0"]["address"]: "AVAILABLE",
            status["nodes"]["peer-org2-peer0"]["address"]: "AVAILABLE",
        }

        consortium(tmp_path, "down")
        status = json.loads(consortium(tmp_path, "status", str(spec), "-o", "json").stdout)
        assert status["nodes"] == {}

        consortium(tmp_path, "up", str(spec), "-o", "json")  # resumes with its data
        # A peer killed with -9 is restarted by the next reconcile, with its data.
        home = tmp_path / ".consortium" / "two-members"
        pid_file = home / "pids" / "peer-org2-peer0.pid"
        killed = int(pid_file.read_text())
        os.kill(killed, signal.SIGKILL)
        consortium(tmp_path, "reconcile", str(spec))
        status = json.loads(consortium(tmp_path, "status", str(spec), "-o", "json").stdout)
        assert status["nodes"]["peer-org2-peer0"]["state"] == "RUNNING"
        # Killed again, with nobody typing: the reconciler `up` started brings it back.
        killed = int(pid_file.read_text())
        os.kill(killed, signal.SIGKILL)
        for _ in range(150):
            time.sleep(0.2)
            node = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)["nodes"]
            if node["peer-org2-peer0"]["pid"] not in (None, killed):
                break
        assert node["peer-org2-peer0"]["pid"] not in (None, killed)
        # The control plane saw it die and come back (AMB's node status).
        node_id = json.loads((home / "state.json").read_text())["node_ids"]["peer-org2-peer0"]
        for _ in range(50):
            statuses = [
                row["Status"]
                for row in _query(
                    plane,
                    "SELECT h.data.Status FROM history(nodes) AS h WHERE h.data.Id = ?",
                    node_id,
                )
            ]
            if statuses[-2:] == ["FAILED", "AVAILABLE"]:
                break
            time.sleep(0.2)
        assert statuses[-2:] == ["FAILED", "AVAILABLE"], statuses
        back = consortium(
            tmp_path, "query", "basic", "ReadAsset", "a1", "--member", "org2", "-o", "json"
        )
        assert json.loads(back.stdout)["result"]["Owner"] == "Ann"
        again = consortium(
            tmp_path, "query", "basic", "ReadAsset", "a1", "--member", "org1", "-o", "json"
        )
        assert json.loads(again.stdout)["result"]["Owner"] == "Ann"
        moved = consortium(
            tmp_path,
            "invoke",
            "basic",
            "TransferAsset",
            "a1",
            "Bob",
            "--member",
            "org2",
            "--explain",
            "-o",
            "json",
        )
        moved_answer = json.loads(moved.stdout)
        assert moved_answer["result"] == "Ann"
        assert [s["step"] for s in moved_answer["steps"]][-1] == "COMMIT"
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)
    assert not (tmp_path / ".consortium" / "two-members").exists()


def test_invalid_spec_starts_nothing(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    spec.write_text(spec.read_text().replace("members: [org1, org2]", "members: [org1, orgX]"))
    result = consortium(tmp_path, "up", str(spec), check=False)
    assert result.returncode == 2
    assert "channels[0].members[1]" in result.stderr and "orgX" in result.stderr
    assert not (tmp_path / ".consortium").exists()


def test_a_node_that_fails_to_start_stops_everything_and_is_named(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    broken = tmp_path / "broken_contract"
    broken.mkdir()
    (broken / "__init__.py").write_text("raise RuntimeError('this contract cannot load')\n")
    spec.write_text(spec.read_text().replace("sample: asset_transfer", f"path: {broken}"))
    result = consortium(tmp_path, "up", str(spec), check=False)
    assert result.returncode == 2
    assert "chaincode-basic exited while starting (exit code" in result.stderr
    assert "this contract cannot load" in result.stderr  # the end of its log
    status = json.loads(consortium(tmp_path, "status", str(spec), "-o", "json").stdout)
    assert status["nodes"] == {}  # what had started was stopped


def _mqtt_login(network: Path, member: str) -> tuple[str, int, Login]:
    """The broker's address and ``member``'s login, from its connection file."""
    mqtt = json.loads((network / "connection" / f"{member}.json").read_text())["mqtt"]
    host, port = mqtt["endpoint"].rsplit(":", 1)
    return host, int(port), Login(mqtt["username"], mqtt["password"], mqtt["tlsRootCert"])


async def _assert_mqtt_ingress_is_org1s(network: Path, others: tuple[str, ...] = ("org2",)) -> None:
    """up's broker takes TLS logins from the connection files; org1 (the ingress member)
    submits over MQTT, and the requests of ``others`` on the same topic never reach the
    bridge."""
    from network.mqtt import broker, topics

    submit = topics.submit("two-members", "mychannel", "basic", "CreateAsset")
    results = {}
    for member in (*others, "org1"):  # the others first: their requests must not be answered
        host, port, who = _mqtt_login(network, member)
        request = {"id": f"mqtt-{member}", "args": [f"mqtt-{member}", "red", "1", "M", "1"]}
        async with broker.client(host, port, login=who) as client:
            if member == "org1":  # the ingress member reads replies
                await client.subscribe("consortium/two-members/mychannel/result/+", qos=1)
            await client.publish(submit, json.dumps(request), qos=1)
            if member == "org1":

                async def replies() -> None:
                    async for message in client.messages:
                        body = json.loads(message.payload)
                        results[str(message.topic).rsplit("/", 1)[1]] = body
                        if "mqtt-org1" in results:
                            return

                await asyncio.wait_for(replies(), 60)
    assert set(results) == {"mqtt-org1"}, results  # org2's was never submitted
    assert results["mqtt-org1"]["ok"] is True, results


async def _assert_mqtt_submits_as_itself(network: Path, member: str, other: str) -> None:
    """``member`` submits over MQTT on its own topics and the transaction's creator is its
    organization; what it publishes on ``other``'s own topics never reaches the bridge."""
    from network.mqtt import broker, topics

    host, port, who = _mqtt_login(network, member)
    channel = "mychannel"

    def request(name: str) -> bytes:
        return json.dumps({"id": name, "args": [name, "red", "1", "M", "1"]}).encode()

    async with broker.client(host, port, login=who) as client:
        own_prefix = topics.member_prefix("two-members", channel, member)
        await client.subscribe(f"{own_prefix}/result/+", qos=1)
        await client.subscribe(f"{topics.prefix('two-members', channel)}/tx/+", qos=1)
        theirs = topics.member_submit("two-members", channel, other, "basic", "CreateAsset")
        await client.publish(theirs, request(f"mqtt-as-{other}"), qos=1)
        own = topics.member_submit("two-members", channel, member, "basic", "CreateAsset")
        await client.publish(own, request(f"mqtt-as-{member}"), qos=1)
        replies, creators = {}, {}

        async def until_committed() -> None:
            async for message in client.messages:
                body = json.loads(message.payload)
                if "/result/" in str(message.topic):
                    replies[str(message.topic).rsplit("/", 1)[1]] = body
                elif body.get("kind") == "tx":
                    creators[body["txid"]] = body["creator_mspid"]
                done = replies.get(f"mqtt-as-{member}")
                if done is not None and (not done["ok"] or done["txid"] in creators):
                    return

        await asyncio.wait_for(until_committed(), 60)
    reply = replies[f"mqtt-as-{member}"]
    assert reply["ok"] is True, reply
    assert creators[reply["txid"]] == f"{member.capitalize()}MSP"
    assert set(replies) == {f"mqtt-as-{member}"}, replies


def _assert_strict_sigv4(url: str, account: str, secret: str) -> None:
    """up's control plane checks signatures: boto3 with the account's secret from the
    network's credentials file is served, with any other secret refused."""
    from botocore.exceptions import ClientError

    from tests.integration.test_controlplane_server import client

    assert "Networks" in client(url, account, secret).list_networks()
    with pytest.raises(ClientError) as refused:
        client(url, account, "not-" + secret).list_networks()
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"


def _invite_org3(network_id: str, org1, org2, org3, token: str) -> None:
    """Org1 proposes inviting account 333333333333, org1 and org2 vote YES, and the
    invited account creates its member, named org3 (as a user does it with boto3)."""
    members = {
        m["Name"]: m["Id"]
        for m in org1.call("GET", f"/networks/{network_id}/members")["Members"]
        if m["Status"] == "AVAILABLE"
    }
    proposal = org1.call(
        "POST",
        f"/networks/{network_id}/proposals",
        {
            "ClientRequestToken": f"invite-{token}",
            "MemberId": members["org1"],
            "Actions": {"Invitations": [{"Principal": "3" * 12}]},
        },
    )["ProposalId"]
    for client, member in ((org1, "org1"), (org2, "org2")):
        client.call(
            "POST",
            f"/networks/{network_id}/proposals/{proposal}/votes",
            {"VoterMemberId": members[member], "Vote": "YES"},
        )
    invitation = next(
        i["InvitationId"]
        for i in org3.call("GET", "/invitations")["Invitations"]
        if i["Status"] == "PENDING"
    )
    org3.call(
        "POST",
        f"/networks/{network_id}/members",
        {
            "ClientRequestToken": f"member-{token}",
            "InvitationId": invitation,
            "MemberConfiguration": {
                "Name": "org3",
                "FrameworkConfiguration": {
                    "Fabric": {"AdminUsername": "admin", "AdminPassword": "Aa1secretpass"}
                },
            },
        },
    )


def _assert_closed_to_org3(tmp_path: Path, channel: str) -> None:
    """Org3 can neither read the channel through its own peer nor transact on it through
    org1's gateway."""
    read = consortium(
        tmp_path,
        "query",
        "basic",
        "ReadAsset",
        "secret",
        "--member",
        "org3",
        "--channel",
        channel,
        check=False,
    )
    assert read.returncode != 0, read.stdout
    assert "Org1" not in read.stdout
    refused = asyncio.run(_submit_as_org3_through_org1(tmp_path))
    assert "Org3MSP" in refused or "access denied" in refused, refused


async def _submit_as_org3_through_org1(tmp_path: Path, tls_of: str = "org3") -> str:
    """Org3's user, still holding its keys, tries org1's gateway, presenting the TLS client
    certificate of ``tls_of``'s user1; the refusal text."""
    from ca.msp import load_signing_identity
    from network.gateway_client import GatewayClient, GatewayClientError
    from proto.credentials import TlsIdentity

    network = tmp_path / ".consortium" / "two-members"
    user = load_signing_identity(
        network / "members" / "org3" / "users" / "user1" / "msp", "Org3MSP"
    )
    org1 = json.loads((network / "connection" / "org1.json").read_text())["gateway"]
    tls = Path(org1["tlsRootCert"]).read_bytes()
    client_tls = TlsIdentity.from_folder(network / "members" / tls_of / "users" / "user1" / "tls")
    async with GatewayClient(org1["endpoint"], user, tls, client=client_tls) as client:
        try:
            await client.submit("mychannel", "basic", "CreateAsset", "x", "red", "1", "M", "1")
        except GatewayClientError as exc:
            return str(exc) + " " + " ".join(d.message for d in exc.details)
    raise AssertionError("org3 could still transact after it was voted out")


@pytest.mark.slow
def test_a_member_voted_in_after_up_gets_nodes_and_transacts(tmp_path: Path) -> None:
    from network.controlplane.client import Client
    from network.mqtt import topics

    spec = spec_with_free_ports(tmp_path)
    home = tmp_path / ".consortium" / "two-members"
    live: list[LiveLogin] = []  # MQTT clients held open across the votes
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        broker_pid = (home / "pids" / "mosquitto.pid").read_text()
        mqtt_host, mqtt_port, org1_login = _mqtt_login(home, "org1")
        org1_live = LiveLogin(mqtt_host, mqtt_port, org1_login)
        live.append(org1_live)
        network_id = json.loads(consortium(tmp_path, "status", str(spec), "-o", "json").stdout)[
            "network_id"
        ]
        port = re.search(r"control_plane:\n  port: (\d+)", spec.read_text()).group(1)
        endpoint = f"http://127.0.0.1:{port}"
        # up runs the control plane in strict SigV4: each account signs with its secret
        # from the network's credentials file; the invited account's key is added there
        # as a user adds one (the control plane reads the file again when it changes)
        org1, org2, org3 = (
            Client(endpoint, access_key_id=a, secret=secret_for(home / CREDENTIALS, a))
            for a in ("1" * 12, "2" * 12, "3" * 12)
        )
        members = {
            m["Name"]: m["Id"]
            for m in org1.call("GET", f"/networks/{network_id}/members")["Members"]
        }
        _invite_org3(network_id, org1, org2, org3, "first")
        consortium(tmp_path, "invoke", "basic", "CreateAsset", "secret", "red", "1", "Org1",
                   "7", "--member", "org1")  # fmt: skip
        reconciled = consortium(tmp_path, "reconcile", str(spec))
        assert "org3" in reconciled.stdout
        # The running broker learnt org3's login and ACL (same process, no client dropped)
        _, _, org3_login = _mqtt_login(home, "org3")
        org3_live = LiveLogin(mqtt_host, mqtt_port, org3_login)
        live.append(org3_live)
        org3_live.subscribe(topics.blocks("two-members", "mychannel"))
        # CREATING until its CA ran (AMB's way), then AVAILABLE with the CA's endpoint.
        org3_row = next(
            m
            for m in org1.call("GET", f"/networks/{network_id}/members")["Members"]
            if m["Name"] == "org3"
        )
        org3_member = org1.call("GET", f"/networks/{network_id}/members/{org3_row['Id']}")
        assert org3_member["Member"]["Status"] == "AVAILABLE"
        assert org3_member["Member"]["FrameworkAttributes"]["Fabric"]["CaEndpoint"]
        # Joining the network gives access to no channel (as on AMB and in Fabric): org3's
        # peer runs, but mychannel stays closed to it until the channel's admins add it.
        _assert_closed_to_org3(tmp_path, "mychannel")
        added = consortium(tmp_path, "channel", "add-member", "mychannel", "org3")
        assert "org3 is now in channel mychannel" in added.stdout
        secret = consortium(
            tmp_path, "query", "basic", "ReadAsset", "secret", "--member", "org3", "-o", "json"
        )
        assert json.loads(secret.stdout)["result"]["Owner"] == "Org1"
        heights = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)["channels"]
        assert heights["mychannel"]["peer-org3-peer0"] is not None  # a later member shows too
        # invoke/query pick the chaincode's channel from the connection file
        assert json.loads((home / "connection" / "org3.json").read_text())["chaincodes"] == {
            "basic": "mychannel"
        }
        created = consortium(
            tmp_path,
            "invoke",
            "basic",
            "CreateAsset",
            "o3",
            "green",
            "1",
            "Org3",
            "1",
            "--member",
            "org3",
            "-o",
            "json",
        )
        assert json.loads(created.stdout)["status"] == "VALID"
        # in the channel, org3's MQTT user reads its blocks (the ACL followed add-member),
        # submits as itself on its own ingress topics, and cannot submit on org1's
        org3_live.wait_until(lambda c: topics.blocks("two-members", "mychannel") in c.received)
        asyncio.run(_assert_mqtt_ingress_is_org1s(home, others=("org3",)))
        asyncio.run(_assert_mqtt_submits_as_itself(home, "org3", other="org1"))
        missing = consortium(tmp_path, "query", "basic", "ReadAsset", "mqtt-as-org1", check=False)
        assert missing.returncode != 0  # org3's request on org1's own topics was never run
        read = consortium(
            tmp_path, "query", "basic", "ReadAsset", "o3", "--member", "org1", "-o", "json"
        )
        assert json.loads(read.stdout)["result"]["Owner"] == "Org3"
        again = consortium(tmp_path, "reconcile", str(spec))  # idempotent
        assert again.returncode == 0

        # The channel's admins take org3 out again, and put it back.
        consortium(tmp_path, "channel", "remove-member", "mychannel", "org3")
        _assert_closed_to_org3(tmp_path, "mychannel")
        consortium(tmp_path, "channel", "add-member", "mychannel", "org3")
        read = consortium(tmp_path, "query", "basic", "ReadAsset", "o3", "--member", "org3")
        assert "Org3" in read.stdout

        # Now the consortium votes org3 out: its nodes stop, its organization leaves the
        # channel, and its identity can no longer transact through anyone's gateway.
        members = {
            m["Name"]: m["Id"]
            for m in org1.call("GET", f"/networks/{network_id}/members")["Members"]
        }
        removal = org1.call(
            "POST",
            f"/networks/{network_id}/proposals",
            {
                "ClientRequestToken": "t3",
                "MemberId": members["org1"],
                "Actions": {"Removals": [{"MemberId": members["org3"]}]},
            },
        )["ProposalId"]
        for client, member in ((org1, "org1"), (org2, "org2")):
            client.call(
                "POST",
                f"/networks/{network_id}/proposals/{removal}/votes",
                {"VoterMemberId": members[member], "Vote": "YES"},
            )
        consortium(tmp_path, "reconcile", str(spec))
        status = json.loads(consortium(tmp_path, "status", str(spec), "-o", "json").stdout)
        assert not [n for n in status["nodes"] if "org3" in n]
        # As AMB shows it: DELETING while its nodes ran, DELETED once they are gone.
        gone = org1.call("GET", f"/networks/{network_id}/members/{members['org3']}")["Member"]
        assert gone["Status"] == "DELETED"
        nodes = org1.call(
            "GET", f"/networks/{network_id}/nodes", query={"memberId": members["org3"]}
        )
        assert {n["Status"] for n in nodes["Nodes"]} == {"DELETED"}
        # Its MQTT login stopped working: its open session was closed and it cannot sign
        # in again; org1 stayed connected to the same broker throughout
        org3_live.wait_until(lambda c: bool(c.disconnects))
        with pytest.raises(LoginRefused):
            LiveLogin(mqtt_host, mqtt_port, org3_login).close()
        assert (home / "pids" / "mosquitto.pid").read_text() == broker_pid
        assert org1_live.disconnects == []
        assert org1_live.publish(topics.submit("two-members", "mychannel", "basic", "x"), b"{}")
        # Its TLS CA left the network's trust bundle: refused at the handshake ...
        refused = asyncio.run(_submit_as_org3_through_org1(tmp_path))
        assert "UNAVAILABLE" in refused and "Org3MSP" not in refused
        # ... and past it (a member's TLS certificate), by the endorser, which does not
        # name the organization it no longer knows, as Fabric's
        refused = asyncio.run(_submit_as_org3_through_org1(tmp_path, tls_of="org1"))
        assert "creator org unknown" in refused and "Org3MSP" not in refused

        # Invited back under its old name: a new member with a new CA and peer (its old
        # files set aside), in no channel until the channel's admins add it again.
        _invite_org3(network_id, org1, org2, org3, "again")
        consortium(tmp_path, "reconcile", str(spec))  # (or the reconciler got there first)
        assert (home / "members" / "org3.removed-1" / "ca").is_dir()
        status = json.loads(consortium(tmp_path, "status", str(spec), "-o", "json").stdout)
        assert status["nodes"]["peer-org3-peer0"]["state"] == "RUNNING"
        _, _, org3_again = _mqtt_login(home, "org3")  # a new member: a new password
        assert org3_again.password != org3_login.password
        LiveLogin(mqtt_host, mqtt_port, org3_again).close()
        consortium(tmp_path, "channel", "add-member", "mychannel", "org3")
        created = consortium(
            tmp_path, "invoke", "basic", "CreateAsset", "o4", "blue", "1", "Org3", "1",
            "--member", "org3", "-o", "json",
        )  # fmt: skip
        assert json.loads(created.stdout)["status"] == "VALID"
    finally:
        for client in live:
            client.close()
        consortium(tmp_path, "down", str(spec), "--purge", check=False)
