"""ledgerdb database figures, embedded (no server): commits/s next to SQLite, point reads,
history of a much-revised document, and a full rebuild of indexed storage.

Run: ``PYTHONPATH=. .venv/bin/python tests/bench/bench_ledgerdb.py [--documents N]``.
Prints figures and never asserts on them. Everything happens in one directory (default:
a temporary folder under the repository, i.e. on the same disk as a real ledger), which
is removed at the end. (Over gRPC: ``tests/bench/bench_ledgerdb_grpc.py``.)

1. Single-document INSERT transactions/s, 8 threads, each ``db.execute("INSERT …")`` its
   own transaction, acknowledged only once its journal block is fsynced; SQLite in WAL
   mode with ``synchronous=FULL`` doing the same inserts (one transaction each, 8 threads
   with a connection each) in the same directory; interleaved twice, medians shown, with
   the process's CPU and context switches per commit (every thread).
2. Indexed point SELECT (``WHERE VIN = ?`` on 10,000 documents): latency p50/p99 of the
   statement inside an open transaction, and of a whole one-statement transaction.
3. ``history()`` of one document with 1,000 revisions (looked up by document id).
4. Full rebuild of indexed storage from a journal holding ``--documents`` documents
   (default 100,000, inserted 40 per transaction, one index): ``rebuild()``, and the
   open of a database whose ``index/`` directory was deleted.
5. ``--only phases``: where a single-document INSERT commit's CPU goes, one writer
   thread: the writer thread's CPU per commit in each phase (nested phases are inside
   their parents' figures), and the process's CPU per commit (every thread; since the
   database's committers write their own journal groups, the writer thread does it all).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import platform
import random
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledgerdb import storage, transaction, workspace
from ledgerdb.database import INDEX_DIRECTORY, LedgerDatabase
from ledgerdb.limits import DOCUMENTS_PER_TRANSACTION
from tests.bench.sqlite_baseline import in_threads, sqlite_inserts

WRITERS = 8


def document(writer: int, index: int) -> dict:
    return {
        "VIN": f"VIN-{writer:02d}-{index:08d}",
        "Make": "Tesla",
        "Model": "Model S",
        "Year": 2020,
        "Owners": {"PrimaryOwner": {"PersonId": f"P{index}"}, "SecondaryOwners": []},
    }


def ledgerdb_inserts(directory: Path, per_writer: int) -> float:
    with LedgerDatabase.open(directory) as db:
        db.execute("CREATE TABLE Vehicle")
        db.execute("CREATE INDEX ON Vehicle (VIN)")

        def writer(number: int) -> None:
            for index in range(per_writer):
                db.execute("INSERT INTO Vehicle ?", document(number, index))

        elapsed = in_threads(WRITERS, writer)
    return WRITERS * per_writer / elapsed


def sqlite_vehicle_inserts(directory: Path, per_writer: int) -> float:
    return sqlite_inserts(
        directory / "bench.sqlite",
        "CREATE TABLE vehicle (id INTEGER PRIMARY KEY, vin TEXT UNIQUE, doc TEXT)",
        "INSERT INTO vehicle (vin, doc) VALUES (?, ?)",
        lambda number, index: _vehicle_row(document(number, index)),
        WRITERS,
        per_writer,
    )


def _vehicle_row(doc: dict) -> tuple[str, str]:
    return doc["VIN"], json.dumps(doc)


def inserts(root: Path, per_writer: int) -> None:
    print(f"\n1. single-document INSERT transactions/s, {WRITERS} threads, fsync per commit")
    rounds: dict[str, list[float]] = {"ledgerdb (embedded)": [], "sqlite WAL FULL": []}
    cpu: dict[str, list[float]] = {name: [] for name in rounds}
    switches: dict[str, list[float]] = {name: [] for name in rounds}
    for round_number in range(2):  # interleaved, so a noisy minute hits both sides
        for name, function in (
            ("sqlite WAL FULL", sqlite_vehicle_inserts),
            ("ledgerdb (embedded)", ledgerdb_inserts),
        ):
            directory = root / f"inserts-{name.split()[0]}-{round_number}"
            directory.mkdir()
            started, switched = _cpu_seconds(), _switches()
            rounds[name].append(function(directory, per_writer))
            cpu[name].append((_cpu_seconds() - started) / (WRITERS * per_writer))
            switches[name].append((_switches() - switched) / (WRITERS * per_writer))
            shutil.rmtree(directory)
    sqlite = statistics.median(rounds["sqlite WAL FULL"])
    for name, figures in rounds.items():
        rate = statistics.median(figures)
        runs = ", ".join(f"{figure:,.0f}" for figure in figures)
        per = statistics.median(cpu[name]) * 1e3
        print(
            f"   {name:22s} {rate:8,.0f} commits/s  ({runs}; {rate / sqlite:.2f}x SQLite), "
            f"CPU {per:.3f} ms and {statistics.median(switches[name]):.1f} context switches "
            "per commit"
        )


def _switches() -> int:
    """This process's context switches so far (every thread; waits and preemptions): on
    two cores, passing work between threads costs more CPU than most of the work."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_nvcsw + usage.ru_nivcsw


