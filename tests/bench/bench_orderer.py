"""Orderer throughput: Broadcast → block → Deliver on loopback, TLS on, checks on.

Starts a real orderer process, pipelines 1 KB signed ENDORSER_TRANSACTION envelopes over
several Broadcast streams, and follows the channel with one Deliver stream. Prints
envelopes/s (first send to last delivery), the latency from each envelope's SUCCESS
to the arrival of the block holding it (p50/p99), and the orderer process's CPU time per
envelope (user + system, from /proc: the figure to compare changes by on a shared machine).
``--py-spy FILE`` records a py-spy profile (raw, --gil) of the orderer while it orders.

    PYTHONPATH=. python tests/bench/bench_orderer.py [--envelopes 6000] [--streams 4] [--cluster]

``--cluster``: three orderers on a three-server JetStream cluster (streams replicated on
all three), Broadcast streams spread over the three, Deliver from one; CPU is summed over
the orderers and the NATS servers.

``--compare ROUNDS``: one node and the cluster in turn, ROUNDS each (alternating, so both
see the same machine load), then the cluster's throughput and its envelopes per CPU-second
(all processes of the ordering service: orderers and NATS servers) as ratios of one
node's. On a shared machine the per-CPU ratio is the figure that load does not move much.
``--py-spy DIR`` with ``--cluster`` profiles the cutting orderer and a follower.

Per host: the cluster is meant for three hosts, each running one orderer and one NATS
server (deploy/three-orderers.yaml pairs orderer *i* with NATS server *i*, as
tests/integration/test_multihost.py places them). With a core per host the busiest host
bounds the cluster, so ``--compare`` also prints each host's CPU per envelope (orderer
*i* + NATS server *i*), the busiest host, and one node's CPU per envelope divided by the
busiest host's: the cluster's throughput as a share of one node's when each host has a
core of its own. The one-node service is one orderer on its local journal, with no NATS
server (the default one-machine network), so its "host" is that one process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2_grpc

from network.nats_cluster import NatsCluster
from proto.seek import FOREVER, build_seek_envelope
from tests.support.orderer import CHANNEL, OrdererFixture, transaction


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_py_spy(pid: int, output: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")
    command = [str(py_spy), "record", "--pid", str(pid), "--gil", "--format", "raw"]
    return subprocess.Popen([*command, "--rate", "200", "-o", str(output)])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


BATCH = {"timeout": "100ms", "count": "500", "absolute": "10 MB", "preferred": "2 MB"}


async def start_nodes(root: Path, cluster: bool) -> tuple[list[OrdererFixture], list[int]]:
    """One orderer, or (``cluster``) three on a 3-server JetStream cluster; the nodes and
    the pids whose CPU counts (the NATS servers' too)."""
    if not cluster:
        fixture = OrdererFixture(root, batch=BATCH)
        fixture.start()
        assert (await fixture.join())[0] == 201
        return [fixture], [fixture.process.process.pid]
    nats = NatsCluster.on_loopback(root / "nats").start(30)
    first = OrdererFixture(root, batch=BATCH, node="osn0", nats=nats.urls)
    nodes = [first] + [
        OrdererFixture(root, batch=BATCH, node=f"osn{n}", nats=nats.urls, shared=first)
        for n in (1, 2)
    ]
    for node in nodes:
        node.start()
    for node in nodes:
        assert (await node.join())[0] == 201
    pids = [int((n.directory / "nats-server.pid").read_text()) for n in nats.nodes]
    return nodes, [n.process.process.pid for n in nodes] + pids


@dataclass(frozen=True)
class Result:
    """One run: what was measured, per envelope and in all."""

    count: int
    elapsed: float  # first send → last delivery, seconds
    cpu: float  # CPU seconds of every ordering-service process
    load: float
    hosts: tuple[float, ...]  # CPU seconds per host: orderer i + NATS server i
    cutter: str = "-"  # the node that held the cutting lease at the end ("-": one node)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed

    @property
    def per_cpu_second(self) -> float:
        return self.count / self.cpu

    def host_micros(self) -> list[float]:
        """Each host's CPU per envelope, µs."""
        return [cpu / self.count * 1e6 for cpu in self.hosts]

    def busiest_host(self) -> tuple[int, float]:
        """The host that spends the most CPU per envelope, and how much (µs): with a core
        per host it is the one that bounds throughput."""
        micros = self.host_micros()
        index = max(range(len(micros)), key=micros.__getitem__)
        return index, micros[index]


def host_cpu(per_process: dict[int, float], pids: list[int], nodes: int) -> tuple[float, ...]:
    """CPU seconds per host, pairing orderer *i* with NATS server *i* (``pids`` lists the
    ``nodes`` orderers first, then the NATS servers, both in spec order). One orderer with
    no NATS server is a host of its own."""
    orderers, servers = pids[:nodes], pids[nodes:]
    if not servers:
        return tuple(per_process[p] for p in orderers)
    assert len(servers) == len(orderers), "one NATS server per orderer host"
    return tuple(per_process[o] + per_process[s] for o, s in zip(orderers, servers, strict=True))


async def run(
    count: int, streams: int, py_spy: Path | None, cluster: bool, logs: bool = False
) -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        nodes, pids = await start_nodes(Path(tmp), cluster)
        try:
            fixture = nodes[0]
            client = fixture.client()
            endorser = fixture.orgs["Org1MSP"].identity("peer0", "peer")
            print(f"signing {count} envelopes …", flush=True)
            envelopes = [transaction(client, endorser, size=1024) for _ in range(count)]
            size = len(envelopes[0].SerializeToString())
            sent: dict[bytes, float] = {}
            acked: dict[bytes, float] = {}
            delivered: dict[bytes, float] = {}
            done = asyncio.Event()

            async def follow() -> None:
                seek = build_seek_envelope(client, CHANNEL, 1, FOREVER)
                async with fixture.channel() as channel:
                    call = ab_pb2_grpc.AtomicBroadcastStub(channel).Deliver(iter([seek]))
                    async for response in call:
                        now = time.perf_counter()
                        for envelope in response.block.data.data:
                            delivered[envelope] = now
                        if len(delivered) >= count:
                            done.set()
                            call.cancel()
                            return

            def sending(chunk: list[common_pb2.Envelope]):
                for envelope in chunk:
                    sent[envelope.SerializeToString()] = time.perf_counter()
                    yield envelope

            async def broadcast(chunk: list[common_pb2.Envelope], node: OrdererFixture) -> None:
                async with node.channel() as channel:
                    call = ab_pb2_grpc.AtomicBroadcastStub(channel).Broadcast(sending(chunk))
                    index = 0
                    async for response in call:
                        assert response.status == common_pb2.SUCCESS, response.info
                        acked[chunk[index].SerializeToString()] = time.perf_counter()
                        index += 1

            print("broadcasting …", flush=True)
            follower = asyncio.ensure_future(follow())
            await asyncio.sleep(0.3)
            assert fixture.process is not None
            profilers = await start_profilers(nodes, py_spy) if py_spy else []
            cpu_before = {p: cpu_seconds(p) for p in pids}
            start = time.perf_counter()
            await asyncio.gather(
                *(broadcast(envelopes[i::streams], nodes[i % len(nodes)]) for i in range(streams))
            )
            try:
                await asyncio.wait_for(done.wait(), timeout=300)
            except TimeoutError:
                print(f"only {len(delivered)} of {count} envelopes delivered in 300 s")
                for node in nodes:
                    print(f"---- {node.node}", node.process.output[-4000:], sep="\n")
                raise
            elapsed = max(delivered.values()) - start
            per_process = {p: cpu_seconds(p) - cpu_before[p] for p in pids}
            cutter = await cutter_of(nodes)
            orderer_cpu = sum(per_process.values())
            follower.cancel()
            for profiler in profilers:
                profiler.send_signal(2)  # SIGINT: py-spy writes its file and exits
                profiler.wait()
        finally:
            for node in nodes:
                node.stop()
                if logs:  # lease terms, mends, stalls: what the nodes said during the run
                    print(f"---- {node.node}", node.process.output[-4000:], sep="\n")
            for other in pids[len(nodes) :]:
                os.kill(other, 9)

    latencies = [delivered[e] - sent[e] for e in sent]
    after_ack = [max(delivered[e] - acked[e], 0.0) for e in acked]
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}"
    )
    shape = "3 orderers on 3 NATS servers (R3)" if cluster else "1 orderer"
    print(f"envelopes: {count} × {size} bytes over {streams} Broadcast streams, TLS on, {shape}")
    print(f"throughput: {count / elapsed:,.0f} envelopes/s (send → delivered)")
    print(
        f"ordering service CPU (orderers + NATS): {orderer_cpu / count * 1e6:,.0f} µs per envelope "
        f"({orderer_cpu / elapsed:.2f} cores busy), load average {os.getloadavg()[0]:.1f}"
    )
    if cluster:  # on hosts of their own, the busiest process bounds the throughput
        shares = [per_process[p] / count * 1e6 for p in pids]
        named = [f"osn{n} {v:,.0f}" for n, v in enumerate(shares[:3])]
        named += [f"nats{n} {v:,.0f}" for n, v in enumerate(shares[3:])]
        print(f"CPU per envelope by process (µs): {', '.join(named)}")
        print(f"bound with one core per process: {1e6 / max(shares):,.0f} envelopes/s")
        hosts = host_cpu(per_process, pids, len(nodes))
        per_host = [v / count * 1e6 for v in hosts]
        named = [f"host{n} (osn{n} + nats{n}) {v:,.0f}" for n, v in enumerate(per_host)]
        print(f"CPU per envelope by host (µs): {', '.join(named)}")
        print(f"bound with one core per host: {1e6 / max(per_host):,.0f} envelopes/s")
        print(f"cutting lease at the end: {cutter}")
    for label, values in (("send → delivery", latencies), ("SUCCESS → delivery", after_ack)):
        print(
            f"{label}: p50 {statistics.median(values) * 1000:.1f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.1f} ms"
        )
    hosts = host_cpu(per_process, pids, len(nodes))
    return Result(count, elapsed, orderer_cpu, os.getloadavg()[0], hosts, cutter)


