"""Ordering-cluster failover: the longest gap without a new block after kill -9 of the
cutting orderer, over several kills, under continuous Broadcast load.

Three real orderers on a real three-server JetStream cluster (loopback). A client sends
signed envelopes without pause, each to the next orderer in turn and, if that one fails,
to the others (what the gateway does); a follower on a surviving orderer records when each
block arrives. Each round kills the cutter with SIGKILL, waits for blocks to flow again,
and restarts it. Prints, per kill, the gap between the last block before and the first
block after; their p50 and max; and how many submissions failed on every orderer.

    PYTHONPATH=. python tests/bench/bench_failover.py [--kills 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2_grpc

from network.nats_cluster import NatsCluster
from proto.seek import FOREVER, build_seek_envelope
from tests.support.orderer import CHANNEL, OrdererFixture, transaction

LEASE_SECONDS = 1.5
BATCH = {"timeout": "100ms", "count": "50", "absolute": "10 MB", "preferred": "2 MB"}


async def role(node: OrdererFixture) -> str | None:
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{node.admin_url}/{CHANNEL}", ssl=node.admin_ssl()) as answer,
        ):
            return (await answer.json()).get("role")
    except (aiohttp.ClientError, OSError):
        return None


async def run(kills: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        nats = NatsCluster.on_loopback(root / "nats").start(30)
        first = OrdererFixture(
            root, batch=BATCH, node="osn0", nats=nats.urls, lease_seconds=LEASE_SECONDS
        )
        nodes = [first] + [
            OrdererFixture(
                root,
                batch=BATCH,
                node=f"osn{n}",
                nats=nats.urls,
                lease_seconds=LEASE_SECONDS,
                shared=first,
            )
            for n in (1, 2)
        ]
        for node in nodes:
            node.start()
        for node in nodes:
            assert (await node.join())[0] == 201
        client = first.client()
        endorser = first.orgs["Org1MSP"].identity("peer0", "peer")
        arrivals: list[float] = []
        failed = 0
        stop = asyncio.Event()
        live = set(range(3))

        async def send() -> None:
            nonlocal failed
            turn = 0
            while not stop.is_set():
                envelope = transaction(client, endorser, size=512)
                for attempt in range(3):
                    index = (turn + attempt) % 3
                    if index not in live:
                        continue
                    try:
                        (answer,) = await asyncio.wait_for(nodes[index].broadcast([envelope]), 30)
                        if answer.status == common_pb2.SUCCESS:
                            break
                    except Exception:
                        continue
                else:
                    failed += 1
                turn += 1

        async def follow(node: OrdererFixture) -> None:
            seek = build_seek_envelope(client, CHANNEL, 1, FOREVER)
            async with node.channel() as channel:
                call = ab_pb2_grpc.AtomicBroadcastStub(channel).Deliver(iter([seek]))
                async for _ in call:
                    arrivals.append(time.perf_counter())

        senders = [asyncio.create_task(send()) for _ in range(4)]
        gaps = []
        for _ in range(kills):
            await asyncio.sleep(2)
            roles = {i: await role(nodes[i]) for i in sorted(live)}
            cutter = next(i for i, r in roles.items() if r == "cutter")
            watcher_node = nodes[(cutter + 1) % 3]
            watcher = asyncio.create_task(follow(watcher_node))
            await asyncio.sleep(1)
            killed_at = time.perf_counter()
            live.discard(cutter)
            os.kill(nodes[cutter].process.process.pid, signal.SIGKILL)
            nodes[cutter].process.process.wait(10)
            await asyncio.sleep(LEASE_SECONDS * 4)
            before = max(t for t in arrivals if t <= killed_at)
            after = min((t for t in arrivals if t > killed_at), default=None)
            assert after is not None, "no block after the kill"
            gaps.append(after - before)
            watcher.cancel()
            nodes[cutter].start()
            live.add(cutter)
            print(f"kill {len(gaps)}: gap {gaps[-1]:.2f} s", flush=True)
        stop.set()
        await asyncio.gather(*senders, return_exceptions=True)
        for node in nodes:
            node.stop()
        for server in nats.nodes:
            nats.kill_node(server.name)
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{kills} kills of the cutting orderer (lease {LEASE_SECONDS} s): longest gap without "
        f"a block p50 {statistics.median(gaps):.2f} s, max {max(gaps):.2f} s; "
        f"submissions failed on every orderer: {failed}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    asyncio.run(run(parser.parse_args().kills))


if __name__ == "__main__":
    main()
