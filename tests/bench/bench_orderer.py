"""Orderer throughput: Broadcast → block → Deliver on loopback, TLS on, checks on.

Starts a real orderer process, pipelines 1 KB signed ENDORSER_TRANSACTION envelopes over
several Broadcast streams, and follows the channel with one Deliver stream. Prints
envelopes/s (first send to last delivery), the latency from each envelope's SUCCESS
to the arrival of the block holding it (p50/p99), and the orderer process's CPU time per
envelope (user + system, from /proc: the figure to compare changes by on a shared machine).
``--py-spy FILE`` records a py-spy profile (raw, --gil) of the orderer while it orders.

    PYTHONPATH=. python tests/bench/bench_orderer.py [--envelopes 6000] [--streams 4]
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
from pathlib import Path

from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2_grpc

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


async def run(count: int, streams: int, py_spy: Path | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        fixture = OrdererFixture(
            Path(tmp),
            batch={"timeout": "100ms", "count": "500", "absolute": "10 MB", "preferred": "2 MB"},
        )
        fixture.start()
        assert (await fixture.join())[0] == 201
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

        async def broadcast(chunk: list[common_pb2.Envelope]) -> None:
            async with fixture.channel() as channel:
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
        pid = fixture.process.process.pid
        profiler = start_py_spy(pid, py_spy) if py_spy else None
        cpu_before = cpu_seconds(pid)
        start = time.perf_counter()
        await asyncio.gather(*(broadcast(envelopes[i::streams]) for i in range(streams)))
        await asyncio.wait_for(done.wait(), timeout=300)
        elapsed = max(delivered.values()) - start
        orderer_cpu = cpu_seconds(pid) - cpu_before
        follower.cancel()
        if profiler is not None:
            profiler.send_signal(2)  # SIGINT: py-spy writes its file and exits
            profiler.wait()
        fixture.stop()

    latencies = [delivered[e] - sent[e] for e in sent]
    after_ack = [max(delivered[e] - acked[e], 0.0) for e in acked]
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}"
    )
    print(f"envelopes: {count} × {size} bytes over {streams} Broadcast streams, TLS on")
    print(f"throughput: {count / elapsed:,.0f} envelopes/s (send → delivered)")
    print(
        f"orderer CPU: {orderer_cpu / count * 1e6:,.0f} µs per envelope "
        f"({orderer_cpu / elapsed:.2f} cores busy), load average {os.getloadavg()[0]:.1f}"
    )
    for label, values in (("send → delivery", latencies), ("SUCCESS → delivery", after_ack)):
        print(
            f"{label}: p50 {statistics.median(values) * 1000:.1f} ms, "
            f"p99 {percentile(values, 0.99) * 1000:.1f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--envelopes", type=int, default=6000)
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--py-spy", type=Path, help="write a py-spy profile of the orderer here")
    args = parser.parse_args()
    asyncio.run(run(args.envelopes, args.streams, args.py_spy))


if __name__ == "__main__":
    main()
