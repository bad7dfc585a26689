"""The peer's trace store: records by transaction, in order, across restarts."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import lmdb

from peers.tracestore import TraceStore
from proto.tracing import Step, details_of, trace_record
from tests.support.tmpfs import fill, small_filesystem


def test_records_come_back_per_transaction_in_recorded_order(tmp_path: Path) -> None:
    store = TraceStore(tmp_path)
    for step in (Step.PROPOSE, Step.ENDORSE, Step.COMMIT):
        store.add(trace_record(step, "tx-a", "ch", "peer0", n=int(step)))
        store.add(trace_record(step, "tx-b", "ch", "peer0"))
    steps = [r.step for r in store.records("tx-a")]
    assert steps == [Step.PROPOSE, Step.ENDORSE, Step.COMMIT]
    assert [details_of(r)["n"] for r in store.records("tx-a")] == [int(s) for s in steps]
    assert store.records("tx-unknown") == []
    store.close()


def test_sequence_continues_after_reopen(tmp_path: Path) -> None:
    store = TraceStore(tmp_path)
    store.add(trace_record(Step.PROPOSE, "tx-a", "ch", "peer0"))
    store.close()
    again = TraceStore(tmp_path)
    again.add(trace_record(Step.COMMIT, "tx-a", "ch", "peer0"))
    assert [r.step for r in again.records("tx-a")] == [Step.PROPOSE, Step.COMMIT]
    again.close()


def test_traces_of_the_older_lmdb_layout_are_dropped(tmp_path: Path) -> None:
    env = lmdb.open(str(tmp_path))
    with env.begin(write=True) as txn:
        txn.put(b"tx-old\x00" + struct.pack(">QQ", 1, 1), b"garbage")
    env.close()
    store = TraceStore(tmp_path)
    assert not (tmp_path / "data.mdb").exists()
    assert store.records("tx-old") == []
    store.add(trace_record(Step.PROPOSE, "tx-new", "ch", "peer0"))
    assert len(store.records("tx-new")) == 1
    store.close()


async def test_records_added_in_the_loop_are_batched_and_read_back() -> None:
    """Inside an event loop records wait for one batch write; a read flushes first."""
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        store = TraceStore(Path(folder))
        for step in (Step.PROPOSE, Step.ENDORSE):
            store.add(trace_record(step, "tx-a", "ch", "peer0"))
        assert store._pending  # queued, not yet written
        assert [r.step for r in store.records("tx-a")] == [Step.PROPOSE, Step.ENDORSE]
        store.close()


def test_a_records_details_are_sorted_json_with_anything_else_as_text() -> None:
    """The shared encoder writes what ``json.dumps(sort_keys=True, default=str)`` wrote."""
    details = {"z": [1, None], "a": {"b": True}, "path": Path("/x"), "raw": b"\x01"}
    record = trace_record(Step.ENDORSE, "tx", "ch", "node", **details)
    assert record.detail_json == json.dumps(details, sort_keys=True, default=str)
    assert record.detail_json.startswith('{"a": {"b": true}, "path": "/x"')


def test_records_the_disk_refuses_are_dropped_not_raised(tmp_path: Path) -> None:
    """A full disk loses diagnostics, never the endorsement or commit that traced them."""
    folder = tmp_path / "trace"
    with small_filesystem(folder, "1m"):
        store = TraceStore(folder)
        ballast = fill(folder)
        for n in range(3000):  # past FLUSH_COUNT: flushed inline, and refused
            store.add(trace_record(Step.PROPOSE, f"tx-{n}", "ch", "peer0", pad="x" * 200))
        store.flush()
        ballast.unlink()
        store.add(trace_record(Step.COMMIT, "tx-after", "ch", "peer0"))
        assert [r.step for r in store.records("tx-after")] == [Step.COMMIT]
        store.close()
