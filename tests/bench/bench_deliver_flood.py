"""A Deliver flood against a real orderer (mutual TLS, Fabric's default limits but
``streams_per_client: 50``): what the flood costs in memory and a good client in latency.
The admitted streams wait from the channel's next block, so each of the good client's
Broadcasts is a block the orderer then writes to every admitted stream.

Opens ``--clients`` clients (each its own TLS certificate) that each try to hold
``--streams`` Deliver streams and never read; counts the streams admitted and refused
(RESOURCE_EXHAUSTED); meanwhile a good client Broadcasts one envelope at a time. Prints
the orderer's RSS before and during the flood and the good client's Broadcast latency
(p50/p99) before and during, alternated in one run so the machine's load hits both.

    PYTHONPATH=. python tests/bench/bench_deliver_flood.py [--clients 10] [--streams 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2_grpc

from proto.seek import build_seek_envelope
from tests.support.orderer import CHANNEL, OrdererFixture, transaction


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def latencies(orderer: OrdererFixture, count: int) -> list[float]:
    """Seconds per Broadcast of one 1 KB envelope, one at a time, by a good client."""
    good = orderer.client_tls("Org1MSP", "good")
    endorser = orderer.orgs["Org1MSP"].identity("peer0", "peer")
    out = []
    async with orderer.channel(good) as channel:
        stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
        for _ in range(count):
            envelope = transaction(orderer.client(), endorser, size=1024)
            started = time.perf_counter()
            responses = [r async for r in stub.Broadcast(iter([envelope]))]
            assert responses[0].status == common_pb2.SUCCESS
            out.append(time.perf_counter() - started)
    return out


async def next_block(orderer: OrdererFixture) -> int:
    """The number the channel's next block will have (a Deliver from it waits)."""
    seek = build_seek_envelope(orderer.client(), CHANNEL, "newest", "newest")
    async with orderer.channel(orderer.client_tls("Org1MSP", "good")) as channel:
        call = ab_pb2_grpc.AtomicBroadcastStub(channel).Deliver(iter([seek]))
        async for response in call:
            if response.WhichOneof("Type") == "block":
                return response.block.header.number + 1
    raise AssertionError("no newest block")


def outcome(read: asyncio.Future) -> str:
    """What became of one stream: still open (admitted), or its status code's name."""
    if not read.done():
        return "admitted"
    error = read.exception()
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code().name
    return "admitted"  # and already given a block


def summary(values: list[float]) -> str:
    values = sorted(values)
    p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
    return f"p50 {statistics.median(values) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


async def main(clients: int, streams: int, samples: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = "limits:\n  streams_per_client: 50\n"
        orderer = OrdererFixture(Path(folder), mutual=True, settings=settings)
        orderer.start()
        try:
            assert (await orderer.join())[0] == 201
            pid = orderer.process.process.pid  # type: ignore[union-attr]
            await latencies(orderer, 5)  # warm up
            before_rss, before = rss(pid), await latencies(orderer, samples)
            channels = [
                orderer.channel(orderer.client_tls("Org2MSP", f"flood{n}")) for n in range(clients)
            ]
            start = await next_block(orderer)  # the streams wait for it (and get what follows)
            seek = build_seek_envelope(orderer.client(), CHANNEL, start, 2**63 - 1, False)
            calls = [
                ab_pb2_grpc.AtomicBroadcastStub(channel).Deliver(iter([seek]))
                for channel in channels
                for _ in range(streams)
            ]
            reads = [asyncio.ensure_future(call.read()) for call in calls]
            await asyncio.wait(reads, timeout=30)
            outcomes = Counter(outcome(r) for r in reads)
            refused = outcomes["RESOURCE_EXHAUSTED"]
            during = await latencies(orderer, samples)
            during_rss = rss(pid)
            for call in calls:
                call.cancel()
            for channel in channels:
                await channel.close()
        finally:
            orderer.stop()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"flood: {clients} clients × {streams} Deliver streams, never read")
    print(f"  admitted {outcomes.pop('admitted', 0)}, refused RESOURCE_EXHAUSTED {refused}")
    outcomes.pop("RESOURCE_EXHAUSTED", None)
    assert not outcomes, f"streams ended otherwise: {outcomes}"
    print(f"  orderer RSS before {before_rss / 2**20:.1f} MiB, during {during_rss / 2**20:.1f} MiB")
    print(f"  good client's Broadcast before: {summary(before)}")
    print(f"  good client's Broadcast during: {summary(during)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.clients, args.streams, args.samples))
