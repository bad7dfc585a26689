"""Replicated journal figures: appends/s to a stream on three nats-servers, and catch-up.

Run: ``python tests/bench/bench_replicated_journal.py [--appends N] [--blocks N]``.
Prints figures and never asserts on them. Starts its own three-server JetStream cluster
on loopback (stores in a temporary folder) and removes everything at the end; the local
copies go to a temporary folder under the repository (the disk a real ledger uses).

1. Appends/s of 1 KB single-entry blocks, each acknowledged only once JetStream stored it
   on a majority of the three servers *and* the local copy fsynced it: one writer
   appending one block at a time, then 8 and 64 concurrent appends (batched: sent back to
   back, one local fsync per group). The local journal alone, same shapes, for comparison.
2. Catch-up of an empty reader from a stream of ``--blocks`` blocks: blocks/s, every
   block's CRCs and hashes checked and the copy fsynced (the reader's ``open``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ledgerdb.block import Payload
from ledgerdb.journal import AsyncJournal
from ledgerdb.replicated import ReplicatedJournal
from network.nats_cluster import NatsCluster

ENTRY = 1024
WRITERS = 8
_BASE = os.urandom(ENTRY)


def entry(writer: int, index: int) -> bytes:
    return (b"%02d%08d" % (writer, index)) + _BASE[10:]


async def rate(journal: object, writers: int, per_writer: int) -> tuple[float, list[float]]:
    """Appends/s with ``writers`` concurrent appenders, and every append's latency."""
    latencies: list[float] = []

    async def writer(number: int) -> None:
        for index in range(per_writer):
            begin = time.perf_counter()
            await journal.append([Payload(entry(number, index))], {"writer": number, "n": index})
            latencies.append(time.perf_counter() - begin)

    start = time.perf_counter()
    await asyncio.gather(*(writer(n) for n in range(writers)))
    return writers * per_writer / (time.perf_counter() - start), sorted(latencies)


def describe(figure: float, latencies: list[float]) -> str:
    median = latencies[len(latencies) // 2] * 1e3
    p99 = latencies[int(len(latencies) * 0.99)] * 1e3
    return f"{figure:9,.0f} appends/s  (latency median {median:.2f} ms, p99 {p99:.2f} ms)"


async def appends(cluster: NatsCluster, root: Path, total: int) -> None:
    print(f"\n1. appends/s, {ENTRY}-byte single-entry blocks, acknowledged when stored")
    shapes = (
        ("1 writer, one append at a time", 1),
        (f"{WRITERS} concurrent appends", WRITERS),
        ("64 concurrent appends (bigger groups)", 64),
    )
    backends: dict[str, Callable[[str], Awaitable[object]]] = {
        "replicated (R3 stream + local copy)": lambda name: ReplicatedJournal.open(
            root / name, servers=cluster.urls, name=name
        ),
        "local journal alone": lambda name: AsyncJournal.open(root / name),
    }
    for label, writers in shapes:
        print(f"   {label}:")
        for backend, open_journal in backends.items():
            figures = []
            for round_number in range(2):
                name = f"{backend.split()[0]}-{writers}-{round_number}"
                journal = await open_journal(name)
                figures.append(await rate(journal, writers, total // writers))
                await journal.close()
            best = statistics.median(figure for figure, _ in figures)
            runs = ", ".join(f"{figure:,.0f}" for figure, _ in figures)
            print(f"     {backend:38s} {describe(best, figures[-1][1])}  [{runs}]")


async def catch_up(cluster: NatsCluster, root: Path, blocks: int) -> None:
    print(f"\n2. catch-up of an empty reader from {blocks:,} blocks of {ENTRY} bytes")
    writer = await ReplicatedJournal.open(root / "source", servers=cluster.urls, name="source")
    for first in range(0, blocks, 200):
        count = min(200, blocks - first)
        await writer.append_many(
            [([Payload(entry(0, n))], {"n": n}, None) for n in range(first, first + count)]
        )
    await writer.close()
    for round_number in range(2):
        start, cpu = time.perf_counter(), time.process_time()
        reader = await ReplicatedJournal.open(
            root / f"reader-{round_number}", servers=cluster.urls, name="source"
        )
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert reader.tip is not None and reader.tip.sequence_no == blocks - 1
        await reader.close()
        print(
            f"   {blocks / elapsed:9,.0f} blocks/s  ({elapsed:.2f} s wall, {cpu:.2f} s CPU "
            "in this process; every block verified, the copy fsynced)"
        )


async def run(cluster: NatsCluster, root: Path, total: int, blocks: int) -> None:
    await appends(cluster, root, total)
    await catch_up(cluster, root, blocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=4000, help="appends per measurement")
    parser.add_argument("--blocks", type=int, default=20_000, help="blocks to catch up")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    servers = Path(tempfile.mkdtemp(prefix="bench-nats-"))
    root = Path(tempfile.mkdtemp(prefix=".bench-replicated-", dir=args.dir))
    cluster = NatsCluster.on_loopback(servers)
    try:
        cluster.start()
        print(f"3 nats-servers on loopback (JetStream, R3 stream), stores in {servers}")
        asyncio.run(run(cluster, root, args.appends, args.blocks))
    finally:
        for node in cluster.nodes:
            cluster.kill_node(node.name)
        shutil.rmtree(root)
        shutil.rmtree(servers)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
