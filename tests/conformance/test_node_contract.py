"""A Node contract (``fabric-shim`` 2.5, unmodified) as chaincode-as-a-service on a real
consortium network: installed, approved and committed through the lifecycle, then
invoked and queried through the gateway."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fabric_network import ROOT, FabricNetwork
from tests.support.orderer import CHANNEL

CONTRACT = ROOT / "chaincode" / "conformance" / "node_contract"


@pytest.fixture
async def network(tmp_path: Path) -> AsyncIterator[FabricNetwork]:
    assert (CONTRACT / "node_modules" / "fabric-shim").is_dir(), (
        f"{CONTRACT}/node_modules is missing: run deploy/install-deps.sh"
    )
    fabric = FabricNetwork(tmp_path, chaincode="probe", contract_dir=CONTRACT, node_contract=True)
    async with fabric.deployed():
        yield fabric


async def test_node_contract_runs_on_the_network(network: FabricNetwork) -> None:
    async with network.client("Org1MSP") as org1, network.client("Org2MSP") as org2:
        first = await org1.submit(CHANNEL, "probe", "put", "k1", "v1")
        second = await org1.submit(CHANNEL, "probe", "put", "k2", "v2")
        await org2.commit_status(CHANNEL, second.tx_id)
        assert json.loads(await org2.evaluate(CHANNEL, "probe", "get", "k1")) == {"value": "v1"}
        keys = json.loads(await org2.evaluate(CHANNEL, "probe", "range", "k", "l"))
        assert keys == {"keys": ["k1", "k2"]}
        history = json.loads(await org1.evaluate(CHANNEL, "probe", "history", "k1"))
        assert [e["txId"] for e in history["entries"]] == [first.tx_id]
