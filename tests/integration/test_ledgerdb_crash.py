"""kill -9 a ``consortium ledger serve`` under a write load: nothing acknowledged is lost.

Eight client threads commit single-document INSERTs over gRPC and record the documentId
of every commit the server acknowledged. The server is killed at a random moment,
restarted on the same directory, and every acknowledged document must be there; the
journal must pass ``consortium ledger verify``. Three rounds on the same database, so
recovery after recovery is covered too.
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path

import pytest

from ledgerdb.client import LedgerClient
from ledgerdb.errors import LedgerError
from tests.support.processes import NodeProcess, consortium

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 8
ROUNDS = 3
SERVING = r"ledgerdb serving .* on 127\.0\.0\.1:(\d+)"

pytestmark = pytest.mark.slow


def _serve(directory: Path) -> tuple[NodeProcess, str]:
    node = NodeProcess(["ledger", "serve", "--ledger", str(directory), "--port", "0"], cwd=ROOT)
    port = node.wait_for(SERVING).group(1)
    return node, f"127.0.0.1:{port}"


def _load(endpoint: str, stop: threading.Event, acknowledged: list[str], worker: int) -> None:
    client = LedgerClient(endpoint, timeout=5)
    n = 0
    try:
        while not stop.is_set():
            n += 1
            try:
                outcome = client.execute(
                    "INSERT INTO Crash ?", {"worker": worker, "n": n, "pad": "x" * 64}
                )
            except LedgerError:
                return  # the server is gone: only acknowledged inserts count
            acknowledged.append(str(outcome.values[0]["documentId"]))
    finally:
        client.close()


def _visible(endpoint: str) -> set[str]:
    with LedgerClient(endpoint) as client:
        rows = client.execute("SELECT VALUE id FROM Crash AS c BY id").values
    return {str(row) for row in rows}


def test_kill_9_under_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    directory = tmp_path / "db"
    node, endpoint = _serve(directory)
    with LedgerClient(endpoint) as client:
        client.execute("CREATE TABLE Crash")
    acknowledged: list[str] = []
    rng = random.Random(os.getpid())
    try:
        for _round in range(ROUNDS):
            stop = threading.Event()
            workers = [
                threading.Thread(target=_load, args=(endpoint, stop, acknowledged, w))
                for w in range(CLIENTS)
            ]
            before = len(acknowledged)
            for worker in workers:
                worker.start()
            time.sleep(rng.uniform(0.8, 2.0))
            node.kill()
            stop.set()
            for worker in workers:
                worker.join(timeout=30)
            assert len(acknowledged) > before, "no insert was acknowledged before the kill"
            node, endpoint = _serve(directory)
            visible = _visible(endpoint)
            print(f"round {_round}: {len(acknowledged)} acknowledged, {len(visible)} visible")
            missing = set(acknowledged) - visible
            assert not missing, f"{len(missing)} acknowledged documents lost: {sorted(missing)[:5]}"
    finally:
        node.stop()
    consortium(ROOT, "ledger", "verify", "--ledger", str(directory / "journal"))
