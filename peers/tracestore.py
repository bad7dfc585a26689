"""The trace records this peer keeps, by transaction id, and the service that serves them.

Traces are diagnostics, not ledger data: they live in their own LMDB environment opened
without fsync per write, so recording a step never waits on the disk. A crash may lose
the last few records; the ledger itself is unaffected.
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

Tracer = Callable[..., None]
"""``trace(step, tx_id, channel_id, **details)``: record one step of a transaction."""


def no_trace(*_: object, **__: object) -> None:
    """The tracer of a component nobody traces (tests, tools)."""


class TraceStore:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.env = lmdb.open(str(path), map_size=_MAP_SIZE, sync=False, metasync=False)
        self._sequence = 0

    def add(self, record: TraceRecord) -> None:
        self._sequence += 1
        key = (
            record.tx_id.encode() + b"\x00" + struct.pack(">QQ", record.unix_nanos, self._sequence)
        )
        with self.env.begin(write=True) as txn:
            txn.put(key, record.SerializeToString())

    def records(self, tx_id: str) -> list[TraceRecord]:
        prefix = tx_id.encode() + b"\x00"
        found = []
        with self.env.begin() as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for key, value in cursor:
                    if not key.startswith(prefix):
                        break
                    found.append(TraceRecord.FromString(value))
        return found

    def close(self) -> None:
        self.env.close()


class TraceService(trace_pb2_grpc.TraceServiceServicer):
    def __init__(self, store: TraceStore) -> None:
        self._store = store

    async def GetTrace(
        self, request: trace_pb2.TraceRequest, context: grpc.aio.ServicerContext
    ) -> trace_pb2.TraceResponse:
        if not request.tx_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "tx_id is required")
        return trace_pb2.TraceResponse(records=self._store.records(request.tx_id))
