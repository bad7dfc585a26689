"""Start and stop a real ``consortium ca serve`` process (conformance and integration tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = "from network.cli import main; main()"


def start_ca(home: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``consortium ca serve`` on a free port; return the process and its URL."""
    home.mkdir(parents=True, exist_ok=True)
    log = (home.parent / f"{home.name}.log").open("a")
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            CLI,
            "ca",
            "serve",
            "--home",
            str(home),
            "--port",
            "0",
            "--boot",
            "admin:adminpw",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=HERE.parents[1],
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        log.close()
        raise AssertionError(f"CA did not start: {line!r}; see {log.name}")
    return process, line.rsplit(" ", 1)[-1].strip()


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
