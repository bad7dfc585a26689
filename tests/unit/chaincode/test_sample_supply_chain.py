"""supply_chain sample: attribute-based access, events, rich queries, history."""

from __future__ import annotations

import pytest

from chaincode.samples.supply_chain import SupplyChain


@pytest.fixture
def contract():
    return SupplyChain()


@pytest.fixture
def chaincode_name() -> str:
    return "supplychain"


@pytest.fixture
def people(identities):
    return {
        "maker": identities("Org1MSP", "maker", attributes={"supplychain.role": "manufacturer"}),
        "carrier": identities("Org2MSP", "truck", attributes={"supplychain.role": "carrier"}),
        "nobody": identities("Org1MSP", "clerk"),
        "org2": identities("Org2MSP", "receiver"),
    }


async def test_only_manufacturers_create_and_creation_emits_an_event(chaincode_harness, people):
    denied = await chaincode_harness.invoke(
        "CreateShipment", "s1", "vaccine", "Lyon", identity=people["nobody"]
    )
    assert denied.status == 500 and "supplychain.role=manufacturer" in denied.message
    created = await chaincode_harness.invoke(
        "CreateShipment", "s1", "vaccine", "Lyon", identity=people["maker"]
    )
    assert created.ok, created.failure()
    assert created.event.name == "ShipmentCreated"
    assert created.event.json() == {"id": "s1", "status": "CREATED"}
    assert chaincode_harness.get_json("s1")["owner"] == "Org1MSP"


async def test_carrier_checkpoints_then_custody_and_delivery(chaincode_harness, people):
    await chaincode_harness.invoke("CreateShipment", "s1", "v", "Lyon", identity=people["maker"])
    moved = await chaincode_harness.invoke(
        "RecordCheckpoint", "s1", "Basel", 4.5, identity=people["carrier"]
    )
    assert moved.ok, moved.failure()
    stolen = await chaincode_harness.invoke(
        "TransferCustody", "s1", "Org3MSP", identity=people["org2"]
    )
    assert "only members of Org1MSP" in stolen.message
    handed = await chaincode_harness.invoke(
        "TransferCustody", "s1", "Org2MSP", identity=people["maker"]
    )
    assert handed.event.name == "CustodyTransferred"
    delivered = await chaincode_harness.invoke("MarkDelivered", "s1", identity=people["org2"])
    assert delivered.ok
    shipment = (await chaincode_harness.query("ReadShipment", "s1")).json()
    assert shipment["status"] == "DELIVERED"
    assert shipment["checkpoints"] == [{"by": "Org2MSP", "location": "Basel", "temperature": 4.5}]


async def test_rich_query_by_status_and_owner(chaincode_harness, people):
    for shipment_id in ("s1", "s2", "s3"):
        await chaincode_harness.invoke(
            "CreateShipment", shipment_id, "v", "Oslo", identity=people["maker"]
        )
    await chaincode_harness.invoke("RecordCheckpoint", "s2", "Bern", 3, identity=people["carrier"])
    created = (await chaincode_harness.query("QueryShipments", "CREATED", "Org1MSP")).json()
    assert [s["id"] for s in created] == ["s3", "s1"]
    moving = (await chaincode_harness.query("QueryShipments", "IN_TRANSIT", "")).json()
    assert [s["id"] for s in moving] == ["s2"]
    bad = await chaincode_harness.query("QueryShipments", "LOST", "")
    assert "status must be one of" in bad.message


async def test_history_lists_every_version_newest_first(chaincode_harness, people):
    created = await chaincode_harness.invoke(
        "CreateShipment", "s1", "v", "Oslo", identity=people["maker"]
    )
    moved = await chaincode_harness.invoke(
        "RecordCheckpoint", "s1", "Bern", 3, identity=people["carrier"]
    )
    history = (await chaincode_harness.query("ShipmentHistory", "s1")).json()
    assert [h["txId"] for h in history] == [moved.tx_id, created.tx_id]
    assert [h["value"]["status"] for h in history] == ["IN_TRANSIT", "CREATED"]
