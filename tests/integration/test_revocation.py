"""Revocation end to end, as an operator types it: `consortium ca revoke --member org1
alice` on a running network (`up` of deploy/two-members.yaml) — org1's CA revokes alice,
the new CRL reaches the channel by a config update — and then alice's proposals are
refused by every peer with Fabric's endorser answer, and a transaction she had endorsed
before is refused by the ordering service; user1 keeps working."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import grpc
import pytest
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.peer import peer_pb2_grpc

from ca.msp import load_signing_identity
from peers.channel import OrdererEndpoint
from proto.proposal import propose
from tests.integration.test_up import spec_with_free_ports
from tests.support.mtls import member_tls
from tests.support.processes import consortium

CHANNEL = "mychannel"
DENIED = f"access denied: channel [{CHANNEL}] creator org [Org1MSP]"


def _json(tmp_path: Path, *args: str) -> dict:
    return json.loads(consortium(tmp_path, *args, "-o", "json").stdout)


def _peers(tmp_path: Path) -> dict[str, OrdererEndpoint]:
    """member → its peer (address, TLS root), dialled with org1's TLS client certificate."""
    home = tmp_path / ".consortium" / "two-members"
    nodes = _json(tmp_path, "status")["nodes"]
    return {
        member: OrdererEndpoint(
            nodes[f"peer-{member}-peer0"]["address"],
            (home / "members" / member / "peers" / "peer0" / "tls" / "ca.crt").read_bytes(),
            client=member_tls(home, "org1"),
        )
        for member in ("org1", "org2")
    }


async def _endorse_at(peer: OrdererEndpoint, signer, asset: str) -> grpc.aio.AioRpcError:
    proposed = propose(signer, CHANNEL, "basic", ["CreateAsset", asset, "red", "1", "A", "1"])
    async with peer.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await peer_pb2_grpc.EndorserStub(channel).ProcessProposal(proposed.signed)
    return refused.value


async def _prepared(peer: OrdererEndpoint, signer) -> tuple[str, object]:
    """A transaction endorsed by both members (through org1's gateway), not yet submitted."""
    proposed = propose(signer, CHANNEL, "basic", ["CreateAsset", "early", "red", "1", "A", "1"])
    async with peer.channel() as channel:
        endorsed = await gateway_pb2_grpc.GatewayStub(channel).Endorse(
            gateway_pb2.EndorseRequest(
                transaction_id=proposed.tx_id,
                channel_id=CHANNEL,
                proposed_transaction=proposed.signed,
            )
        )
    envelope = endorsed.prepared_transaction
    envelope.signature = signer.sign(envelope.payload)
    return proposed.tx_id, envelope


async def _submit(peer: OrdererEndpoint, tx_id: str, envelope) -> grpc.aio.AioRpcError:
    async with peer.channel() as channel:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await gateway_pb2_grpc.GatewayStub(channel).Submit(
                gateway_pb2.SubmitRequest(
                    transaction_id=tx_id, channel_id=CHANNEL, prepared_transaction=envelope
                )
            )
    return refused.value


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("CONSORTIUM_REVOCATION_E2E"),
    reason="run by `make revocation` (a whole `up` network, ~50 s); `make test` runs "
    "tests/unit/peers/test_revoked_creator.py",
)
def test_a_revoked_identity_is_refused_everywhere(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        consortium(tmp_path, "ca", "adduser", "alice", "--member", "org1")
        made = _json(tmp_path, "invoke", "basic", "CreateAsset", "a1", "blue", "5", "Alice",
                     "10", "--member", "org1", "--identity", "alice")  # fmt: skip
        assert made["status"] == "VALID"
        home = tmp_path / ".consortium" / "two-members"
        alice = load_signing_identity(home / "members/org1/users/alice/msp", "Org1MSP")
        peers = _peers(tmp_path)
        tx_id, early = asyncio.run(_prepared(peers["org1"], alice))

        revoked = _json(tmp_path, "ca", "revoke", "alice", "--member", "org1")
        assert revoked["channels updated"] == CHANNEL and revoked["revoked"] != "none"
        assert (home / "members/org1/msp/crls/crl.pem").exists()
        config = _json(tmp_path, "channel", "config", CHANNEL)
        org1 = config["Channel"]["groups"]["Application"]["groups"]["Org1MSP"]
        assert json.dumps(org1["values"]["MSP"]).count("revocation_list") == 1

        # Every peer's endorser refuses her proposals with Fabric's answer ...
        for member, peer in peers.items():
            refused = asyncio.run(_endorse_at(peer, alice, f"x-{member}"))
            assert refused.code() == grpc.StatusCode.UNKNOWN, member
            assert DENIED in refused.details(), (member, refused.details())
        # ... the CLI says so ...
        again = consortium(tmp_path, "invoke", "basic", "CreateAsset", "a2", "blue", "5",
                           "A", "10", "--member", "org1", "--identity", "alice",
                           check=False)  # fmt: skip
        assert again.returncode == 1 and "access denied" in again.stderr
        # ... what she had endorsed before is not ordered ...
        refused = asyncio.run(_submit(peers["org1"], tx_id, early))
        assert refused.code() == grpc.StatusCode.ABORTED, refused.details()
        assert "FORBIDDEN" in refused.details() or "access denied" in refused.details()
        # ... and org1's other identities are unaffected.
        fine = _json(tmp_path, "invoke", "basic", "CreateAsset", "a3", "blue", "5", "U", "10",
                     "--member", "org1")  # fmt: skip
        assert fine["status"] == "VALID"

        # An identity the CA does not know is a clear error, and nothing changes.
        unknown = consortium(tmp_path, "ca", "revoke", "nobody", "--member", "org1",
                             check=False)  # fmt: skip
        assert unknown.returncode != 0 and "refused to revoke 'nobody'" in unknown.stderr

        # Running it again changes nothing in the channel and says where the CRL is.
        second = _json(tmp_path, "ca", "revoke", "alice", "--member", "org1")
        assert second["channels updated"] == CHANNEL
    finally:
        consortium(tmp_path, "down", check=False)