def _cpu_seconds() -> float:
    """This process's CPU (every thread: writers, the journal's, LMDB's) so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    return f"p50 {p50 * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms"


def point_selects(root: Path, documents: int = 10_000, samples: int = 2_000) -> None:
    print(f"\n2. indexed point SELECT on {documents:,} documents ({samples:,} samples each)")
    with LedgerDatabase.open(root / "point") as db:
        db.execute("CREATE TABLE Vehicle")
        db.execute("CREATE INDEX ON Vehicle (VIN)")
        batch = DOCUMENTS_PER_TRANSACTION
        for first in range(0, documents, batch):
            db.execute(
                "INSERT INTO Vehicle ?", [document(0, i) for i in range(first, first + batch)]
            )
        randomness = random.Random(2)
        query = "SELECT * FROM Vehicle WHERE VIN = ?"
        keys = [document(0, randomness.randrange(documents))["VIN"] for _ in range(samples)]
        transaction = db.start_transaction()
        inside = []
        for key in keys:
            begin = time.perf_counter()
            assert len(transaction.execute(query, key).values) == 1
            inside.append(time.perf_counter() - begin)
        transaction.abort()
        whole = []
        for key in keys:
            begin = time.perf_counter()
            db.execute(query, key)
            whole.append(time.perf_counter() - begin)
    print(f"   statement in an open transaction:   {_percentiles(inside)}")
    print(f"   one-statement transaction (commit): {_percentiles(whole)}")


def history(root: Path, revisions: int = 1_000, samples: int = 50) -> None:
    print(f"\n3. history() of one document with {revisions:,} revisions")
    with LedgerDatabase.open(root / "history") as db:
        db.execute("CREATE TABLE Counter")
        (made,) = db.execute("INSERT INTO Counter ?", {"n": 0}).values
        document_id = made["documentId"]
        start = time.perf_counter()
        for _ in range(revisions - 1):
            db.execute("UPDATE Counter AS c BY id SET c.n = c.n + 1 WHERE id = ?", document_id)
        built = time.perf_counter() - start
        query = "SELECT * FROM history(Counter) AS h WHERE h.metadata.id = ?"
        times = []
        for _ in range(samples):
            begin = time.perf_counter()
            rows = db.execute(query, document_id).values
            times.append(time.perf_counter() - begin)
        assert len(rows) == revisions
    print(f"   (built with {revisions - 1:,} sequential UPDATE transactions: {built:.1f} s)")
    print(f"   all {revisions:,} revisions: {_percentiles(times)}")


def rebuild(root: Path, documents: int) -> None:
    print(f"\n4. full rebuild of {documents:,} documents")
    path = root / "rebuild"
    batch = DOCUMENTS_PER_TRANSACTION
    with LedgerDatabase.open(path) as db:
        db.execute("CREATE TABLE Vehicle")
        db.execute("CREATE INDEX ON Vehicle (VIN)")
        per_writer = documents // batch // WRITERS

        def writer(number: int) -> None:
            for block in range(per_writer):
                docs = [document(number, block * batch + i) for i in range(batch)]
                db.execute("INSERT INTO Vehicle ?", docs)

        loaded = in_threads(WRITERS, writer)
        count = WRITERS * per_writer * batch
        print(
            f"   (loaded {count:,} documents in {count // batch:,} transactions, 8 threads: "
            f"{loaded:.1f} s, {count / loaded:,.0f} documents/s)"
        )
        start, cpu = time.perf_counter(), time.process_time()
        db.rebuild()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        print(
            f"   rebuild(): {elapsed:.1f} s wall, {cpu:.1f} s CPU ({count / elapsed:,.0f} docs/s)"
        )
    shutil.rmtree(path / INDEX_DIRECTORY)
    start = time.perf_counter()
    with LedgerDatabase.open(path) as db:
        opened = time.perf_counter() - start
        found = db.execute("SELECT COUNT(*) AS n FROM Vehicle").values
    print(f"   open with index/ deleted (replays the journal): {opened:.1f} s; {found}")


PHASES = (
    (transaction.Transaction, "execute", "statement (parse, evaluate, size, digest)"),
    (transaction.Transaction, "commit", "commit (all below)"),
    (workspace.Workspace, "build", "  block contents: Ion, hashes, OCC keys"),
    (LedgerDatabase, "_apply_in_order", "  indexed storage (LMDB)"),
    (storage.Snapshot, "__init__", "snapshot (LMDB read transaction)"),
)


def phases(root: Path, commits: int = 3_000) -> None:
    print(f"\n5. where one writer's commit CPU goes ({commits:,} single-document INSERTs)")
    spent: collections.Counter[str] = collections.Counter()
    originals = [(owner, name, getattr(owner, name)) for owner, name, _ in PHASES]
    for (owner, name, original), (_, _, label) in zip(originals, PHASES, strict=True):
        setattr(owner, name, _timed(original, label, spent))
    try:
        with LedgerDatabase.open(root / "phases") as db:
            db.execute("CREATE TABLE Vehicle")
            db.execute("CREATE INDEX ON Vehicle (VIN)")
            process, thread = _cpu_seconds(), time.thread_time()
            for index in range(commits):
                db.execute("INSERT INTO Vehicle ?", document(0, index))
            thread, process = time.thread_time() - thread, _cpu_seconds() - process
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    print(f"   process CPU per commit:       {process / commits * 1e3:.3f} ms (all threads)")
    print(f"   writer thread CPU per commit: {thread / commits * 1e3:.3f} ms, of which")
    for _, _, label in PHASES:
        print(f"     {label:42s} {spent[label] / commits * 1e3:.3f} ms")


def _timed(
    function: Callable[..., Any], label: str, spent: collections.Counter[str]
) -> Callable[..., Any]:
    """``function``, adding the calling thread's CPU time in it to ``spent[label]``."""

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return function(*args, **kwargs)
        finally:
            spent[label] += time.thread_time() - start

    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--per-writer", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[2])
    parser.add_argument("--only", choices=["inserts", "select", "history", "rebuild", "phases"])
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    root = Path(tempfile.mkdtemp(prefix=".bench-ledgerdb-", dir=args.dir))
    try:
        if args.only in (None, "inserts"):
            inserts(root, args.per_writer)
        if args.only in (None, "select"):
            point_selects(root)
        if args.only in (None, "history"):
            history(root)
        if args.only in (None, "rebuild"):
            rebuild(root, args.documents)
        if args.only in (None, "phases"):
            phases(root)
    finally:
        shutil.rmtree(root)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
