"""Single-document INSERT transactions/s with 8 client threads: ledgerdb over gRPC vs SQLite.

ledgerdb: a real ``consortium ledger serve`` process; each client thread runs
StartTransaction + ExecuteStatement (one INSERT) + CommitTransaction per document, so
every document is one durable journal block; then the same with the one-shot Execute RPC
(one round trip per transaction), each with the server's and the client process's CPU
per transaction (where the time goes). SQLite: the same documents, one INSERT
transaction each, WAL with synchronous=FULL, 8 threads each with its own connection, in
the same directory (same disk). Prints both figures; asserts nothing about speed.

Run: PYTHONPATH=. .venv/bin/python tests/bench/bench_ledgerdb_grpc.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

from ledgerdb.client import LedgerClient
from tests.support.processes import NodeProcess

CLIENTS = 8
ROOT = Path(__file__).resolve().parents[2]


def _document(worker: int, n: int) -> dict:
    return {"VIN": f"VIN-{worker}-{n}", "Make": "Tesla", "Year": 2020, "Owner": f"P{n}"}


def _cpu_seconds(pid: int) -> float:
    """A process's user + system CPU so far (every thread), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_threads(work, seconds: float) -> tuple[int, float]:
    """Run ``work(worker, stop, counts)`` in CLIENTS threads for ``seconds``."""
    stop = threading.Event()
    counts = [0] * CLIENTS
    threads = [threading.Thread(target=work, args=(w, stop, counts)) for w in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - started


Figure = tuple[float, float, float]  # transactions/s, server and client CPU ms per transaction


def _measured(work, seconds: float, server_pid: int) -> Figure:
    server, client = _cpu_seconds(server_pid), _cpu_seconds(os.getpid())
    done, elapsed = _run_threads(work, seconds)
    server, client = _cpu_seconds(server_pid) - server, _cpu_seconds(os.getpid()) - client
    return done / elapsed, server / done * 1000, client / done * 1000


def bench_ledgerdb(directory: Path, seconds: float) -> tuple[Figure, Figure]:
    """(Start+Execute+Commit, the one-shot Execute RPC)."""
    node = NodeProcess(["ledger", "serve", "--ledger", str(directory), "--port", "0"], cwd=ROOT)
    try:
        port = node.wait_for(r"ledgerdb serving .* on 127\.0\.0\.1:(\d+)").group(1)
        endpoint = f"127.0.0.1:{port}"
        with LedgerClient(endpoint) as client:
            client.execute("CREATE TABLE Vehicle")

        def three_calls(worker: int, stop: threading.Event, counts: list[int]) -> None:
            with LedgerClient(endpoint) as client:
                while not stop.is_set():
                    transaction = client.start_transaction()
                    transaction.execute("INSERT INTO Vehicle ?", _document(worker, counts[worker]))
                    transaction.commit()
                    counts[worker] += 1

        def one_call(worker: int, stop: threading.Event, counts: list[int]) -> None:
            with LedgerClient(endpoint) as client:
                while not stop.is_set():
                    client.execute("INSERT INTO Vehicle ?", _document(worker, -counts[worker] - 1))
                    counts[worker] += 1

        three = _measured(three_calls, seconds, node.process.pid)
        one = _measured(one_call, seconds, node.process.pid)
    finally:
        node.stop()
    return three, one


def bench_sqlite(directory: Path, seconds: float) -> float:
    path = directory / "bench.sqlite"
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE Vehicle (id INTEGER PRIMARY KEY, doc TEXT)")
    setup.close()

    def work(worker: int, stop: threading.Event, counts: list[int]) -> None:
        connection = sqlite3.connect(path, timeout=30, isolation_level=None)
        connection.execute("PRAGMA synchronous=FULL")
        while not stop.is_set():
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(
                "INSERT INTO Vehicle (doc) VALUES (?)",
                (json.dumps(_document(worker, counts[worker])),),
            )
            connection.execute("COMMIT")
            counts[worker] += 1
        connection.close()

    done, elapsed = _run_threads(work, seconds)
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as scratch:
        directory = Path(scratch)
        three, one = bench_ledgerdb(directory / "db", args.seconds)
        sqlite_rate = bench_sqlite(directory, args.seconds)
    print(f"single-document INSERT transactions, {CLIENTS} client threads, {args.seconds:g} s each")
    for name, (rate, server, client) in (
        ("ledgerdb over gRPC (Start+Execute+Commit)", three),
        ("ledgerdb over gRPC (one-shot Execute)", one),
    ):
        print(
            f"  {name + ':':43s}{rate:8.0f} tx/s  ({rate / sqlite_rate:.2f}x SQLite), CPU per tx: "
            f"server {server:.2f} ms, client {client:.2f} ms"
        )
    print(f"  {'SQLite WAL synchronous=FULL:':43s}{sqlite_rate:8.0f} tx/s")


if __name__ == "__main__":
    main()
