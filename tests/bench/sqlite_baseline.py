"""What the ledgerdb benchmarks measure against, in one place: writer threads started
together, and SQLite doing the same durable inserts (WAL, ``synchronous=FULL``, one
``INSERT`` transaction per row, a connection per writer thread)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def in_threads(writers: int, writer: Callable[[int], None]) -> float:
    """Run ``writer(0 … writers-1)`` on their own threads; the wall-clock seconds taken."""
    threads = [threading.Thread(target=writer, args=(n,)) for n in range(writers)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


def sqlite_inserts(
    path: Path,
    create: str,
    insert: str,
    row: Callable[[int, int], Sequence[Any]],
    writers: int,
    per_writer: int,
) -> float:
    """Durable single-row INSERT transactions per second into a fresh database at ``path``
    (``create`` makes its table; ``row(writer, index)`` gives each insert's parameters)."""
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute(create)
    setup.commit()
    setup.close()

    def writer(number: int) -> None:
        connection = sqlite3.connect(path, timeout=60, isolation_level=None)
        connection.execute("PRAGMA synchronous=FULL")
        for index in range(per_writer):
            connection.execute("BEGIN IMMEDIATE")
            connection.execute(insert, row(number, index))
            connection.execute("COMMIT")
        connection.close()

    return writers * per_writer / in_threads(writers, writer)
