"""Snapshots of a running network: taken under load without stopping anything, restored
to a network whose journals verify and whose world state is the source's at the
snapshot's heights; `reset` goes back to `up`'s bootstrap — real processes, the CLI as a
user types it, load from the Python gateway client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import pytest

from tests.integration.test_up import spec_with_free_ports
from tests.support.processes import consortium

NETWORK = "two-members"
CHANNEL = "mychannel"


class Load:
    """CreateAsset s<n> submitted through org1's gateway, 8 at a time, until stopped;
    remembers the block each one committed in (submit returns once it is VALID)."""

    def __init__(self, tmp_path: Path, network: str = NETWORK) -> None:
        self.tmp_path = tmp_path
        self.network = network
        self.blocks: dict[str, int] = {}
        self.failures: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()))

    async def _run(self) -> None:
        from network.gateway_client import GatewayClient

        connection = json.loads(
            (self.tmp_path / ".consortium" / self.network / "connection" / "org1.json").read_text()
        )
        async with GatewayClient.from_connection(connection, "user1") as client:
            counter = iter(range(10**6))

            async def worker() -> None:
                while not self.stop.is_set():
                    asset = f"s{next(counter)}"
                    try:
                        done = await client.submit(
                            CHANNEL, "basic", "CreateAsset", asset, "red", "1", "Load", "1"
                        )
                        self.blocks[asset] = done.block
                    except Exception as exc:  # every failure is reported by the test
                        self.failures.append(f"{asset}: {exc}")

            await asyncio.gather(*(worker() for _ in range(8)))

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(60)


def _wait_for(load: Load, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(load.blocks) < count:
        assert time.monotonic() < deadline and not load.failures, load.failures
        time.sleep(0.1)


async def _existing(tmp_path: Path, assets: list[str], network: str = NETWORK) -> set[str]:
    """Which of ``assets`` org2's peer has in its world state."""
    from network.gateway_client import GatewayClient, GatewayClientError

    connection = json.loads(
        (tmp_path / ".consortium" / network / "connection" / "org2.json").read_text()
    )
    found = set()
    async with GatewayClient.from_connection(connection, "user1") as client:
        for asset in assets:
            try:
                await client.evaluate(CHANNEL, "basic", "ReadAsset", asset)
                found.add(asset)
            except GatewayClientError as exc:
                assert "does not exist" in str(exc), exc
    return found


def _heights(tmp_path: Path) -> dict[str, int]:
    status = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)
    return status["channels"][CHANNEL]


def snapshot_under_load(tmp_path: Path, spec: Path, network: str) -> tuple[int, Load, dict]:
    """`up`, then snapshot `busy` taken while transactions commit before and after it:
    the bootstrap snapshot's height, the load's record, and the snapshot's manifest."""
    consortium(tmp_path, "up", str(spec), "-o", "json")
    listed = json.loads(consortium(tmp_path, "snapshot", "list", "-o", "json").stdout)
    assert [s["name"] for s in listed] == ["bootstrap"]
    with Load(tmp_path, network) as load:
        _wait_for(load, 20)
        taken = consortium(tmp_path, "snapshot", "create", "busy", "-o", "json")
        _wait_for(load, len(load.blocks) + 20)
    assert not load.failures, load.failures
    return listed[0]["heights"][CHANNEL], load, json.loads(taken.stdout)


@pytest.mark.slow
def test_a_snapshot_taken_under_load_restores_the_state_at_its_heights(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        bootstrap_height, load, manifest = snapshot_under_load(tmp_path, spec, NETWORK)
        height = manifest["heights"][CHANNEL]
        before = {a for a, block in load.blocks.items() if block < height}
        after = set(load.blocks) - before
        assert before and after, (height, load.blocks)  # the load spanned the snapshot
        assert all(j["blocks"] > 0 for j in manifest["journals"].values() if "digest" in j)

        # Restored over the stopped network: every node at the snapshot's height, the
        # journals verify, the world state holds exactly what those blocks wrote.
        consortium(tmp_path, "down", str(spec))
        consortium(tmp_path, "snapshot", "restore", "busy")
        consortium(tmp_path, "up", str(spec), "-o", "json")
        assert set(_heights(tmp_path).values()) == {height}
        for node in ("orderer0", "peer-org1-peer0", "peer-org2-peer0"):
            verified = json.loads(
                consortium(tmp_path, "ledger", "verify", "--node", node, "-o", "json").stdout
            )
            assert verified["digestTipAddress"]["sequenceNo"] == height - 1, verified
        assert asyncio.run(_existing(tmp_path, sorted(load.blocks))) == before
        # The restored network takes new transactions.
        created = consortium(
            tmp_path, "invoke", "basic", "CreateAsset", "fresh", "blue", "1", "Ann", "1",
            "--member", "org1", "-o", "json",
        )  # fmt: skip
        assert json.loads(created.stdout)["status"] == "VALID"

        # Into a new home: the same files, the network left alone.
        consortium(tmp_path, "snapshot", "restore", "busy", "--into", str(tmp_path / "copy"))
        assert (tmp_path / "copy" / NETWORK / "state.json").is_file()
        refused = consortium(tmp_path, "snapshot", "restore", "busy", check=False)
        assert refused.returncode == 2 and "consortium down" in refused.stderr

        # reset: back to what `up` first made.
        consortium(tmp_path, "reset")
        assert set(_heights(tmp_path).values()) == {bootstrap_height}
        assert asyncio.run(_existing(tmp_path, ["fresh", *sorted(before)[:3]])) == set()
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)
