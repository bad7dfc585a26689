"""asset-transfer-basic sample through the harness: same functions, same JSON as Fabric's."""

from __future__ import annotations

import pytest

from chaincode.samples.asset_transfer import AssetTransfer


@pytest.fixture
def contract():
    return AssetTransfer()


ASSET1 = (
    b'{"AppraisedValue":300,"Color":"blue","ID":"asset1","Owner":"Tomoko","Size":5,'
    b'"docType":"asset"}'
)


async def test_init_ledger_then_read_matches_the_javascript_sample_bytes(chaincode_harness):
    assert (await chaincode_harness.invoke("InitLedger")).ok
    result = await chaincode_harness.query("ReadAsset", "asset1")
    assert result.payload == ASSET1


async def test_create_read_update_transfer_delete(chaincode_harness):
    created = await chaincode_harness.invoke("CreateAsset", "a1", "red", 3, "Ann", 50)
    assert created.ok and created.writes() == {
        "a1": b'{"AppraisedValue":50,"Color":"red","ID":"a1","Owner":"Ann","Size":3}'
    }
    assert created.reads() == {"a1": None}
    assert created.event.name == "CreateAsset"
    assert created.event.json()["Owner"] == "Ann"
    assert (await chaincode_harness.query("AssetExists", "a1")).payload == b"true"
    updated = await chaincode_harness.invoke("UpdateAsset", "a1", "green", 4, "Ann", 60)
    assert updated.ok
    transferred = await chaincode_harness.invoke("TransferAsset", "a1", "Bob")
    assert transferred.text == "Ann"
    assert (transferred.event.name, transferred.event.json()["Owner"]) == ("TransferAsset", "Bob")
    assert chaincode_harness.get_json("a1")["Owner"] == "Bob"
    assert (await chaincode_harness.invoke("DeleteAsset", "a1")).ok
    assert (await chaincode_harness.query("AssetExists", "a1")).payload == b"false"
    assert len(chaincode_harness.history("a1")) == 4


async def test_returns_and_errors_are_the_javascript_samples(chaincode_harness):
    created = await chaincode_harness.invoke("CreateAsset", "a1", "red", 3, "Ann", 50)
    assert created.payload == (
        b'{"ID":"a1","Color":"red","Size":3,"Owner":"Ann","AppraisedValue":50}'
    )
    duplicate = await chaincode_harness.invoke("CreateAsset", "a1", "red", 3, "Ann", 50)
    assert duplicate.status == 500 and duplicate.message == "The asset a1 already exists"
    missing = await chaincode_harness.query("ReadAsset", "nope")
    assert missing.message == "The asset nope does not exist"
    bad_size = await chaincode_harness.invoke("CreateAsset", "a2", "red", "big", "Ann", 50)
    assert not bad_size.ok


async def test_get_all_assets_records_an_exhausted_range_read(chaincode_harness):
    await chaincode_harness.invoke("InitLedger")
    result = await chaincode_harness.query("GetAllAssets")
    assert [a["ID"] for a in result.json()] == [f"asset{i}" for i in range(1, 7)]
    assert {a["docType"] for a in result.json()} == {"asset"}
    (range_read,) = result.range_reads()
    assert range_read.exhausted and len(range_read.reads) == 6


async def test_concurrent_transfers_conflict_under_mvcc(chaincode_harness):
    await chaincode_harness.invoke("CreateAsset", "a1", "red", 3, "Ann", 50)
    first = await chaincode_harness.simulate("TransferAsset", "a1", "Bob")
    second = await chaincode_harness.simulate("TransferAsset", "a1", "Cid")
    assert chaincode_harness.commit(first) == "VALID"
    assert chaincode_harness.commit(second) == "MVCC_READ_CONFLICT"
    assert chaincode_harness.get_json("a1")["Owner"] == "Bob"


async def test_create_during_a_get_all_is_a_phantom_read(chaincode_harness):
    await chaincode_harness.invoke("InitLedger")
    listing = await chaincode_harness.simulate("GetAllAssets")
    await chaincode_harness.invoke("CreateAsset", "asset0", "red", 1, "Ann", 1)
    assert chaincode_harness.commit(listing) == "PHANTOM_READ_CONFLICT"


async def test_rwset_protobuf_carries_read_versions(chaincode_harness):
    from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2

    version = chaincode_harness.seed("a1", b'{"ID":"a1","Owner":"Ann"}')
    result = await chaincode_harness.simulate("TransferAsset", "a1", "Bob")
    (ns,) = result.rwset.to_proto().ns_rwset
    kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
    assert ns.namespace == "basic"
    assert kv.reads[0].key == "a1" and kv.reads[0].version.block_num == version.block
    assert kv.writes[0].key == "a1" and not kv.writes[0].is_delete
