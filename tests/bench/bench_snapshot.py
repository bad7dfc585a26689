"""Snapshot time and size against the number of transactions committed.

    PYTHONPATH=. python tests/bench/bench_snapshot.py [--transactions 100000] [--in-flight 32]

`consortium up` the two-member spec (free ports, batch up to 100 transactions per block),
commit N CreateAsset transactions through org1's gateway, then time `snapshot create`
on the running network, and `down` + `snapshot restore` + `up` (the restored peers replay
their blocks into a fresh world state on start). Prints seconds and megabytes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.fabric_network import free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from network.cli import main; main()"]


def run(*args: str, cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([*CLI, *args], cwd=cwd, check=True, capture_output=True, text=True)
    return time.perf_counter() - started, done.stdout


async def load(connection: Path, total: int, in_flight: int) -> float:
    from network.gateway_client import GatewayClient

    started = time.perf_counter()
    names = iter(range(total))
    async with GatewayClient.from_connection(json.loads(connection.read_text()), "user1") as gw:

        async def worker() -> None:
            for n in names:
                await gw.submit("mychannel", "basic", "CreateAsset", f"b{n}", "red", "1", "B", "1")

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--in-flight", type=int, default=32)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, CPython {platform.python_version()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        text = (ROOT / "deploy" / "two-members.yaml").read_text()
        spec = cwd / "net.yaml"
        spec.write_text(re.sub(r"port: \d+", lambda _: f"port: {free_port()}", text))
        try:
            run("up", str(spec), "-o", "json", cwd=cwd)
            connection = cwd / ".consortium" / "two-members" / "connection" / "org1.json"
            seconds = asyncio.run(load(connection, args.transactions, args.in_flight))
            print(f"load: {args.transactions} transactions in {seconds:.0f}s")
            took, out = run("snapshot", "create", "bench", "-o", "json", cwd=cwd)
            manifest = json.loads(out)
            print(f"snapshot create (running network): {took:.1f}s wall, "
                  f"{manifest['seconds']:.1f}s copying, {manifest['bytes'] / 1e6:.1f} MB, "
                  f"heights {manifest['heights']}")  # fmt: skip
            run("down", str(spec), cwd=cwd)
            restored, _ = run("snapshot", "restore", "bench", cwd=cwd)
            started, _ = run("up", str(spec), "-o", "json", cwd=cwd)
            print(f"snapshot restore: {restored:.1f}s; up after it (peers replay): {started:.1f}s")
        finally:
            subprocess.run([*CLI, "down", str(spec), "--purge"], cwd=cwd, capture_output=True)


if __name__ == "__main__":
    main()
