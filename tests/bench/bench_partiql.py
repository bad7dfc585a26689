"""PartiQL engine figures: parse, indexed point SELECT, scan, and DML evaluation.

Runs over the in-memory catalog, so the figures are the engine's own cost (the database
adds LMDB reads and the journal write). Prints figures; asserts nothing about timing.
Run: python tests/bench/bench_partiql.py
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

from ledgerdb.partiql import MemoryCatalog, execute, parse
from ledgerdb.partiql.parser import _lark, _parse_cached

DOCUMENTS = 100_000


def _timed(function: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        samples.append(time.perf_counter() - start)
    return samples


def _report(label: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1e6
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e6
    print(f"{label:<48} p50 {p50:9.1f} µs   p99 {p99:9.1f} µs   ({len(samples)} runs)")


def main() -> None:
    machine = platform.processor() or platform.machine()
    print(f"machine: {machine}, {os.cpu_count()} cores, Python {platform.python_version()}")
    start = time.perf_counter()
    _lark()
    print(f"grammar load (cached LALR tables): {(time.perf_counter() - start) * 1e3:.0f} ms")

    catalog = MemoryCatalog()
    start = time.perf_counter()
    catalog.create(
        "Vehicle",
        (
            {"VIN": f"VIN{n:08d}", "Year": 1990 + n % 35, "Owner": {"Id": f"P{n % 5000}"}}
            for n in range(DOCUMENTS)
        ),
        indexes=["VIN"],
    )
    loaded = time.perf_counter() - start
    print(f"load {DOCUMENTS:,} documents into the memory catalog: {loaded:.1f} s")

    point = "SELECT * FROM Vehicle AS v WHERE v.VIN = ?"
    _report("parse point SELECT (uncached)", _timed(lambda: _parse_cached.__wrapped__(point), 2000))
    _report("parse point SELECT (cached text)", _timed(lambda: parse(point), 2000))
    parsed = parse(point)
    _report(
        "indexed point SELECT (parsed once)",
        _timed(lambda: execute(parsed, catalog, ["VIN00004242"]), 5000),
    )
    _report(
        "indexed point SELECT (parse + plan + run)",
        _timed(lambda: execute(point, catalog, ["VIN00004242"]), 2000),
    )
    _report(
        "IN lookup of 10 VINs",
        _timed(
            lambda: execute(
                "SELECT VALUE v.Year FROM Vehicle v WHERE v.VIN IN ?",
                catalog,
                [[f"VIN{n:08d}" for n in range(10)]],
            ),
            2000,
        ),
    )
    _report(
        "INSERT one document (changes only)",
        _timed(
            lambda: execute("INSERT INTO Vehicle VALUE {'VIN': ?, 'Year': 2024}", catalog, ["X"]),
            2000,
        ),
    )
    _report(
        "UPDATE by indexed VIN (changes only)",
        _timed(
            lambda: execute(
                "UPDATE Vehicle AS v SET v.Year = v.Year + 1 WHERE v.VIN = ?",
                catalog,
                ["VIN00000077"],
            ),
            2000,
        ),
    )
    scan = "SELECT COUNT(*) AS n FROM Vehicle v WHERE v.Owner.Id = 'P42' AND v.Year > 2000"
    samples = _timed(lambda: execute(scan, catalog), 3)
    median = statistics.median(samples)
    label = "full scan with filter + COUNT"
    print(f"{label:<48} {median:.2f} s  ({DOCUMENTS / median:,.0f} rows/s)")


if __name__ == "__main__":
    main()
