"""Snapshot time and size against the number of transactions committed.

    PYTHONPATH=. python tests/bench/bench_snapshot.py [--transactions 100000] [--in-flight 128]

`consortium up` the two-member spec (free ports, batch up to 100 transactions per block),
commit N CreateAsset transactions through org1's gateway, then time `snapshot create`
on the running network, and `down` + `snapshot restore` + `up` (the restored peers replay
their blocks into a fresh world state on start). Prints seconds (wall, and CPU of the
command's process where the work is done in it), megabytes, and the load average, so a
run on a busy machine can be scaled to another size: every step is linear in the
journals' bytes.
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
    took, _, out = timed(*args, cwd=cwd)
    return took, out


def timed(*args: str, cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of the command's own process, and its output."""
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run([*CLI, *args], cwd=cwd, check=False, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"consortium {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return time.perf_counter() - started, cpu, done.stdout


async def load(connection: Path, total: int, in_flight: int) -> float:
    from network.gateway_client import GatewayClient

    started = time.perf_counter()
    names = iter(range(total))
    async with GatewayClient.from_connection(json.loads(connection.read_text()), "user1") as gw:

        async def worker() -> None:
            for n in names:
                await gw.submit("mychannel", "basic", "CreateAsset", f"b{n}", "red", "1", "B", "1")
                if n and n % 5000 == 0:
                    print(f"  {n} transactions in {time.perf_counter() - started:.0f}s, "
                          f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip

        await asyncio.gather(*(worker() for _ in range(in_flight)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--in-flight", type=int, default=128)
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
            print(f"load average now {os.getloadavg()[0]:.1f}")
            took, cpu, out = timed("snapshot", "create", "bench", "-o", "json", cwd=cwd)
            manifest = json.loads(out)
            print(f"snapshot create (running network): {took:.1f}s wall, {cpu:.1f}s CPU, "
                  f"{manifest['seconds']:.1f}s copying, {manifest['bytes'] / 1e6:.1f} MB, "
                  f"heights {manifest['heights']}")  # fmt: skip
            run("down", str(spec), cwd=cwd)
            restored, restore_cpu, _ = timed("snapshot", "restore", "bench", cwd=cwd)
            started, _ = run("up", str(spec), "-o", "json", cwd=cwd)
            print(f"snapshot restore: {restored:.1f}s wall, {restore_cpu:.1f}s CPU; "
                  f"up after it (peers replay): {started:.1f}s wall; "
                  f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
        finally:
            subprocess.run([*CLI, "down", str(spec), "--purge"], cwd=cwd, capture_output=True)


if __name__ == "__main__":
    main()
