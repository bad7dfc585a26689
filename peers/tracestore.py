"""The trace records this peer keeps, by transaction id, and the service that serves them.

Traces are diagnostics, not ledger data: they live in their own LMDB environment opened
without fsync per write, so recording a step never waits on the disk. A crash may lose
the last few records; the ledger itself is unaffected.

Records are stored under an increasing sequence number, with a small index from
transaction id to sequence numbers beside them. Appending at the end touches only the
last pages of the B-tree; keyed by (random) transaction id, every write would touch a
random leaf, and over a long run the whole file would be mapped into the peer's memory
(LMDB reads through mmap): 250 MB of resident memory after 75,000 transactions.
"""

from __future__ import annotations

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

    def add(self, record: TraceRecord) -> None:
        self._sequence += 1
        sequence = _SEQUENCE.pack(self._sequence)
        with self.env.begin(write=True) as txn:
            txn.put(sequence, record.SerializeToString(), db=self._records, append=True)
            txn.put(record.tx_id.encode(), sequence, db=self._by_tx)

    def records(self, tx_id: str) -> list[TraceRecord]:
        """The transaction's records in the order they were recorded."""
        with self.env.begin() as txn:
            cursor = txn.cursor(db=self._by_tx)
            if not cursor.set_key(tx_id.encode()):
                return []
            sequences = sorted(cursor.iternext_dup())
            return [TraceRecord.FromString(txn.get(s, db=self._records)) for s in sequences]

    def close(self) -> None:
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
