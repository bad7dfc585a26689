"""``consortium ledger verify/digest/block`` on a journal another process is appending to."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import consortium

ROOT = Path(__file__).resolve().parents[2]

# Four threads append for as long as the process lives (group commit, segments rolling
# over every 64 KiB), so the readers meet half-written records and new segment files.
APPENDER = """
import sys, threading
from ledgerdb.block import Payload
from ledgerdb.journal import Journal

journal = Journal.open(sys.argv[1], segment_bytes=64 * 1024)

def append(writer):
    number = 0
    while True:
        journal.append([Payload(b"%d-%d " % (writer, number) * 40)], {"writer": writer})
        number += 1

for writer in range(4):
    threading.Thread(target=append, args=(writer,), daemon=True).start()
while journal.tip is None or journal.tip.sequence_no < 200:
    pass
print("appending", flush=True)
threading.Event().wait()
"""


@pytest.fixture
def appender(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    ledger = tmp_path / "ledger"
    process = subprocess.Popen(
        [sys.executable, "-c", APPENDER, str(ledger)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdout.readline() == "appending\n"
        yield ledger, process
    finally:
        process.kill()
        process.wait(timeout=10)


def ledger_json(*args: str) -> dict:
    return json.loads(consortium(ROOT, "ledger", *args, "--output", "json").stdout)


def test_verify_digest_and_block_while_a_process_appends(
    appender: tuple[Path, subprocess.Popen[str]],
) -> None:
    ledger, process = appender
    tips = []
    for _ in range(2):
        report = ledger_json("verify", "--ledger", str(ledger))
        assert report["valid"] is True and "tornTailBytes" not in report
        digest = ledger_json("digest", "--ledger", str(ledger))
        tips.append(digest["digestTipAddress"]["sequenceNo"])
        block = ledger_json("block", "--ledger", str(ledger), "--seq", "100")
        assert block["verified"] is True
    assert process.poll() is None, "the appender stopped: the readers got in its way"
    assert 200 <= tips[0] < tips[1], "the journal grew while it was read"
    process.kill()  # a crash mid-write: now every whole record counts, a torn tail is shown
    process.wait(timeout=10)
    report = ledger_json("verify", "--ledger", str(ledger))
    assert report["valid"] is True and report["blocks"] > tips[1]
