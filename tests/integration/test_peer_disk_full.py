"""A peer's data folder on a size-limited tmpfs that fills up under load: the channel
halts on the failed commit (nothing half-written), the peer reports it (/healthz,
metrics) and refuses what it cannot honour with UNAVAILABLE, while commit status waits;
once the tmpfs grows the peer catches up by itself — no restart — to the orderer's
height, with the other peer's world state and every acknowledged transaction.

It starts a whole network (orderer, two peers, a contract), so it runs under
``make hardening`` (``CONSORTIUM_HARDENING=1``); ``make test`` runs the in-process
version on a tmpfs (``tests/unit/peers/test_commit_halts.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2

from network.gateway_client import GatewayClient, GatewayClientError
from proto.proposal import propose
from tests.support.fabric_network import FabricNetwork, PeerProcess
from tests.support.orderer import CHANNEL
from tests.support.tmpfs import grow, leave_room, small_filesystem

pytestmark = pytest.mark.skipif(
    not os.environ.get("CONSORTIUM_HARDENING"), reason="make hardening runs it"
)
ROOM = 1024 * 1024
"""Free bytes left on the victim's tmpfs when the load starts (about a dozen 12 KB assets)."""
OWNER = "o" * 12_000  # the envelope stays under the test channel's 64 KB AbsoluteMaxBytes


def _get(address: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


async def _health(peer: PeerProcess) -> tuple[int, dict]:
    status, body = await asyncio.to_thread(_get, peer.operations, "/healthz")
    return status, json.loads(body)


async def _metric(peer: PeerProcess, line_start: str) -> str:
    _, body = await asyncio.to_thread(_get, peer.operations, "/metrics")
    return next((line for line in body.splitlines() if line.startswith(line_start)), "")


async def _create(client: GatewayClient, name: str) -> str:
    """One 12 KB asset through Org1's gateway, endorsed by Org1 alone; its txid once
    Org1's peer committed it VALID (acknowledged)."""
    tx_id, _ = await client.submit_async(
        CHANNEL, "basic", "CreateAsset", name, "red", "1", OWNER, "1",
        endorsing_organizations=["Org1MSP"],
    )  # fmt: skip
    code, _ = await client.commit_status(CHANNEL, tx_id)
    assert code == 0, f"{name}: validation code {code}"
    return tx_id


async def test_full_peer_disk_halts_refuses_then_catches_up(tmp_path: Path) -> None:
    network = FabricNetwork(tmp_path, policy="OR('Org1MSP.peer', 'Org2MSP.peer')", operations=True)
    victim_data = tmp_path / "Org2MSP" / "data"
    acknowledged: list[str] = []
    with small_filesystem(victim_data, "64m"):
        async with network.deployed():
            victim = network.peers["Org2MSP"]
            pid = victim.process.process.pid  # type: ignore[union-attr]
            assert (await _health(victim))[0] == 200
            leave_room(victim_data, ROOM)
            async with (
                network.client("Org1MSP") as org1,
                network.client("Org2MSP") as org2,
            ):
                for n in range(200):  # until the victim cannot commit
                    acknowledged.append(await _create(org1, f"big-{n}"))
                    if (await _health(victim))[0] != 200:
                        break
                status, health = await _health(victim)
                assert status == 503, "the disk never filled"
                assert len(acknowledged) > 1
                reason = next(
                    c["reason"] for c in health["failed_checks"] if c["component"] == "commit"
                )
                assert f"channel {CHANNEL} is unavailable on this peer: committing block" in reason
                assert await _metric(victim, f'ledger_commit_halted{{channel="{CHANNEL}"}} 1')

                # Refused as by a peer that is down: its gateway's Endorse and Submit ...
                with pytest.raises(GatewayClientError) as endorse:
                    await org2.submit_async(
                        CHANNEL, "basic", "CreateAsset", "x", "red", "1", "Bo", "1"
                    )
                assert endorse.value.code == grpc.StatusCode.UNAVAILABLE
                assert f"channel {CHANNEL} is unavailable" in str(endorse.value)
                proposed = propose(
                    network.users["Org1MSP"],
                    CHANNEL,
                    "basic",
                    ["CreateAsset", "y", "red", "1", "Bo", "1"],
                )
                endorsed = await org1.gateway.Endorse(
                    gateway_pb2.EndorseRequest(
                        transaction_id=proposed.tx_id, channel_id=CHANNEL,
                        proposed_transaction=proposed.signed, endorsing_organizations=["Org1MSP"],
                    )
                )  # fmt: skip
                envelope = endorsed.prepared_transaction
                envelope.signature = network.users["Org1MSP"].sign(envelope.payload)
                with pytest.raises(grpc.aio.AioRpcError) as submit:
                    await org2.gateway.Submit(
                        gateway_pb2.SubmitRequest(
                            transaction_id=proposed.tx_id, channel_id=CHANNEL,
                            prepared_transaction=envelope,
                        )
                    )  # fmt: skip
                assert submit.value.code() == grpc.StatusCode.UNAVAILABLE
                # ... its endorser, which another gateway reads as an unreachable peer ...
                with pytest.raises(GatewayClientError) as remote:
                    await org1.submit_async(
                        CHANNEL, "basic", "CreateAsset", "z", "red", "1", "Bo", "1",
                        endorsing_organizations=["Org2MSP"],
                    )  # fmt: skip
                assert [d.msp_id for d in remote.value.details] == ["Org2MSP"]
                assert "code = Unavailable" in remote.value.details[0].message
                # ... while commit status waits for what the victim has not committed.
                with pytest.raises(TimeoutError):
                    await asyncio.wait_for(org2.commit_status(CHANNEL, acknowledged[-1]), 1.5)

                grow(victim_data)
                for tx_id in acknowledged:  # caught up, by itself
                    assert (await asyncio.wait_for(org2.commit_status(CHANNEL, tx_id), 60))[0] == 0
                acknowledged.append(await _create(org1, "after"))
                await asyncio.wait_for(org2.commit_status(CHANNEL, acknowledged[-1]), 60)
                assert (await _health(victim))[0] == 200
                assert await _metric(victim, f'ledger_commit_halted{{channel="{CHANNEL}"}} 0')
                failures = await _metric(victim, f'ledger_commit_failures{{channel="{CHANNEL}"}}')
                assert float(failures.split()[-1]) >= 1

            blocks, status = await network.orderer.deliver(
                network.orderer.client(), "oldest", "newest"
            )
            assert status == common_pb2.SUCCESS
            assert victim.process.process.pid == pid  # type: ignore[union-attr]
            assert victim.process.process.poll() is None  # type: ignore[union-attr]

        with network.world_states() as states:
            heights = {m: s.height for m, s in states.items()}
            hashes = {m: s.state_hash() for m, s in states.items()}
            codes = {tx_id: states["Org2MSP"].transaction(tx_id) for tx_id in acknowledged}
    assert heights == {"Org1MSP": len(blocks), "Org2MSP": len(blocks)}
    assert hashes["Org1MSP"] == hashes["Org2MSP"]
    assert all(found is not None and found[2] == 0 for found in codes.values()), codes
