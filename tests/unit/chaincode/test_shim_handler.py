"""The peer-side shim handler against a real fabric-chaincode-python contract over gRPC."""

from __future__ import annotations

import json

import pytest
from cc_probe import Probe

from chaincode.testing import ContractHarness


@pytest.fixture
def contract():
    return Probe()


@pytest.fixture
def chaincode_name() -> str:
    return "probe"


@pytest.fixture
def chaincode_transport() -> str:
    return "grpc"


async def test_put_then_get_reads_committed_value_with_its_version(chaincode_harness):
    put = await chaincode_harness.invoke("Put", "k1", "v1")
    assert put.ok, put.failure()
    assert put.writes() == {"k1": b"v1"}
    got = await chaincode_harness.query("Get", "k1")
    assert got.text == "v1"
    version = got.reads()["k1"]
    assert version is not None and version.tx == 0
    assert chaincode_harness.get("k1") == b"v1"


async def test_reads_do_not_see_the_transactions_own_writes(chaincode_harness):
    chaincode_harness.seed("k", "old")
    result = await chaincode_harness.query("Get", "k")
    assert result.text == "old"


async def test_delete_records_a_delete_write(chaincode_harness):
    chaincode_harness.seed("gone", "x")
    result = await chaincode_harness.invoke("Delete", "gone")
    assert result.writes() == {"gone": None}
    assert chaincode_harness.get("gone") is None
    assert [m.is_delete for m in chaincode_harness.history("gone")] == [True, False]


async def test_range_over_more_than_one_batch_uses_query_state_next(chaincode_harness):
    for i in range(250):
        chaincode_harness.seed(f"key{i:03d}", str(i))
    result = await chaincode_harness.query("Keys", "key000", "key999")
    assert result.ok, result.failure()
    assert json.loads(result.payload) == [f"key{i:03d}" for i in range(250)]
    (info,) = result.rwset.namespace("probe").range_queries
    assert info.exhausted and len(info.reads) == 250 and info.end == "key999"


async def test_range_closed_early_records_last_key_read(chaincode_harness):
    for i in range(5):
        chaincode_harness.seed(f"r{i}", str(i))
    result = await chaincode_harness.query("FirstKeys", "r", 2)
    assert json.loads(result.payload) == ["r0", "r1"]


async def test_rich_query_returns_matches_and_records_reads(chaincode_harness):
    chaincode_harness.seed("a", {"color": "red", "size": 1})
    chaincode_harness.seed("b", {"color": "blue", "size": 2})
    chaincode_harness.seed("c", {"color": "red", "size": 3})
    query = json.dumps({"selector": {"color": "red"}, "sort": [{"size": "desc"}]})
    result = await chaincode_harness.query("Query", query)
    assert json.loads(result.payload) == ["c", "a"]
    assert set(result.reads()) == {"a", "c"}


async def test_bad_mango_query_fails_the_call_and_the_handler_keeps_working(chaincode_harness):
    # The peer answers ERROR naming $bad (see test_shim_messages); the Python shim 2.5.4
    # then fails parsing that ERROR as a QueryResponse, so the contract sees a 500.
    result = await chaincode_harness.query("Query", json.dumps({"selector": {"a": {"$bad": 1}}}))
    assert not result.ok
    assert (await chaincode_harness.query("Get", "x")).ok


async def test_history_is_newest_first(chaincode_harness):
    first = await chaincode_harness.invoke("Put", "h", "1")
    second = await chaincode_harness.invoke("Put", "h", "2")
    history = json.loads((await chaincode_harness.query("History", "h")).payload)
    assert [entry["tx"] for entry in history] == [second.tx_id, first.tx_id]
    assert [entry["value"] for entry in history] == ["2", "1"]


async def test_chaincode_event_reaches_the_peer(chaincode_harness):
    result = await chaincode_harness.invoke("Emit", "Created", "payload-1")
    assert result.event is not None
    assert (result.event.name, result.event.payload) == ("Created", b"payload-1")


async def test_transient_data_reaches_the_contract_but_not_the_rwset(chaincode_harness):
    result = await chaincode_harness.query("Transient", "secret", transient={"secret": "s3"})
    assert result.text == "s3"


async def test_hung_contract_times_out_and_the_handler_keeps_working(identities):
    async with ContractHarness(timeout=0.3, identities=identities) as harness:
        await harness.deploy(Probe(), name="probe", transport="grpc")
        slow = await harness.query("Sleep", 2)
        assert slow.error is not None and "timeout expired" in slow.error
        assert (await harness.invoke("Put", "after", "ok")).ok


async def test_contract_error_is_a_500_response_with_its_message(chaincode_harness):
    result = await chaincode_harness.query("Nope")
    assert result.status == 500
    assert "Nope" in result.message


async def test_two_transactions_in_flight_at_once(chaincode_harness):
    import asyncio

    results = await asyncio.gather(
        *(chaincode_harness.invoke("Put", f"p{i}", str(i)) for i in range(10))
    )
    assert all(r.ok for r in results)
    assert chaincode_harness.get("p7") == b"7"
