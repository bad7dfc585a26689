"""Replicated journal figures: appends/s to a stream on three nats-servers, and catch-up.

Run: ``python tests/bench/bench_replicated_journal.py [--appends N] [--blocks N] [--kills N]``.
Prints figures and never asserts on them. Starts its own three-server JetStream cluster
on loopback (stores in a temporary folder) and removes everything at the end; the local
copies go to a temporary folder under the repository (the disk a real ledger uses).

1. Appends/s of 1 KB single-entry blocks, each acknowledged only once JetStream stored it
   on a majority of the three servers *and* the local copy fsynced it: one writer
   appending one block at a time, then 8 and 64 concurrent appends (batched: sent back to
   back, one local fsync per group). The local journal alone, same shapes, for comparison.
2. Catch-up of an empty reader from a stream of ``--blocks`` blocks: blocks/s, every
   block's CRCs and hashes checked and the copy fsynced (the reader's ``open``).
3. The stream's leader killed with ``-9`` while one writer appends (``--kills`` times):
   the longest time without an acknowledged append, i.e. nats-server's election.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats

from ledgerdb.block import Payload
from ledgerdb.errors import ReplicationUnavailable
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


async def replicas_current(connection: nats.NATS, stream: str, timeout: float) -> None:
    """Until every replica of ``stream`` is current: a restarted server catches the stream
    up outside Raft, and killing the leader before it did is a second fault (two of three
    replicas without the latest blocks), which R3 does not promise to survive."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = await connection.jetstream().stream_info(stream)
        replicas = info.cluster.replicas or [] if info.cluster else []
        if len(replicas) == 2 and all(r.current and not r.lag for r in replicas):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(
        f"stream {stream}: a replica still behind after {timeout:g}s: {info.cluster}"
    )


async def append_for(writer: ReplicatedJournal, seconds: float, done: list[float]) -> None:
    """Append one block at a time for ``seconds``; when each was acknowledged. An append
    the servers did not acknowledge in the journal's 30 s is reported and the next one
    tried, as the cutter does (its block is caught up or sealed again)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        try:
            await writer.append([Payload(entry(0, len(done)))])
        except ReplicationUnavailable as exc:
            print(f"   an append failed: {exc}")
            await writer.catch_up()
            continue
        done.append(time.perf_counter())


async def leader_lost(cluster: NatsCluster, root: Path, kills: int) -> None:
    """Kill -9 the stream's leader while one writer appends without pause; the longest
    gap between two acknowledged appends around each kill (the server is restarted and
    the cluster let settle before the next)."""
    print(f"\n3. the stream's leader killed (-9) under appends, {kills} times")
    writer = await ReplicatedJournal.open(root / "leader", servers=cluster.urls, name="leader")
    connection = await nats.connect(cluster.urls)
    gaps = []
    try:
        for _ in range(kills):
            leader = (await connection.jetstream().stream_info(writer.stream)).cluster.leader
            done: list[float] = []
            appending = asyncio.create_task(append_for(writer, 20, done))
            await asyncio.sleep(2)
            killed = time.perf_counter()
            await asyncio.to_thread(cluster.kill_node, leader)
            await appending
            around = [max((t for t in done if t <= killed), default=killed)]
            around += [t for t in done if t > killed]
            gap = max((b - a for a, b in itertools.pairwise(around)), default=20.0)
            gaps.append(gap)
            print(f"   killed {leader}: no append acknowledged for {gap:.2f} s")
            cluster.start_node(leader)
            await asyncio.to_thread(cluster.wait_ready, 30.0)
            await replicas_current(connection, writer.stream, 60.0)
    finally:
        await connection.close()
        await writer.close()
    print(f"   p50 {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s")


async def run(cluster: NatsCluster, root: Path, total: int, blocks: int, kills: int) -> None:
    await appends(cluster, root, total)
    await catch_up(cluster, root, blocks)
    if kills:
        await leader_lost(cluster, root, kills)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=4000, help="appends per measurement")
    parser.add_argument("--blocks", type=int, default=20_000, help="blocks to catch up")
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--kills", type=int, default=5, help="stream leader kills (0: none)")
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
        asyncio.run(run(cluster, root, args.appends, args.blocks, args.kills))
    finally:
        for node in cluster.nodes:
            cluster.kill_node(node.name)
        shutil.rmtree(root)
        shutil.rmtree(servers)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
