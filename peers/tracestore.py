"""The trace records this peer keeps, by transaction id, and the service that serves them.

Traces are diagnostics, not ledger data: they live in their own SQLite file, written
without fsync, so recording a step never waits on the disk. A crash may lose the last
few records; the ledger itself is unaffected.

Why SQLite and not LMDB like the world state: LMDB reads through a memory map, so every
page a write touches stays mapped into the peer and counts in its resident memory — the
trace records of 100,000 transactions added ~180 MB to the gateway peer's RSS. SQLite
reads with ``pread`` into a small page cache of its own (2 MB); the rest is the kernel's
page cache, outside the process.

Records are written in batches: a transaction leaves eight records on its gateway peer,
and a write transaction each cost more than the record. ``add`` queues a record and,
inside an event loop, writes everything queued ``FLUSH_DELAY`` seconds later in one SQLite
transaction (at once without a loop, or once ``FLUSH_COUNT`` are queued); a read flushes
first, so ``records`` always sees every record added before it.

A batch the disk refuses (full) is dropped with one warning until a batch is written
again: a diagnostic must not fail the endorsement or commit that recorded it.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import grpc

from proto import trace_pb2, trace_pb2_grpc
from proto.tracing import TraceRecord

log = logging.getLogger(__name__)
FILE = "traces.sqlite"
OLDER_FILES = ("data.mdb", "lock.mdb")  # the LMDB layout of earlier versions
FLUSH_DELAY = 0.05
FLUSH_COUNT = 1024
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS records "
    "(seq INTEGER PRIMARY KEY, tx_id TEXT NOT NULL, body BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS records_by_tx ON records (tx_id, seq)",
)

Tracer = Callable[..., None]
"""``trace(step, tx_id, channel_id, **details)``: record one step of a transaction."""


def no_trace(*_: object, **__: object) -> None:
    """The tracer of a component nobody traces (tests, tools)."""


class TraceStore:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        for older in OLDER_FILES:  # diagnostics: not worth migrating
            (path / older).unlink(missing_ok=True)
        # One thread uses it at a time (the peer's event loop); tools may open it elsewhere.
        self._db = sqlite3.connect(path / FILE, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")
        for statement in _SCHEMA:
            self._db.execute(statement)
        self._pending: list[TraceRecord] = []
        self._scheduled: asyncio.TimerHandle | None = None
        self._failing = False

    def add(self, record: TraceRecord) -> None:
        """Queue one record (call from the event loop's thread, or without a loop)."""
        self._pending.append(record)
        if len(self._pending) >= FLUSH_COUNT:
            self.flush()
        elif self._scheduled is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._scheduled = loop.call_later(FLUSH_DELAY, self.flush)

    def flush(self) -> None:
        """Write every queued record, in order, in one transaction."""
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        rows = [(record.tx_id, record.SerializeToString()) for record in pending]
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT INTO records (tx_id, body) VALUES (?, ?)", rows)
        except sqlite3.Error as exc:
            if not self._failing:
                log.warning("trace records dropped until they can be written: %s", exc)
            self._failing = True
            return
        self._failing = False

    def records(self, tx_id: str) -> list[TraceRecord]:
        """The transaction's records in the order they were recorded."""
        self.flush()
        rows = self._db.execute(
            "SELECT body FROM records WHERE tx_id = ? ORDER BY seq", (tx_id,)
        ).fetchall()
        return [TraceRecord.FromString(body) for (body,) in rows]

    def close(self) -> None:
        self.flush()
        self._db.close()


class TraceService(trace_pb2_grpc.TraceServiceServicer):
    def __init__(self, store: TraceStore) -> None:
        self._store = store

    async def GetTrace(
        self, request: trace_pb2.TraceRequest, context: grpc.aio.ServicerContext
    ) -> trace_pb2.TraceResponse:
        if not request.tx_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tx_id is required")
        return trace_pb2.TraceResponse(records=self._store.records(request.tx_id))
