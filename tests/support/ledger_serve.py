"""``consortium ledger serve`` with its QLDB port, as its own process, for tests and benches."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"control plane listening on http://127\.0\.0\.1:(\d+)")


def start_qldb_server(
    arguments: Sequence[str], environment: Mapping[str, str] = {}
) -> tuple[subprocess.Popen[str], int]:
    """Start ``ledger serve --qldb-port 0 ARGUMENTS``; returns it and the port it bound,
    once it says so. A server that exits first fails with what it printed."""
    command = [sys.executable, "-c", "from network.cli import main; main()", "ledger", "serve"]
    process = subprocess.Popen(
        [*command, "--qldb-port", "0", *arguments],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **environment},
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if match := _LISTENING.search(line):
            return process, int(match[1])
    raise RuntimeError(f"ledger serve exited ({process.wait()}):\n{''.join(seen)}")


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
