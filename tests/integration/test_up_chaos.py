"""kill -9 a random node of a running network under load: the reconciler `up` started
brings it back, no acknowledged transaction is lost, every peer holds the same state, and
the orderer's journal verifies — real processes, the CLI as a user types it."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from pathlib import Path

import pytest

from network.gateway_client import GatewayClient, GatewayClientError
from tests.integration.test_up import spec_with_free_ports
from tests.support.processes import consortium

VICTIMS = ["orderer-orderer0", "peer-org1-peer0", "peer-org2-peer0", "chaincode-basic"]
CHANNEL = "mychannel"


def _connection(home: Path, member: str) -> dict:
    return json.loads((home / "connection" / f"{member}.json").read_text())


async def _load(home: Path, stop: asyncio.Event, acknowledged: list[str], failed: list) -> None:
    """Create assets through both members' gateways until told to stop; an asset counts as
    acknowledged only once its transaction committed VALID."""

    async def member_load(member: str) -> None:
        number = 0
        while not stop.is_set():
            try:
                async with GatewayClient.from_connection(
                    _connection(home, member), "user1"
                ) as client:
                    while not stop.is_set():
                        asset = f"{member}-{number}"
                        number += 1
                        await client.submit(
                            CHANNEL, "basic", "CreateAsset", asset, "red", "1", member, "1"
                        )
                        acknowledged.append(asset)
            except GatewayClientError as exc:  # the node behind it was killed: retry later
                failed.append(str(exc))
                await asyncio.sleep(0.3)

    await asyncio.gather(member_load("org1"), member_load("org2"))


def _pid(home: Path, node: str) -> int | None:
    try:
        return int((home / "pids" / f"{node}.pid").read_text())
    except (OSError, ValueError):
        return None


def _wait_restarted(home: Path, node: str, killed: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _pid(home, node)
        if pid not in (None, killed):
            status = json.loads(consortium(home.parent.parent, "status", "-o", "json").stdout)
            if status["nodes"][node]["listening"]:
                return
        time.sleep(0.3)
    raise AssertionError(f"{node} was not restarted within {timeout:g}s")


async def _all_assets(home: Path, member: str) -> list:
    async with GatewayClient.from_connection(_connection(home, member), "user1") as client:
        return json.loads(await client.evaluate(CHANNEL, "basic", "GetAllAssets"))


async def _scenario(home: Path, victims: list[str]) -> tuple[list[str], list]:
    stop = asyncio.Event()
    acknowledged: list[str] = []
    failed: list = []
    load = asyncio.create_task(_load(home, stop, acknowledged, failed))
    await asyncio.sleep(2)
    for victim in victims:
        before = len(acknowledged)
        killed = _pid(home, victim)
        assert killed is not None, f"{victim} is not running"
        os.kill(killed, signal.SIGKILL)
        await asyncio.to_thread(_wait_restarted, home, victim, killed)
        for _ in range(100):  # the load goes on after the restart
            if len(acknowledged) >= before + 5:
                break
            await asyncio.sleep(0.2)
        assert len(acknowledged) >= before + 5, (
            f"no progress after restarting {victim}: {failed[-3:]}"
        )
    stop.set()
    await load
    return acknowledged, failed


@pytest.mark.slow
def test_kill_random_nodes_under_load(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    home = tmp_path / ".consortium" / "two-members"
    victims = random.sample(VICTIMS, 2)
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        acknowledged, _ = asyncio.run(_scenario(home, victims))

        org1 = asyncio.run(_all_assets(home, "org1"))
        org2 = asyncio.run(_all_assets(home, "org2"))
        assert org1 == org2, f"peers disagree after killing {victims}"
        held = {asset["ID"] for asset in org1}
        lost = [asset for asset in acknowledged if asset not in held]
        assert not lost, f"acknowledged but lost after killing {victims}: {lost}"

        status = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)
        heights = status["channels"][CHANNEL]
        assert len(set(heights.values())) == 1, heights
    finally:
        consortium(tmp_path, "down", check=False)
    journal = home / "ordering" / "orderer0" / "data" / "channels" / CHANNEL / "blocks"
    verified = consortium(tmp_path, "ledger", "verify", "--ledger", str(journal))
    assert "verified" in verified.stdout.lower(), verified.stdout
    consortium(tmp_path, "down", "--purge", check=False)
