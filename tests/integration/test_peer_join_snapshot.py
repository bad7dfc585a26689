"""A peer joins a channel from a peer snapshot (Fabric's ``peer channel joinbysnapshot``):
added to a running network by naming the snapshot in the spec and running `up`, it
serves the channel from the snapshot's height — its world state is the snapshot's, it
commits and endorses new blocks, and the blocks before the snapshot are not on it, as in
Fabric. When Fabric's own ``peer`` binary is on this machine, its unmodified
``joinbysnapshot`` and ``joinbysnapshotstatus`` join another peer process the same way.
Real processes throughout; about 2 minutes, so under `make snapshots` (``SNAPSHOTS_LONG=1``);
the default suite joins in-process (tests/unit/peers/test_snapshot_join.py)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2_grpc

from tests.integration.test_peer_snapshot import FABRIC_PEER, _call, _completed, _height, _home
from tests.integration.test_up import spec_with_free_ports
from tests.integration.test_up_cluster import _invoke
from tests.support.fabric_network import free_port
from tests.support.mtls import member_tls
from tests.support.processes import CONSORTIUM, consortium

CHANNEL = "mychannel"

pytestmark = pytest.mark.skipif(
    not os.environ.get("SNAPSHOTS_LONG"),
    reason="a network, a peer added to it and Fabric's CLI (~2 min): `make snapshots`",
)


def _heights(tmp_path: Path) -> dict[str, int]:
    return json.loads(consortium(tmp_path, "status", "-o", "json").stdout)["channels"][CHANNEL]


async def _read(tmp_path: Path, address: str, tls: Path, asset: str) -> str:
    """ReadAsset evaluated on the peer at ``address`` (its gateway runs it locally)."""
    from network.gateway_client import GatewayClient, signer_of

    home = _home(tmp_path)
    connection = json.loads((home / "connection" / "org1.json").read_text())
    user = signer_of(connection, "user1")
    client = member_tls(home, "org1")
    async with GatewayClient(address, user, tls.read_bytes(), client=client) as gw:
        return (await gw.evaluate(CHANNEL, "basic", "ReadAsset", asset)).decode()


async def _deliver_from(tmp_path: Path, address: str, tls: Path, number: int):
    """Deliver's answer for block ``number`` on the peer at ``address``: the block's
    number, or the failing status."""
    from ca.msp import load_signing_identity
    from proto.credentials import channel_credentials
    from proto.seek import build_seek_envelope

    home = _home(tmp_path)
    signer = load_signing_identity(home / "members/org1/users/user1/msp", "Org1MSP")
    envelope = build_seek_envelope(signer, CHANNEL, number, number)
    credentials = channel_credentials(tls.read_bytes(), member_tls(home, "org1"))
    async with grpc.aio.secure_channel(address, credentials) as ch:
        async for answer in events_pb2_grpc.DeliverStub(ch).Deliver(iter([envelope])):
            if answer.HasField("block"):
                return answer.block.header.number
            return common_pb2.Status.Name(answer.status)
    return None


@pytest.mark.slow
def test_a_peer_added_from_a_snapshot_serves_the_channel_from_its_height(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        for n in range(3):
            _invoke(tmp_path, f"before{n}", "org1")
        asyncio.run(_call(tmp_path, "Generate", "orgadmin", 0))  # at the last block
        last = _height(tmp_path) - 1
        snapshot = _completed(tmp_path) / str(last)
        copied = tmp_path / "taken" / str(last)  # as an operator would move it
        shutil.copytree(snapshot, copied)

        # Add org1/peer1 to the running network, joined from the snapshot.
        port = free_port()
        text = spec.read_text().replace(
            "      - name: peer0\n",
            f"      - name: peer1\n        port: {port}\n        snapshot: {copied}\n"
            "      - name: peer0\n",
            1,
        )
        spec.write_text(text)
        up = consortium(tmp_path, "up", str(spec))
        assert "peer1 joined channel mychannel from its snapshot" in up.stdout + up.stderr
        _invoke(tmp_path, "after0", "org2")
        heights = _heights(tmp_path)
        assert heights["peer-org1-peer1"] == heights["peer-org1-peer0"] > last + 1, heights

        address = f"127.0.0.1:{port}"
        tls = _home(tmp_path) / "members" / "org1" / "peers" / "peer1" / "tls" / "ca.crt"
        # Its world state: the snapshot's, then the blocks since, and it endorses.
        assert "before1" in asyncio.run(_read(tmp_path, address, tls, "before1"))
        assert "after0" in asyncio.run(_read(tmp_path, address, tls, "after0"))
        # History before the snapshot is not on it; the blocks after are.
        assert asyncio.run(_deliver_from(tmp_path, address, tls, 0)) == "NOT_FOUND"
        assert asyncio.run(_deliver_from(tmp_path, address, tls, last + 1)) == last + 1
        verified = json.loads(
            consortium(
                tmp_path, "ledger", "verify", "--node", "peer-org1-peer1", "-o", "json"
            ).stdout
        )
        assert verified["blocks"] >= 1, verified

        if FABRIC_PEER.exists():
            _fabric_cli_joins_by_snapshot(tmp_path, copied)
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)


def _fabric_cli_joins_by_snapshot(tmp_path: Path, snapshot: Path) -> None:
    """Fabric 2.5.12's ``peer channel joinbysnapshot``, unmodified, against one more peer
    process (org1/peer0's identity, its own ports and data) that has joined nothing."""
    home = _home(tmp_path)
    source = home / "members" / "org1" / "peers" / "peer0"
    admin_tls = home / "members" / "org1" / "users" / "orgadmin" / "tls"
    extra = tmp_path / "extra-peer"
    shutil.copytree(source / "msp", extra / "msp")
    shutil.copytree(source / "tls", extra / "tls")
    port = free_port()
    text = re.sub(r"^listen: .*$", f"listen: 127.0.0.1:{port}", (source / "peer.yaml").read_text(),
                  flags=re.M)  # fmt: skip
    text = re.sub(r"^  listen: .*$", f"  listen: 127.0.0.1:{free_port()}", text, flags=re.M)
    (extra / "peer.yaml").write_text(text)
    with open(extra / "log", "wb") as log:
        process = subprocess.Popen(
            [*CONSORTIUM, "node", "run", "peer", "--config", str(extra / "peer.yaml")],
            cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        env = {
            **os.environ,
            "FABRIC_CFG_PATH": str(FABRIC_PEER.parent.parent / "config"),
            "CORE_PEER_LOCALMSPID": "Org1MSP",
            "CORE_PEER_MSPCONFIGPATH": str(home / "members/org1/users/orgadmin/msp"),
            "CORE_PEER_TLS_ENABLED": "true",
            "CORE_PEER_TLS_ROOTCERT_FILE": str(extra / "tls" / "ca.crt"),
            "CORE_PEER_ADDRESS": f"127.0.0.1:{port}",
            # mutual TLS: the peer copies org1/peer0's, which requires a client certificate
            "CORE_PEER_TLS_CLIENTAUTHREQUIRED": "true",
            "CORE_PEER_TLS_CLIENTCERT_FILE": str(admin_tls / "client.crt"),
            "CORE_PEER_TLS_CLIENTKEY_FILE": str(admin_tls / "client.key"),
        }

        def peer(*args: str) -> str:
            command = [str(FABRIC_PEER), "channel", *args]
            done = subprocess.run(command, env=env, capture_output=True, text=True,
                                  timeout=60, check=False)  # fmt: skip
            return done.stdout + done.stderr

        assert asyncio.run(_wait_listening(port)), (extra / "log").read_text()[-2000:]
        joined = peer("joinbysnapshot", "--snapshotpath", str(snapshot))
        assert "joinbysnapshot operation is in progress" in joined, joined
        assert "No joinbysnapshot operation is in progress" in peer("joinbysnapshotstatus")
        assert CHANNEL in peer("list")
        again = peer("joinbysnapshot", "--snapshotpath", str(snapshot))
        assert f"ledger [{CHANNEL}] already exists" in again, again
        empty = tmp_path / "empty"
        empty.mkdir()
        refused = peer("joinbysnapshot", "--snapshotpath", str(empty))
        assert f"snapshot dir {empty} is empty" in refused, refused
    finally:
        process.terminate()
        process.wait(20)


async def _wait_listening(port: int, timeout: float = 30) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return True
        except OSError:
            await asyncio.sleep(0.2)
    return False
