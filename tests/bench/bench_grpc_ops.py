"""CPU per gRPC operation in grpc.aio on this machine: what a transaction's gRPC calls cost.

    PYTHONPATH=. python tests/bench/bench_grpc_ops.py [--calls 3000] [--rounds 2]

A transaction makes a fixed number of gRPC operations that Fabric's protocol defines
(docs/benchmarks.md counts them); this prints what one costs, so the CPU a peer spends
per transaction can be split into "the protocol's operations × their price" and the rest.
Each variant runs in its own process (gRPC reads ``GRPC_EXPERIMENTS`` when it is
imported), client and server in one uvloop event loop, 20 calls in flight, and reports
the process's CPU (user + system, every thread: the event loop, gRPC's poller and its
own threads) per call:

- a unary call (the standard health ``Check``), and a message each way on one
  bidirectional stream (the chaincode shim's pattern), both ends counted;
- gRPC's default transport (EventEngine) and its older iomgr one
  (``GRPC_EXPERIMENTS=-event_engine_client,-event_engine_listener``).

Variants alternate A B A B so a busy minute hits both; never asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import subprocess
import sys

IOMGR = "-event_engine_client,-event_engine_listener"
VARIANTS = {"EventEngine (default)": "", "iomgr": IOMGR}
_ECHO = "/bench.Echo/Chat"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _unary(calls: int) -> float:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from proto.server import add_health

    server = grpc.aio.server()
    add_health(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        request = health_pb2.HealthCheckRequest()
        for _ in range(200):
            await stub.Check(request)
        started = _cpu()

        async def caller(count: int) -> None:
            for _ in range(count):
                await stub.Check(request)

        await asyncio.gather(*(caller(calls // 20) for _ in range(20)))
        used = _cpu() - started
    await server.stop(None)
    return used / calls


async def _stream(messages: int) -> float:
    """One message from client to server and one back, on 20 open streams."""
    import grpc

    async def chat(requests, context):
        async for message in requests:
            yield message

    handler = grpc.stream_stream_rpc_method_handler(chat)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("bench.Echo", {"Chat": handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        calls = [channel.stream_stream(_ECHO)() for _ in range(20)]
        payload = b"x" * 200

        async def talk(call, count: int) -> None:
            for _ in range(count):
                await call.write(payload)
                await call.read()

        await asyncio.gather(*(talk(call, 50) for call in calls))
        started = _cpu()
        await asyncio.gather(*(talk(call, messages // 20) for call in calls))
        used = _cpu() - started
        for call in calls:
            await call.done_writing()
    await server.stop(None)
    return used / messages


def _child(calls: int) -> None:
    import uvloop

    unary = uvloop.run(_unary(calls))
    stream = uvloop.run(_stream(calls))
    print(f"{unary * 1e6:.1f} {stream * 1e6:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.calls)
        return
    import grpc

    print(
        f"machine: {platform.machine()}, CPython {platform.python_version()}, grpcio "
        f"{grpc.__version__}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print("µs of CPU (client + server, all threads) per unary call | per stream round trip")
    for number in range(1, args.rounds + 1):
        for name, experiments in VARIANTS.items():
            environment = {**os.environ, "GRPC_EXPERIMENTS": experiments}
            result = subprocess.run(
                [sys.executable, __file__, "--child", "--calls", str(args.calls)],
                env=environment,
                capture_output=True,
                text=True,
                check=True,
            )
            unary, stream = result.stdout.split()
            print(f"  round {number}  {name:22s} {unary:>8s} µs | {stream:>8s} µs")
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
