"""The trace records this peer keeps, by transaction id, and the service that serves them.

Traces are diagnostics, not ledger data: they live in their own LMDB environment opened
without fsync per write, so recording a step never waits on the disk. A crash may lose
the last few records; the ledger itself is unaffected.

Records are stored under an increasing sequence number, with a small index from
transaction id to sequence numbers beside them. Appending at the end touches only the
last pages of the B-tree; keyed by (random) transaction id, every write would touch a
random leaf, and over a long run the whole file would be mapped into the peer's memory
(LMDB reads through mmap): 250 MB of resident memory after 75,000 transactions.

Records are written in batches: a transaction leaves eight records on its gateway peer,
and a write transaction each cost more than the record. ``add`` queues a record and,
inside an event loop, writes everything queued ``FLUSH_DELAY`` seconds later in one LMDB
transaction (at once without a loop, or once ``FLUSH_COUNT`` are queued); a read flushes
first, so ``records`` always sees every record added before it.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from pathlib import Path

import grpc
import lmdb

from proto import trace_pb2, trace_pb2_grpc
from proto.tracing import TraceRecord

_MAP_SIZE = 1 << 34
_SEQUENCE = struct.Struct(">Q")
_NAMES = (b"records", b"by_tx")
FLUSH_DELAY = 0.05
FLUSH_COUNT = 1024

Tracer = Callable[..., None]
"""``trace(step, tx_id, channel_id, **details)``: record one step of a transaction."""


def no_trace(*_: object, **__: object) -> None:
    """The tracer of a component nobody traces (tests, tools)."""


class TraceStore:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(
            str(path), map_size=_MAP_SIZE, max_dbs=2, sync=False, metasync=False, readahead=False
        )
        _forget_older_format(self.env)
        self._records = self.env.open_db(_NAMES[0])
        self._by_tx = self.env.open_db(_NAMES[1], dupsort=True)
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self._records)
            self._sequence = _SEQUENCE.unpack(cursor.key())[0] if cursor.last() else 0
        self._pending: list[TraceRecord] = []
        self._scheduled: asyncio.TimerHandle | None = None

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
        """Write every queued record, in order, in one LMDB transaction."""
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        with self.env.begin(write=True) as txn:
            for record in pending:
                self._sequence += 1
                sequence = _SEQUENCE.pack(self._sequence)
                txn.put(sequence, record.SerializeToString(), db=self._records, append=True)
                txn.put(record.tx_id.encode(), sequence, db=self._by_tx)

    def records(self, tx_id: str) -> list[TraceRecord]:
        """The transaction's records in the order they were recorded."""
        self.flush()
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self._by_tx)
            if not cursor.set_key(tx_id.encode()):
                return []
            sequences = sorted(cursor.iternext_dup())
            return [TraceRecord.FromString(txn.get(s, db=self._records)) for s in sequences]

    def close(self) -> None:
        self.flush()
        self.env.close()


def _forget_older_format(env: lmdb.Environment) -> None:
    """Traces written keyed by transaction id in the main database (before the layout
    above) are dropped: they are diagnostics, and mixing the layouts would misread them."""
    with env.begin(write=True) as txn:
        if any(key not in _NAMES for key in txn.cursor().iternext(values=False)):
            txn.drop(env.open_db(txn=txn), delete=False)


class TraceService(trace_pb2_grpc.TraceServiceServicer):
    def __init__(self, store: TraceStore) -> None:
        self._store = store

    async def GetTrace(
        self, request: trace_pb2.TraceRequest, context: grpc.aio.ServicerContext
    ) -> trace_pb2.TraceResponse:
        if not request.tx_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tx_id is required")
        return trace_pb2.TraceResponse(records=self._store.records(request.tx_id))
