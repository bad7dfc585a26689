"""`consortium up` to ready, `down`, and resume, for a spec of deploy/ (the two-member
spec unless ``--spec`` names another), every port moved to a free one.

PYTHONPATH=. python tests/bench/bench_up.py [--runs 3] [--spec three-orderers.yaml]
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
    parser.add_argument("--spec", default="two-members.yaml", help="a spec file of deploy/")
    args = parser.parse_args()
    runs = args.runs
    figures: dict[str, list[float]] = {"up (fresh)": [], "down": [], "up (resume)": []}
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            cwd = Path(tmp)
            text = (ROOT / "deploy" / args.spec).read_text()
            spec = cwd / "net.yaml"
            spec.write_text(re.sub(r"port: \d+", lambda _: f"port: {free_port()}", text))
            try:
                figures["up (fresh)"].append(timed("up", str(spec), cwd=cwd))
                figures["down"].append(timed("down", str(spec), cwd=cwd))
                figures["up (resume)"].append(timed("up", str(spec), cwd=cwd))
            finally:
                subprocess.run([*CLI, "down", str(spec), "--purge"], cwd=cwd, capture_output=True)
    print(f"machine: {platform.machine()}, CPython {platform.python_version()}")
    print(f"deploy/{args.spec}, TLS on")
    for name, values in figures.items():
        print(
            f"{name}: median {statistics.median(values):.2f} s "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)"
        )


if __name__ == "__main__":
    main()
