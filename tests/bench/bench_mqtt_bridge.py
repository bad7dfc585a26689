"""The MQTT events bridge: latency from block commit to MQTT delivery, and events/s.

A real network (orderer, two peers, the asset_transfer contract), a real Mosquitto and
``consortium node run mqtt-bridge`` as its own process.

- **Latency**: while transactions commit, the benchmark reads the peer's Deliver itself
  (the moment a block is committed and served) and also subscribes to the bridge's
  ``blocks`` topic; per block, the time between the two arrivals is the bridge's hop
  (Deliver → JSON → broker → subscriber). Also per transaction: from the client's commit
  status to the ``tx/<txid>`` message.
- **Throughput**: a second bridge with no checkpoint replays the whole channel; events/s is
  messages over the time from the first to the last arrival at the subscriber (publish
  with QoS 1, PUBACK wait and one fsynced checkpoint per block included).

PYTHONPATH=. python tests/bench/bench_mqtt_bridge.py [--transactions 400]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from pathlib import Path

from fabric_protos.peer import events_pb2_grpc

from network.mqtt import topics
from proto.seek import FOREVER, build_seek_envelope
from tests.support.fabric_network import FabricNetwork
from tests.support.mosquitto import (
    Mosquitto,
    Subscriber,
    write_bridge_config,
    write_connection_file,
)
from tests.support.orderer import CHANNEL
from tests.support.processes import NodeProcess

ORG1 = "Org1MSP"
CONCURRENCY = 8


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def watch_deliver(fabric: FabricNetwork, arrivals: dict[int, float]) -> None:
    """Block number → when the peer's Deliver served it to this process."""
    async with fabric.client(ORG1) as gateway:
        stub = events_pb2_grpc.DeliverStub(gateway.channel)
        seek = build_seek_envelope(fabric.users[ORG1], CHANNEL, "newest", FOREVER)
        async for response in stub.Deliver(iter([seek])):
            if response.WhichOneof("Type") == "block":
                arrivals.setdefault(response.block.header.number, time.monotonic())


async def load(fabric: FabricNetwork, count: int, committed: dict[str, float]) -> None:
    """``count`` CreateAsset transactions, ``CONCURRENCY`` at a time; txid → commit seen."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker() -> None:
        async with fabric.client(ORG1) as gateway:
            while not queue.empty():
                n = queue.get_nowait()
                tx_id, _ = await gateway.submit_async(
                    CHANNEL, "basic", "CreateAsset", f"bench{n}", "red", "1", "Ann", "1"
                )
                await gateway.commit_status(CHANNEL, tx_id)
                committed[tx_id] = time.monotonic()

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


def start_bridge(root: Path, network: str, mosquitto: Mosquitto, connection: Path) -> NodeProcess:
    config = write_bridge_config(root / network, network, mosquitto.address, connection)
    process = NodeProcess(["node", "run", "mqtt-bridge", "--config", str(config)])
    process.wait_for(r"mqtt bridge publishing")
    return process


async def measure(root: Path, transactions: int) -> None:
    fabric = FabricNetwork(root / "fabric")
    mosquitto = Mosquitto(root / "mosquitto").start()
    processes: list[NodeProcess] = []
    try:
        await fabric.start()
        await fabric.join_and_deploy()
        connection = write_connection_file(fabric, ORG1, root / "connection")

        # latency, live
        live = "live"
        async with Subscriber(mosquitto.address, topics.event_filters(live, CHANNEL)) as sub:
            processes.append(start_bridge(root, live, mosquitto, connection))
            delivered: dict[int, float] = {}
            committed: dict[str, float] = {}
            watcher = asyncio.create_task(watch_deliver(fabric, delivered))
            await asyncio.sleep(0.5)
            started = time.monotonic()
            await load(fabric, transactions, committed)
            load_seconds = time.monotonic() - started
            await sub.wait_for(
                lambda got: (
                    sum(
                        1 for r in got if r.body.get("txid") in committed and r.body["kind"] == "tx"
                    )
                    >= len(committed)
                    and max(r.body["block"] for r in got) >= max(delivered)
                ),
                timeout=60,
            )
            watcher.cancel()
        block_hops = [
            (r.at - delivered[r.body["block"]]) * 1000
            for r in sub.received
            if r.body.get("kind") == "block" and r.body["block"] in delivered
        ]
        tx_hops = [
            (r.at - committed[r.body["txid"]]) * 1000
            for r in sub.received
            if r.body.get("kind") == "tx" and r.body["txid"] in committed
        ]

        # throughput, replaying the whole channel from a fresh checkpoint
        replay = "replay"
        async with Subscriber(mosquitto.address, topics.event_filters(replay, CHANNEL)) as sub:
            processes.append(start_bridge(root, replay, mosquitto, connection))
            await sub.wait_for(
                lambda got: any(
                    r.body.get("kind") == "block" and r.body["block"] >= max(delivered) for r in got
                ),
                timeout=120,
            )
            while time.monotonic() - sub.received[-1].at < 0.5:  # the last block's rest
                await asyncio.sleep(0.1)
            arrivals = [r.at for r in sub.received]
        replay_seconds = arrivals[-1] - arrivals[0]
        blocks = max(delivered) + 1
    finally:
        for process in processes:
            process.stop()
        mosquitto.stop()
        fabric.stop()

    print(f"machine: {platform.machine()}, CPython {platform.python_version()}")
    print(
        f"load: {transactions} CreateAsset tx, {CONCURRENCY} clients, "
        f"{transactions / load_seconds:.0f} tx/s committed"
    )
    print(
        f"block commit → MQTT (Deliver arrival → block message at the subscriber), "
        f"{len(block_hops)} blocks: p50 {percentile(block_hops, 0.5):.1f} ms, "
        f"p99 {percentile(block_hops, 0.99):.1f} ms, max {max(block_hops):.1f} ms"
    )
    print(
        f"commit status → tx/<txid> message, {len(tx_hops)} tx: "
        f"p50 {percentile(tx_hops, 0.5):.1f} ms, p99 {percentile(tx_hops, 0.99):.1f} ms "
        f"(mean {statistics.fmean(tx_hops):.1f} ms)"
    )
    print(
        f"replay from a fresh checkpoint: {len(arrivals)} messages of {blocks} blocks in "
        f"{replay_seconds:.2f} s = {len(arrivals) / replay_seconds:.0f} events/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=400)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(Path(tmp), arguments.transactions))


if __name__ == "__main__":
    main()
