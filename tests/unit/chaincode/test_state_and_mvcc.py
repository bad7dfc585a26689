"""The in-memory state, read/write set recording and MVCC validation, without a contract."""

from __future__ import annotations

import pytest

from chaincode import mvcc
from chaincode.errors import StateError
from chaincode.memory import MemoryState
from chaincode.rwset import TxRWSet
from chaincode.simulation import TxSimulator
from chaincode.state import Version


def committed(state: MemoryState, block: int, **writes: bytes | None) -> None:
    rwset = TxRWSet()
    rwset.namespace("cc").writes.update(writes)
    state.commit(Version(block, 0), f"tx{block}", float(block), rwset)


@pytest.fixture
def state() -> MemoryState:
    state = MemoryState()
    committed(state, 1, a=b"1", b=b"2", c=b"3")
    return state


def test_versions_and_history(state):
    committed(state, 2, a=b"9")
    committed(state, 3, a=None)
    assert state.get("cc", "a") is None
    assert state.get("cc", "b").version == Version(1, 0)
    history = list(state.history("cc", "a"))
    assert [(m.tx_id, m.value, m.is_delete) for m in history] == [
        ("tx3", b"", True),
        ("tx2", b"9", False),
        ("tx1", b"1", False),
    ]


def test_range_scan_is_half_open_and_ordered(state):
    assert [k for k, _ in state.scan("cc", "a", "c")] == ["a", "b"]
    assert [k for k, _ in state.scan("cc", "", "")] == ["a", "b", "c"]
    assert list(state.scan("other", "", "")) == []


def test_stale_read_is_an_mvcc_conflict(state):
    sim = TxSimulator(state, "t")
    sim.get_state("cc", "a")
    sim.put_state("cc", "a", b"x")
    committed(state, 2, a=b"changed")
    assert mvcc.validate(sim.rwset, state) == mvcc.MVCC_READ_CONFLICT


def test_read_of_missing_key_conflicts_once_it_appears(state):
    sim = TxSimulator(state, "t")
    assert sim.get_state("cc", "new") is None
    committed(state, 2, new=b"1")
    assert mvcc.validate(sim.rwset, state) == mvcc.MVCC_READ_CONFLICT


def test_insert_into_a_scanned_range_is_a_phantom(state):
    sim = TxSimulator(state, "t")
    scan = sim.range_scan("cc", "a", "z")
    while scan.next() is not None:
        pass
    assert mvcc.validate(sim.rwset, state) == mvcc.VALID
    committed(state, 2, bb=b"new")
    assert mvcc.validate(sim.rwset, state) == mvcc.PHANTOM_READ_CONFLICT


def test_partial_scan_ignores_changes_past_the_last_key_read(state):
    sim = TxSimulator(state, "t")
    scan = sim.range_scan("cc", "a", "z")
    scan.next()
    scan.close()
    (record,) = sim.rwset.namespace("cc").range_queries
    assert (record.end, record.exhausted) == ("a", False)
    committed(state, 2, c=b"changed", d=b"new")
    assert mvcc.validate(sim.rwset, state) == mvcc.VALID


def test_writes_are_not_visible_to_reads_and_empty_value_deletes(state):
    sim = TxSimulator(state, "t")
    sim.put_state("cc", "a", b"new")
    assert sim.get_state("cc", "a") == b"1"
    sim.put_state("cc", "b", b"")
    assert sim.rwset.namespace("cc").writes == {"a": b"new", "b": None}


def test_empty_key_and_writes_after_paginated_query_are_refused(state):
    sim = TxSimulator(state, "t")
    with pytest.raises(StateError, match="key: must not be an empty string"):
        sim.put_state("cc", "", b"x")
    sim.range_scan("cc", "", "", page_size=2)
    with pytest.raises(StateError, match="paginated query"):
        sim.put_state("cc", "a", b"x")


def test_private_write_then_hashed_read_conflict(state):
    rwset = TxRWSet()
    rwset.namespace("cc").collection("c1").writes["p"] = b"secret"
    state.commit(Version(2, 0), "tx2", 2.0, rwset)
    sim = TxSimulator(state, "t")
    assert sim.get_private("cc", "c1", "p") == b"secret"
    again = TxRWSet()
    again.namespace("cc").collection("c1").writes["p"] = b"other"
    state.commit(Version(3, 0), "tx3", 3.0, again)
    assert mvcc.validate(sim.rwset, state) == mvcc.MVCC_READ_CONFLICT


def test_metadata_write_keeps_value_and_bumps_version(state):
    rwset = TxRWSet()
    rwset.namespace("cc").metadata_writes["a"] = {"VALIDATION_PARAMETER": b"p"}
    state.commit(Version(5, 1), "tx5", 5.0, rwset)
    current = state.get("cc", "a")
    assert current.value == b"1" and current.version == Version(5, 1)
    assert current.metadata == {"VALIDATION_PARAMETER": b"p"}


def test_a_page_records_the_requested_range_as_fabric_does(state):
    sim = TxSimulator(state, "t")
    scan = sim.range_scan("cc", "a", "z", page_size=2)
    while scan.next() is not None:
        pass
    assert scan.bookmark() == "c"
    (record,) = sim.rwset.namespace("cc").range_queries
    assert (record.start, record.end, record.exhausted) == ("a", "z", True)
    assert [k for k, _ in record.reads] == ["a", "b"]
    # so submitting a paginated read is a phantom conflict, as on Fabric
    assert mvcc.validate(sim.rwset, state) == mvcc.PHANTOM_READ_CONFLICT


def _reads(n: int) -> list:
    from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2

    return [
        kv_rwset_pb2.KVRead(key=f"k{i:05d}", version=kv_rwset_pb2.Version(block_num=1, tx_num=i))
        for i in range(n)
    ]


def _leaf(reads) -> bytes:
    import hashlib

    from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2

    return hashlib.sha256(kv_rwset_pb2.QueryReads(kv_reads=reads).SerializeToString()).digest()


def test_range_of_50_reads_keeps_raw_reads_and_51_becomes_a_merkle_summary():
    from chaincode.rwset import RangeQuery, _range_query_info

    small = _range_query_info(
        RangeQuery("a", "z", True, [(f"k{i}", Version(1, i)) for i in range(50)])
    )
    assert len(small.raw_reads.kv_reads) == 50 and not small.HasField("reads_merkle_hashes")
    big = _range_query_info(
        RangeQuery("a", "z", True, [(f"k{i:05d}", Version(1, i)) for i in range(51)])
    )
    assert not big.HasField("raw_reads")
    summary = big.reads_merkle_hashes
    assert (summary.max_degree, summary.max_level) == (50, 1)
    assert list(summary.max_level_hashes) == [_leaf(_reads(51))]


def test_merkle_summary_levels_follow_fabric():
    import hashlib

    from chaincode.rwset import reads_merkle_summary

    reads = _reads(120)  # leaves of 51, 51 and 18 reads
    summary = reads_merkle_summary(reads)
    assert summary.max_level == 1
    assert list(summary.max_level_hashes) == [
        _leaf(reads[0:51]),
        _leaf(reads[51:102]),
        _leaf(reads[102:120]),
    ]
    reads = _reads(51 * 51 + 1)  # 51 leaves fold into one level-2 node, one leaf is left over
    leaves = [_leaf(reads[i : i + 51]) for i in range(0, 51 * 51, 51)]
    summary = reads_merkle_summary(reads)
    assert summary.max_level == 2
    assert list(summary.max_level_hashes) == [
        hashlib.sha256(b"".join(leaves)).digest(),
        _leaf(reads[51 * 51 :]),
    ]
