"""End-to-end TPS: CreateAsset through the Gateway, 2 members × 1 peer, 1 orderer,
2-of-2 endorsement, TLS on, load from the Node fabric-gateway client (50 in flight).

    PYTHONPATH=. python tests/bench/bench_peer.py [--transactions 2000] [--in-flight 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import tempfile
from pathlib import Path

from tests.support.fabric_network import FabricNetwork

HERE = Path(__file__).resolve().parent


async def run(total: int, in_flight: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        batch = {"timeout": "100ms", "count": "100", "absolute": "10 MB", "preferred": "2 MB"}
        network = FabricNetwork(root, batch=batch)
        try:
            await network.start()
            await network.join_and_deploy()
            config = network.node_client_config(
                root / "clients", {"user1": network.users["Org1MSP"]}
            )
            result = subprocess.run(
                [
                    "node",
                    str(HERE / "load_gateway.js"),
                    str(config),
                    str(total),
                    str(in_flight),
                ],
                capture_output=True,
                text=True,
                timeout=1200,
            )
            if result.returncode != 0:
                raise SystemExit(result.stderr)
            figures = json.loads(result.stdout.strip().splitlines()[-1])
        finally:
            network.stop()
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {__import__('os').cpu_count()} cores"
    )
    print(
        f"CreateAsset × {figures['total']}, {figures['inFlight']} in flight, "
        f"2-of-2 endorsement, TLS on"
    )
    print(f"throughput: {figures['tps']:.0f} TPS ({figures['failures']} failed)")
    print(f"latency: p50 {figures['p50ms']:.0f} ms, p99 {figures['p99ms']:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(run(args.transactions, args.in_flight))


if __name__ == "__main__":
    main()