async def start_profilers(nodes: list[OrdererFixture], into: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on the one orderer, or on the cluster's cutter and one follower (asked for
    their roles over the participation API)."""
    if len(nodes) == 1:
        return [start_py_spy(nodes[0].process.process.pid, into)]
    into.mkdir(parents=True, exist_ok=True)
    roles = {node.node: await role_of(node) for node in nodes}
    cutter = next(n for n in nodes if roles[n.node] == "cutter")
    follower = next(n for n in nodes if roles[n.node] == "follower")
    return [
        start_py_spy(cutter.process.process.pid, into / "cutter.txt"),
        start_py_spy(follower.process.process.pid, into / "follower.txt"),
    ]


async def cutter_of(nodes: list[OrdererFixture]) -> str:
    """The node that holds the cutting lease now (asked over the participation API), so
    the busiest host can be told apart as the cutting one or not; "-" for one node."""
    if len(nodes) == 1:
        return "-"
    roles = {node.node: await role_of(node) for node in nodes}
    return next((name for name, role in roles.items() if role == "cutter"), "none")


async def role_of(node: OrdererFixture) -> str:
    url = f"{node.admin_url}/{CHANNEL}"
    async with aiohttp.ClientSession() as session, session.get(url, ssl=node.admin_ssl()) as r:
        return (await r.json()).get("role", "?")


async def compare(rounds: int, count: int, streams: int) -> None:
    """One node and the cluster in turn, ``rounds`` each; the ratios of their medians."""
    results: dict[bool, list[Result]] = {False: [], True: []}
    for _ in range(rounds):
        for cluster in (False, True):
            results[cluster].append(await run(count, streams, None, cluster))
            print(flush=True)
    one, three = results[False], results[True]
    print("round | 1 node: env/s, env per CPU-s | 3 nodes: env/s, env per CPU-s | load")
    for n, (a, b) in enumerate(zip(one, three, strict=True)):
        print(
            f"{n + 1} | {a.throughput:,.0f}, {a.per_cpu_second:,.0f} | "
            f"{b.throughput:,.0f}, {b.per_cpu_second:,.0f} | {a.load:.1f}–{b.load:.1f}"
        )
    throughput = [b.throughput / a.throughput for a, b in zip(one, three, strict=True)]
    per_cpu = [b.per_cpu_second / a.per_cpu_second for a, b in zip(one, three, strict=True)]
    print(
        f"3 nodes / 1 node, throughput: median {statistics.median(throughput):.0%} "
        f"(rounds {', '.join(f'{r:.0%}' for r in throughput)})"
    )
    print(
        f"3 nodes / 1 node, envelopes per CPU-second of the whole ordering service: median "
        f"{statistics.median(per_cpu):.0%} (rounds {', '.join(f'{r:.0%}' for r in per_cpu)})"
    )
    print_per_host(one, three)


def print_per_host(one: list[Result], three: list[Result]) -> None:
    """Per round: each host's CPU per envelope, the busiest host, and one node's CPU per
    envelope ÷ the busiest host's (the throughput ratio with a core per host)."""
    print(
        "round | 1 node µs/env | host0, host1, host2 µs/env (osn i + nats i) | busiest | "
        "cutter | ratio"
    )
    ratios = []
    for n, (a, b) in enumerate(zip(one, three, strict=True)):
        single = a.host_micros()[0]
        index, busiest = b.busiest_host()
        ratios.append(single / busiest)
        hosts = ", ".join(f"{v:,.0f}" for v in b.host_micros())
        print(
            f"{n + 1} | {single:,.0f} | {hosts} | host{index} {busiest:,.0f} | {b.cutter} | "
            f"{ratios[-1]:.0%}"
        )
    print(
        f"3 nodes / 1 node with a core per host (1 node's CPU per envelope ÷ the busiest "
        f"host's): median {statistics.median(ratios):.0%} "
        f"(rounds {', '.join(f'{r:.0%}' for r in ratios)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envelopes", type=int, default=6000)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument(
        "--py-spy",
        type=Path,
        help="write a py-spy profile of the orderer here (a folder with --cluster: "
        "cutter.txt, follower.txt)",
    )
    parser.add_argument(
        "--cluster", action="store_true", help="3 orderers on a 3-server JetStream cluster"
    )
    parser.add_argument(
        "--compare", type=int, metavar="ROUNDS", help="1 node and 3 in turn, ROUNDS each"
    )
    parser.add_argument("--logs", action="store_true", help="print each node's log at the end")
    args = parser.parse_args()
    if args.compare:
        asyncio.run(compare(args.compare, args.envelopes, args.streams))
    else:
        asyncio.run(run(args.envelopes, args.streams, args.py_spy, args.cluster, args.logs))


if __name__ == "__main__":
    main()
