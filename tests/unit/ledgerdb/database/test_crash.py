"""Crash safety: kill -9 a process committing from 8 threads, then reopen and check.

Every commit that returned (the child printed its label) is visible after the restart,
exactly once; storage (LMDB) caught up with the journal by itself; the journal verifies.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from ledgerdb.audit import audit
from ledgerdb.database import JOURNAL_DIRECTORY, LedgerDatabase

ROOT = Path(__file__).resolve().parents[4]

WRITER = r"""
import sys, threading
from ledgerdb.database import LedgerDatabase

path, run = sys.argv[1], sys.argv[2]
db = LedgerDatabase.open(path)
out = threading.Lock()

def writer(number):
    index = 0
    while True:
        label = f"{run}:{number}:{index}"
        db.execute("INSERT INTO Events ?", {"label": label, "writer": number, "pad": "." * 100})
        if index % 5 == 4:  # an update as well: read-modify-write of the writer's counter
            update = "UPDATE Counters AS c SET c.n = c.n + 1 WHERE c.writer = ?"
            db.execute_lambda(lambda t: t.execute(update, number), retry_limit=50)
        with out:
            sys.stdout.write(label + "\n")
            sys.stdout.flush()
        index += 1

threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def _run_and_kill(path: Path, run: int, seconds: float) -> list[str]:
    """Start the writers, kill -9 them ``seconds`` after the first commit; the labels of
    every commit that had returned."""
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(run)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert child.stdout is not None
    first = child.stdout.readline()
    time.sleep(seconds)
    child.send_signal(signal.SIGKILL)
    rest, _ = child.communicate()
    return (first + rest).decode().split("\n")[:-1]  # a line cut short has no newline


def test_kill_minus_nine_loses_no_acknowledged_commit(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with LedgerDatabase.open(path) as db:
        db.execute("CREATE TABLE Events")
        db.execute("CREATE INDEX ON Events (label)")
        db.execute("CREATE TABLE Counters")
        db.execute("CREATE INDEX ON Counters (writer)")
        db.execute("INSERT INTO Counters ?", [{"writer": n, "n": 0} for n in range(8)])
    randomness = random.Random(5)
    acknowledged: list[str] = []
    for run in range(3):
        acknowledged += _run_and_kill(path, run, randomness.uniform(0.2, 0.8))
        assert audit(path / JOURNAL_DIRECTORY).ok
        with LedgerDatabase.open(path) as db:
            labels = db.execute("SELECT VALUE e.label FROM Events e").values
            assert len(labels) == len(set(labels)), "a commit was applied twice"
            assert set(acknowledged) <= set(labels), "an acknowledged commit was lost"
            found = db.execute(
                "SELECT VALUE e.label FROM Events e WHERE e.label = ?", acknowledged[-1]
            )
            assert found.values == [acknowledged[-1]] and found.plan.uses_index
            counters = db.execute("SELECT VALUE c.n FROM Counters c").values
            # each counter update follows an insert of the same writer, in its own commit
            assert sum(counters) <= len(labels) // 5 + 8
    assert len(acknowledged) > 30  # the writers really ran between the kills
