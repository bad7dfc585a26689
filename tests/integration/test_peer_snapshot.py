"""A peer answers Fabric's snapshot requests (``peer snapshot submitrequest |
cancelrequest | listpending``) over its real gRPC port: a snapshot at the last block at
once, one at a later block when it commits, Fabric's refusals, admins only — and, when
Fabric's own ``peer`` binary is on this machine, that CLI unmodified."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from pathlib import Path

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import snapshot_pb2, snapshot_pb2_grpc

from proto.credentials import channel_credentials
from tests.integration.test_up import spec_with_free_ports
from tests.support.mtls import member_tls
from tests.support.processes import consortium

NETWORK = "two-members"
FABRIC_PEER = Path(os.environ.get("FABRIC_BIN", "/root/.cache/fabric-anchor/bin")) / "peer"


def _home(tmp_path: Path) -> Path:
    return tmp_path / ".consortium" / NETWORK


def _signed(tmp_path: Path, user: str, message) -> snapshot_pb2.SignedSnapshotRequest:
    from ca.msp import load_signing_identity

    signer = load_signing_identity(
        _home(tmp_path) / "members" / "org1" / "users" / user / "msp", "Org1MSP"
    )
    message.signature_header.CopyFrom(
        common_pb2.SignatureHeader(creator=signer.creator, nonce=os.urandom(24))
    )
    raw = message.SerializeToString()
    return snapshot_pb2.SignedSnapshotRequest(request=raw, signature=signer.sign(raw))


async def _call(tmp_path: Path, method: str, user: str, block: int = 0):
    """One Snapshot call to org1's peer; the answer, or the gRPC error's details."""
    status = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)
    address = status["nodes"]["peer-org1-peer0"]["address"]
    tls = (_home(tmp_path) / "members" / "org1" / "peers" / "peer0" / "tls" / "ca.crt").read_bytes()
    if method == "QueryPendings":
        message = snapshot_pb2.SnapshotQuery(channel_id="mychannel")
    else:
        message = snapshot_pb2.SnapshotRequest(channel_id="mychannel", block_number=block)
    credentials = channel_credentials(tls, member_tls(_home(tmp_path), "org1"))
    async with grpc.aio.secure_channel(address, credentials) as channel:
        stub = snapshot_pb2_grpc.SnapshotStub(channel)
        try:
            return await getattr(stub, method)(_signed(tmp_path, user, message), timeout=10)
        except grpc.aio.AioRpcError as exc:
            return exc.details()


def _completed(tmp_path: Path) -> Path:
    peer = _home(tmp_path) / "members" / "org1" / "peers" / "peer0"
    return next(peer.rglob("snapshots")) / "completed" / "mychannel"


def _height(tmp_path: Path) -> int:
    status = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)
    return status["channels"]["mychannel"]["peer-org1-peer0"]


@pytest.mark.slow
def test_a_peer_takes_snapshots_as_fabric_asks_for_them(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        last = _height(tmp_path) - 1

        # Block 0 means the last committed block: written at once.
        asyncio.run(_call(tmp_path, "Generate", "orgadmin", 0))
        folder = _completed(tmp_path) / str(last)
        signable = json.loads((folder / "_snapshot_signable_metadata.json").read_text())
        assert signable["channel_name"] == "mychannel"
        assert signable["last_block_number"] == last
        for name, digest in signable["snapshot_files_raw_hashes"].items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
        assert (folder / "public_state.data").read_text().count("\n") > 0  # basic's assets
        additional = json.loads((folder / "_snapshot_additional_metadata.json").read_text())
        assert (
            additional["snapshot_hash"]
            == hashlib.sha256(
                (folder / "_snapshot_signable_metadata.json").read_bytes()
            ).hexdigest()
        )

        # A later block: pending until it commits, then written and no longer pending.
        later = last + 2
        asyncio.run(_call(tmp_path, "Generate", "orgadmin", later))
        pending = asyncio.run(_call(tmp_path, "QueryPendings", "orgadmin"))
        assert list(pending.block_numbers) == [later]
        for n in range(2):
            consortium(tmp_path, "invoke", "basic", "CreateAsset", f"s{n}", "red", "1", "S", "1",
                       "--member", "org1")  # fmt: skip
        assert (_completed(tmp_path) / str(later) / "txids.data").exists()
        assert list(asyncio.run(_call(tmp_path, "QueryPendings", "orgadmin")).block_numbers) == []

        # Fabric's refusals, word for word; and only the peer's admins may ask.
        now = _height(tmp_path) - 1
        assert asyncio.run(_call(tmp_path, "Generate", "orgadmin", 1)) == (
            f"requested snapshot for block number 1 cannot be less than the last committed "
            f"block number {now}"
        )
        asyncio.run(_call(tmp_path, "Generate", "orgadmin", now + 50))
        assert asyncio.run(_call(tmp_path, "Generate", "orgadmin", now + 50)) == (
            f"duplicate snapshot request for block number {now + 50}"
        )
        asyncio.run(_call(tmp_path, "Cancel", "orgadmin", now + 50))
        assert asyncio.run(_call(tmp_path, "Cancel", "orgadmin", now + 50)) == (
            f"no snapshot request exists for block number {now + 50}"
        )
        refused = asyncio.run(_call(tmp_path, "QueryPendings", "user1"))
        assert "access denied" in refused and "not an admin of Org1MSP" in refused

        if FABRIC_PEER.exists():  # Fabric's own CLI, unmodified
            _fabric_cli_lists_and_submits(tmp_path, now + 7)
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)


def _fabric_cli_lists_and_submits(tmp_path: Path, block: int) -> None:
    home = _home(tmp_path)
    status = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)
    tls = home / "members" / "org1" / "peers" / "peer0" / "tls" / "ca.crt"
    admin_tls = home / "members" / "org1" / "users" / "orgadmin" / "tls"
    env = {
        **os.environ,
        "FABRIC_CFG_PATH": str(FABRIC_PEER.parent.parent / "config"),
        "CORE_PEER_LOCALMSPID": "Org1MSP",
        "CORE_PEER_MSPCONFIGPATH": str(home / "members" / "org1" / "users" / "orgadmin" / "msp"),
        "CORE_PEER_TLS_ENABLED": "true",
        "CORE_PEER_TLS_ROOTCERT_FILE": str(tls),
        # mutual TLS, as Fabric's CLI is told to present the admin's TLS certificate
        "CORE_PEER_TLS_CLIENTAUTHREQUIRED": "true",
        "CORE_PEER_TLS_CLIENTCERT_FILE": str(admin_tls / "client.crt"),
        "CORE_PEER_TLS_CLIENTKEY_FILE": str(admin_tls / "client.key"),
    }
    where = ["--peerAddress", status["nodes"]["peer-org1-peer0"]["address"],
             "--tlsRootCertFile", str(tls), "-c", "mychannel"]  # fmt: skip

    def peer(*args: str) -> str:
        done = subprocess.run([str(FABRIC_PEER), "snapshot", *args, *where], env=env,
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        return done.stdout + done.stderr

    assert "submitted successfully" in peer("submitrequest", "-b", str(block))
    assert f"[{block}]" in peer("listpending")
    assert "cancelled successfully" in peer("cancelrequest", "-b", str(block))
    assert "duplicate" not in peer("submitrequest", "-b", str(block))
