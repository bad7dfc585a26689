"""kill -9 a peer while it commits: after restart it replays from its block store and
ends with exactly the other peer's world state."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from network.gateway_client import GatewayClient
from tests.support.fabric_network import FabricNetwork
from tests.support.orderer import CHANNEL


async def _load(client: GatewayClient, prefix: str, stop: asyncio.Event) -> str:
    """Create assets through Org1's gateway until told to stop; the last txid."""
    submitted, n = "", 0
    while not stop.is_set():
        n += 1
        submitted, _ = await client.submit_async(
            CHANNEL,
            "basic",
            "CreateAsset",
            f"{prefix}-{n}",
            "red",
            "1",
            "Ann",
            "1",
            endorsing_organizations=["Org1MSP"],
        )
    return submitted


@pytest.mark.slow
async def test_kill_minus_nine_during_commit_then_identical_state(tmp_path: Path) -> None:
    network = FabricNetwork(tmp_path, policy="OR('Org1MSP.peer', 'Org2MSP.peer')")
    rng = random.Random(11)
    last_tx = ""
    try:
        await network.start()
        await network.join_and_deploy()
        victim = network.peers["Org2MSP"]
        async with network.client("Org1MSP") as client:
            for round_number in range(4):
                stop = asyncio.Event()
                loads = [
                    asyncio.ensure_future(_load(client, f"r{round_number}w{w}", stop))
                    for w in range(4)
                ]
                await asyncio.sleep(rng.uniform(0.5, 1.5))
                assert victim.process is not None
                victim.process.kill()
                stop.set()
                last_tx = next((t for t in await asyncio.gather(*loads) if t), last_tx)
                network.start_peer(victim)
        # The restarted peer catches up: it commits the last transaction too.
        async with network.client("Org2MSP") as reader:
            await asyncio.wait_for(reader.commit_status(CHANNEL, last_tx), timeout=60)
        async with network.client("Org1MSP") as writer:
            await writer.commit_status(CHANNEL, last_tx)
    finally:
        network.stop()

    with network.world_states() as states:
        heights = {m: s.height for m, s in states.items()}
        hashes = {m: s.state_hash() for m, s in states.items()}
    assert heights["Org1MSP"] == heights["Org2MSP"] > 5
    assert hashes["Org1MSP"] == hashes["Org2MSP"]
