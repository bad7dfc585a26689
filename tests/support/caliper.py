"""Hyperledger Caliper 0.6.0 (the npm project in ``tests/bench/caliper``, installed by
``deploy/install-deps.sh``) run against a consortium network `up` started: the network
configuration comes from ``consortium connection MEMBER --format caliper``, and the
figures from the summary table Caliper prints at the end of a run."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import consortium

WORKSPACE = Path(__file__).resolve().parents[1] / "bench" / "caliper"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SUMMARY = "All test results"


@dataclass(frozen=True)
class Round:
    """One row of Caliper's summary table."""

    name: str
    succeeded: int
    failed: int
    send_rate: float
    max_latency: float
    min_latency: float
    avg_latency: float
    throughput: float


def caliper_command() -> list[str]:
    """The installed Caliper CLI, run by node."""
    cli = WORKSPACE / "node_modules" / "@hyperledger" / "caliper-cli" / "caliper.js"
    node = shutil.which("node")
    if node is None or not cli.exists():
        raise FileNotFoundError(f"{cli} is missing: run deploy/install-deps.sh")
    return [node, str(cli)]


def write_network_config(cwd: Path, member: str, target: Path) -> Path:
    """Caliper's network configuration of the network `up` ran in ``cwd``, ``member``
    first, as the CLI prints it."""
    printed = consortium(cwd, "connection", member, "--format", "caliper").stdout
    target.write_text(json.dumps(json.loads(printed), indent=2))
    return target


def run_caliper(
    network_config: Path, benchmark: Path, report: Path, timeout: float
) -> subprocess.CompletedProcess:
    """``caliper launch manager`` on ``benchmark`` (only the test phase: the network and
    its chaincode exist already), its HTML report to ``report``."""
    command = [
        *caliper_command(),
        "launch",
        "manager",
        "--caliper-workspace",
        str(WORKSPACE),
        "--caliper-networkconfig",
        str(network_config),
        "--caliper-benchconfig",
        str(benchmark),
        "--caliper-report-path",
        str(report),
        "--caliper-flow-only-test",
    ]
    return subprocess.run(
        command, cwd=WORKSPACE, capture_output=True, text=True, timeout=timeout, check=False
    )


def summary_table(output: str) -> list[str]:
    """The lines of the last summary table in Caliper's output."""
    text = _ANSI.sub("", output)
    start = text.rfind(_SUMMARY)
    if start < 0:
        return []
    return [
        line.strip() for line in text[start:].splitlines() if line.strip().startswith(("|", "+"))
    ]


def summary(output: str) -> list[Round]:
    """Caliper's summary table as rounds (empty if the run printed none)."""
    rounds = []
    for line in summary_table(output):
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) != 8 or not cells[1].isdigit():
            continue  # borders and the header
        name, succ, fail, *figures = cells
        # a round with no successful transaction has no latencies: "-"
        numbers = (float("nan") if f == "-" else float(f) for f in figures)
        rounds.append(Round(name, int(succ), int(fail), *numbers))
    return rounds
