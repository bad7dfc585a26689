"""Crash safety: kill -9 a process appending from 8 writers, many times, then check.

After every restart, every append that had returned is present, exactly once, at the
address it was acknowledged with, in each writer's order, and the whole journal verifies.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledgerdb.audit import audit
from ledgerdb.journal import Journal

ROOT = Path(__file__).resolve().parents[2]

WRITER = r"""
import sys, threading
from ledgerdb.block import Payload
from ledgerdb.journal import Journal

path, run = sys.argv[1], sys.argv[2]
journal = Journal.open(path, segment_bytes=64 * 1024)
out = threading.Lock()

def writer(number):
    index = 0
    while True:
        label = f"{run}:{number}:{index}"
        address = journal.append([Payload(label.encode() + b"." * 200)], {"writer": number})
        with out:
            sys.stdout.write(f"{address.sequence_no} {label}\n")
            sys.stdout.flush()
        index += 1

threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def run_and_kill(path: Path, run: int, seconds: float) -> dict[str, int]:
    """Start the writers; once they append, kill -9 them ``seconds`` later.

    Returns label → acknowledged sequence number for every append that had returned.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(run)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    first = child.stdout.readline()  # the writers are running (however slow the start was)
    time.sleep(seconds)
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate()
    acknowledged = {}
    for line in (first + rest).decode().split("\n")[:-1]:  # a line cut short has no newline
        sequence_no, label = line.split(" ")
        acknowledged[label] = int(sequence_no)
    return acknowledged


@pytest.mark.slow
def test_kill_minus_nine_loses_nothing_acknowledged(tmp_path: Path) -> None:
    path = tmp_path / "ledger"
    randomness = random.Random(4)
    acknowledged: dict[str, int] = {}
    rounds = int(os.environ.get("LEDGER_CRASH_ROUNDS", "5"))  # `make chaos`: 20
    for run in range(rounds):
        acknowledged.update(run_and_kill(path, run, randomness.uniform(0.05, 0.8)))
        with Journal.open(path, segment_bytes=64 * 1024) as journal:
            count = journal.tip.sequence_no + 1
            labels = [
                block.entries[0].body.split(b".")[0].decode()
                for block in journal.read_range(0, count)
            ]
        assert len(set(labels)) == len(labels), "a block was written twice"
        for label, sequence_no in acknowledged.items():
            assert labels[sequence_no] == label, f"acknowledged {label} lost or moved"
        last_index: dict[tuple[str, str], int] = {}
        for label in labels:
            run_id, writer, index = label.split(":")
            assert last_index.get((run_id, writer), -1) < int(index), "a writer's order broke"
            last_index[(run_id, writer)] = int(index)
        report = audit(path)
        assert report.ok, report.problem
    print(f"{len(acknowledged)} acknowledged appends survived {rounds} kills")
    assert len(acknowledged) > rounds * 20  # the writers really ran between the kills
