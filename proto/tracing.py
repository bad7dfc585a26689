"""Trace records: one schema (``proto/trace.proto``) for every step of the flow.

A node calls ``trace_record`` at each step it performs; the record says which
transaction, which step, which node, when, and the step's details as a small JSON object
(who was asked, what was read and written, which block, which code and why).
"""

from __future__ import annotations

import json
import time
from typing import Any

from proto.trace_pb2 import Step, TraceRecord

__all__ = ["Step", "TraceRecord", "details_of", "trace_record"]

_DETAILS = json.JSONEncoder(sort_keys=True, default=str)
"""One encoder for every record: ``json.dumps`` with options builds a new one per call,
which cost more than the encoding itself (a gateway peer writes eight records a
transaction). Its output is what ``json.dumps(details, sort_keys=True, default=str)``
gives."""


def trace_record(step: int, tx_id: str, channel_id: str, node: str, **details: Any) -> TraceRecord:
    return TraceRecord(
        tx_id=tx_id,
        channel_id=channel_id,
        step=step,
        node=node,
        unix_nanos=time.time_ns(),
        detail_json=_DETAILS.encode(details),
    )


def details_of(record: TraceRecord) -> dict[str, Any]:
    return json.loads(record.detail_json) if record.detail_json else {}
