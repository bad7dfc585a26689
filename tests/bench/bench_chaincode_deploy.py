"""A contract to the live network: `chaincode deploy` of a new contract, an upgrade (changed
code), and a dev-mode takeover (until the network's peers answer from the dev process),
each timed as the user waits for it, on the two-member spec.

PYTHONPATH=. python tests/bench/bench_chaincode_deploy.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.fabric_network import free_port

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from network.cli import main; main()"]
CONTRACT = ROOT / "tests" / "integration" / "contracts" / "notice_board"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], cwd=cwd, check=True, capture_output=True, text=True, timeout=300
    )


def timed(*args: str, cwd: Path) -> float:
    started = time.perf_counter()
    run(*args, cwd=cwd)
    return time.perf_counter() - started


def edit(folder: Path, edition: str) -> None:
    source = folder / "contract.py"
    source.write_text(re.sub(r'EDITION = "[^"]*"', f'EDITION = "{edition}"', source.read_text()))


def takeover(cwd: Path, folder: Path, edition: str) -> float:
    """From `chaincode dev --name board` typed to the first query answered by it."""
    edit(folder, edition)
    started = time.perf_counter()
    dev = subprocess.Popen(
        [*CLI, "chaincode", "dev", str(folder), "--name", "board"],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while True:
            answer = subprocess.run(
                [*CLI, "query", "board", "Edition", "--member", "org1", "-o", "json"],
                cwd=cwd,
                capture_output=True,
                text=True,
            )
            if answer.returncode == 0 and json.loads(answer.stdout)["result"] == edition:
                return time.perf_counter() - started
            time.sleep(0.05)
    finally:
        dev.send_signal(signal.SIGTERM)
        dev.wait(60)


def one_run(figures: dict[str, list[float]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        text = (ROOT / "deploy" / "two-members.yaml").read_text()
        spec = cwd / "net.yaml"
        spec.write_text(re.sub(r"port: \d+", lambda _: f"port: {free_port()}", text))
        folder = cwd / "notice_board"
        shutil.copytree(CONTRACT, folder, ignore=shutil.ignore_patterns("__pycache__"))
        deploy = ("chaincode", "deploy", str(folder), "--name", "board")
        try:
            run("up", str(spec), cwd=cwd)
            figures["deploy (new contract)"].append(timed(*deploy, cwd=cwd))
            edit(folder, "upgraded")
            figures["upgrade (changed code)"].append(timed(*deploy, cwd=cwd))
            figures["dev takeover (to first answer)"].append(takeover(cwd, folder, "dev"))
        finally:
            subprocess.run([*CLI, "down", str(spec), "--purge"], cwd=cwd, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    figures: dict[str, list[float]] = {
        "deploy (new contract)": [],
        "upgrade (changed code)": [],
        "dev takeover (to first answer)": [],
    }
    for _ in range(runs):
        one_run(figures)
    print(f"machine: {platform.machine()}, CPython {platform.python_version()}")
    print("two members × 1 peer, 1 orderer, TLS on; wall time of the CLI command")
    for name, values in figures.items():
        print(
            f"{name}: median {statistics.median(values):.2f} s "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} runs)"
        )


if __name__ == "__main__":
    main()
