"""Analytics lag: from a block's commit on the peer to its rows being queryable (issue 22's
figure: goal p99 ≤ 1 s).

``consortium up`` on ``deploy/two-members.yaml`` (free ports; the analytics node is on
in it), then CreateAsset transactions ``CONCURRENCY`` at a time. Per block, two moments:
when org1's peer served it on Deliver to this process (it is committed by then), and when
the analytics node's ledgerdb service first answers with that block in ``_checkpoint``
(polled every ``POLL`` s, so the figure is at most that much late).

Run: ``python tests/bench/bench_analytics_lag.py [TRANSACTIONS [IN_FLIGHT]]`` (default
400 and 8; the benchmark load is 3,000 with 64 in flight, as many as the network commits).
Prints the load reached, p50 / p99 / max of the lag and the analytics node's CPU ms per
transaction; asserts nothing about timing.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fabric_protos.peer import events_pb2_grpc

from ledgerdb.client import LedgerClient
from network.analytics.config import load_config
from network.gateway_client import GatewayClient
from proto.seek import FOREVER, build_seek_envelope
from tests.integration.test_up import spec_with_free_ports
from tests.support.processes import consortium

CHANNEL = "mychannel"
POLL = 0.01


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _client(home: Path, member: str) -> GatewayClient:
    connection = json.loads((home / "connection" / f"{member}.json").read_text())
    return GatewayClient.from_connection(connection, "user1")


async def watch_peer(home: Path, served: dict[int, float]) -> None:
    async with _client(home, "org1") as client:
        seek = build_seek_envelope(client.signer, CHANNEL, "newest", FOREVER)
        stub = events_pb2_grpc.DeliverStub(client.channel)
        async for response in stub.Deliver(iter([seek])):
            if response.WhichOneof("Type") == "block":
                served.setdefault(response.block.header.number, time.monotonic())


def watch_analytics(listen: str, visible: dict[int, float], stop: list[bool]) -> None:
    """Block number → when the analytics service first showed it (and every block before)."""
    with LedgerClient(listen, timeout=5.0) as client:
        last = -1
        while not stop:
            transaction = client.start_transaction()  # read-only: aborted, never in conflict
            rows = transaction.execute('SELECT VALUE c.block FROM "_checkpoint" AS c').values
            transaction.abort()
            now = time.monotonic()
            tip = int(rows[0]) if rows else -1
            for number in range(last + 1, tip + 1):
                visible[number] = now
            last = max(last, tip)
            time.sleep(POLL)


async def load(home: Path, count: int, in_flight: int) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker(member: str) -> None:
        async with _client(home, member) as client:
            while not queue.empty():
                n = queue.get_nowait()
                await client.submit(
                    CHANNEL, "basic", "CreateAsset", f"lag{n}", "red", "1", "x", "1"
                )

    await asyncio.gather(*(worker(("org1", "org2")[i % 2]) for i in range(in_flight)))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(home: Path, transactions: int, in_flight: int) -> None:
    served: dict[int, float] = {}
    visible: dict[int, float] = {}
    stop: list[bool] = []
    listen = load_config(home / "analytics" / "analytics.yaml").listen(CHANNEL)
    peer = asyncio.create_task(watch_peer(home, served))
    poller = asyncio.create_task(asyncio.to_thread(watch_analytics, listen, visible, stop))
    await asyncio.sleep(1)
    node = int((home / "pids" / "analytics.pid").read_text())
    cpu_before = cpu_seconds(node)
    started = time.monotonic()
    await load(home, transactions, in_flight)
    elapsed = time.monotonic() - started
    await asyncio.sleep(2)
    cpu = cpu_seconds(node) - cpu_before
    stop.append(True)
    peer.cancel()
    await poller
    # the node may see a block before this process does: that lag counts as 0
    lags = [max(0.0, visible[n] - served[n]) for n in served if n in visible]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    rate = transactions / elapsed
    print(f"load average: {os.getloadavg()[0]:.1f}")
    print(
        f"load: {transactions} CreateAsset, {in_flight} in flight, in {elapsed:.1f} s "
        f"({rate:.0f} tx/s, {len(served)} blocks)"
    )
    print(f"analytics node CPU: {1000 * cpu / transactions:.2f} ms per transaction")
    print(
        f"lag commit → queryable: p50 {1000 * percentile(lags, 0.5):.0f} ms, "
        f"p99 {1000 * percentile(lags, 0.99):.0f} ms, max {1000 * max(lags):.0f} ms "
        f"({len(lags)} blocks; polled every {1000 * POLL:.0f} ms)"
    )


def main() -> None:
    transactions = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    in_flight = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        spec = spec_with_free_ports(root)
        try:
            consortium(root, "up", str(spec), "-o", "json")
            asyncio.run(measure(root / ".consortium" / "two-members", transactions, in_flight))
        finally:
            consortium(root, "down", "--purge", check=False)


if __name__ == "__main__":
    main()
