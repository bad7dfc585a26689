"""ledgerdb journal figures: durable appends/s next to SQLite, proofs and open at 1,000,000 blocks.

Run: ``python tests/bench/bench_journal.py [--blocks N] [--dir DIR]``. Prints figures and
never asserts on them. Everything happens in one directory (default: a temporary folder
under the repository, i.e. on the same disk as a real ledger), which is removed at the end.

1. Durable appends/s, 8 concurrent writers, 1 KB entries, every append acknowledged only
   after fsync: the journal (8 asyncio tasks, as the orderer appends; and 8 threads) and
   SQLite (WAL, synchronous=FULL, one INSERT transaction per entry, 8 threads, one
   connection each), side by side in this run, same directory.
2. A journal of ``--blocks`` blocks (default 1,000,000) built with the bulk path
   (``append_many``: 10,000 blocks per fsync, 32-byte payloads), then closed.
3. Open/recover time of that journal (every record's checksum is read).
4. At that size: a digest at random historic tips, and inclusion proof produce + verify
   against the newest digest and against random historic digests (saved beforehand).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ledgerdb.block import Payload
from ledgerdb.journal import AsyncJournal, Journal
from ledgerdb.verify import verify_inclusion
from tests.bench.sqlite_baseline import in_threads, sqlite_inserts

WRITERS = 8
ENTRY = 1024
# Entries are made before the clock starts (random bytes are slow to make); each is
# still distinct, so nothing can be deduplicated or compressed away.
_BASE = os.urandom(ENTRY)


def entry(writer: int, index: int) -> bytes:
    return (b"%02d%08d" % (writer, index)) + _BASE[10:]


def journal_async(directory: Path, per_writer: int) -> float:
    async def main() -> float:
        journal = await AsyncJournal.open(directory)

        async def writer(number: int) -> None:
            for index in range(per_writer):
                await journal.append(
                    [Payload(entry(number, index))], {"writer": number, "n": index}
                )

        start = time.perf_counter()
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        elapsed = time.perf_counter() - start
        await journal.close()
        return WRITERS * per_writer / elapsed

    return asyncio.run(main())


def journal_threads(directory: Path, per_writer: int) -> float:
    journal = Journal.open(directory)

    def writer(number: int) -> None:
        for index in range(per_writer):
            journal.append([Payload(entry(number, index))], {"writer": number, "n": index})

    elapsed = in_threads(WRITERS, writer)
    journal.close()
    return WRITERS * per_writer / elapsed


def sqlite_threads(directory: Path, per_writer: int) -> float:
    return sqlite_inserts(
        directory / "bench.sqlite",
        "CREATE TABLE entries (id INTEGER PRIMARY KEY, writer INT, data BLOB)",
        "INSERT INTO entries (writer, data) VALUES (?, ?)",
        lambda number, index: (number, entry(number, index)),
        WRITERS,
        per_writer,
    )


def appends(root: Path, per_writer: int) -> None:
    print(f"\n1. durable appends/s, {WRITERS} writers, {ENTRY}-byte entries, fsync per ack")
    rounds = {"journal (8 asyncio tasks)": [], "journal (8 threads)": [], "sqlite WAL FULL": []}
    for round_number in range(2):  # interleaved, so a noisy minute hits both sides
        for name, function in (
            ("sqlite WAL FULL", sqlite_threads),
            ("journal (8 asyncio tasks)", journal_async),
            ("journal (8 threads)", journal_threads),
        ):
            directory = root / f"{name.split()[0]}-{round_number}"
            directory.mkdir()
            rounds[name].append(function(directory, per_writer))
            shutil.rmtree(directory)
    sqlite = statistics.median(rounds["sqlite WAL FULL"])
    for name, figures in rounds.items():
        rate = statistics.median(figures)
        runs = ", ".join(f"{figure:,.0f}" for figure in figures)
        print(f"   {name:28s} {rate:9,.0f} appends/s  ({runs}; {rate / sqlite:.1f}x SQLite)")


def build(directory: Path, blocks: int) -> None:
    print(f"\n2. building {blocks:,} blocks (bulk path: append_many, 10,000 blocks per fsync)")
    start, cpu = time.perf_counter(), time.process_time()
    with Journal.open(directory) as journal:
        for first in range(0, blocks, 10_000):
            count = min(10_000, blocks - first)
            journal.append_many(
                [([Payload(b"%032d" % n)], None, None) for n in range(first, first + count)]
            )
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    size = sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())
    print(
        f"   {elapsed:.1f} s wall, {cpu:.1f} s CPU ({blocks / elapsed:,.0f} blocks/s), "
        f"{size / 2**20:,.0f} MiB on disk"
    )


def open_and_prove(directory: Path, blocks: int) -> None:
    start, cpu = time.perf_counter(), time.process_time()
    journal = Journal.open(directory)
    opened, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"\n3. open/recover of {blocks:,} blocks: {opened:.2f} s wall, {cpu:.2f} s CPU "
        "(every record's CRC32C read)"
    )
    randomness = random.Random(1)
    tip = journal.tip.sequence_no
    historic = [randomness.randrange(tip // 2, tip + 1) for _ in range(1000)]
    begin = time.perf_counter()
    digests = {at: journal.digest(at).digest for at in [tip, *historic]}
    per_digest = (time.perf_counter() - begin) / len(digests)
    print(f"\n4. at {blocks:,} blocks: a digest at any tip takes {per_digest * 1e3:.3f} ms")
    for label, tips in (("the newest digest", [tip] * 1000), ("historic digests", historic)):
        samples = []
        for at in tips:
            number = randomness.randrange(0, at + 1)
            begin = time.perf_counter()
            proof = journal.inclusion_proof(number, at)
            verify_inclusion(journal.tree.leaf(number), number, at, proof, digests[at])
            samples.append(time.perf_counter() - begin)
        samples.sort()
        median, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
        print(
            f"   inclusion proof produce + verify against {label}: "
            f"median {median * 1e3:.3f} ms, p99 {p99 * 1e3:.3f} ms, max {samples[-1] * 1e3:.3f} ms"
        )
    journal.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=1_000_000)
    parser.add_argument("--per-writer", type=int, default=400)
    parser.add_argument("--dir", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    print(
        f"machine: {os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    root = Path(tempfile.mkdtemp(prefix=".bench-journal-", dir=args.dir))
    try:
        appends(root, args.per_writer)
        build(root / "big", args.blocks)
        open_and_prove(root / "big", args.blocks)
    finally:
        shutil.rmtree(root)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
