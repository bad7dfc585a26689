"""`consortium up` to ready, `down`, and resume, for the two-member spec (free ports).

PYTHONPATH=. python tests/bench/bench_up.py [--runs 3]
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.fabric_network import free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from network.cli import main; main()"]


def timed(*args: str, cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run([*CLI, *args], cwd=cwd, check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    figures: dict[str, list[float]] = {"up (fresh)": [], "down": [], "up (resume)": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            cwd = Path(tmp)
            text = (ROOT / "deploy" / "two-members.yaml").read_text()
            spec = cwd / "net.yaml"
            spec.write_text(re.sub(r"port: \d+", lambda _: f"port: {free_port()}", text))
            try:
                figures["up (fresh)"].append(timed("up", str(spec), cwd=cwd))
                figures["down"].append(timed("down", str(spec), cwd=cwd))
                figures["up (resume)"].append(timed("up", str(spec), cwd=cwd))
            finally:
                subprocess.run([*CLI, "down", str(spec), "--purge"], cwd=cwd, capture_output=True)
    print(f"machine: {platform.machine()}, CPython {platform.python_version()}")
    print(
        "two members × 1 peer, 1 orderer, 1 channel, 1 chaincode, MQTT broker and bridge, "
        "reconciler (10 processes), TLS on"
    )
    for name, values in figures.items():
        print(
            f"{name}: median {statistics.median(values):.2f} s "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)"
        )


if __name__ == "__main__":
    main()
