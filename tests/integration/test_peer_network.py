"""A real network — orderer, two peers, a CCaaS contract, TLS — driven through the
Gateway the way a client application drives Fabric."""

from __future__ import annotations

import asyncio
import json

import pytest

from network.gateway_client import CommitError, GatewayClient, GatewayClientError
from proto.envelope import Code
from proto.trace_pb2 import TraceRequest
from proto.trace_pb2_grpc import TraceServiceStub
from proto.tracing import Step, details_of
from tests.support.fabric_network import FabricNetwork
from tests.support.orderer import CHANNEL
from tests.support.pki import make_org


async def test_submit_evaluate_and_conflicts(fabric_network: FabricNetwork) -> None:
    network = fabric_network
    async with network.client("Org1MSP") as org1, network.client("Org2MSP") as org2:
        created = await org1.submit(CHANNEL, "basic", "CreateAsset", "a1", "blue", "5", "Tom", "9")
        assert created.block > 0
        # The other org's peer committed it too: its gateway reads the same value.
        await org2.commit_status(CHANNEL, created.tx_id)
        asset = json.loads(await org2.evaluate(CHANNEL, "basic", "ReadAsset", "a1"))
        assert asset["Owner"] == "Tom"

        # Every step of the flow left a trace record on the gateway's peer.
        trace = await TraceServiceStub(org1.channel).GetTrace(TraceRequest(tx_id=created.tx_id))
        steps = [Step.Name(r.step) for r in trace.records]
        for step in ("PROPOSE", "PLAN", "ENDORSE", "SUBMIT", "ORDER", "VALIDATE", "COMMIT"):
            assert step in steps, steps
        by_step = {Step.Name(r.step): details_of(r) for r in trace.records}
        assert by_step["PLAN"]["organizations"] == ["Org1MSP", "Org2MSP"]
        assert by_step["VALIDATE"]["code"] == "VALID"
        endorsed = [details_of(r) for r in trace.records if Step.Name(r.step) == "ENDORSE"]
        assert any("basic/a1" in d.get("writes", {}) for d in endorsed)

        # Two transfers of the same asset endorsed before either commits: one wins.
        first, second = await asyncio.gather(
            org1.submit_async(CHANNEL, "basic", "TransferAsset", "a1", "Ann"),
            org2.submit_async(CHANNEL, "basic", "TransferAsset", "a1", "Bob"),
        )
        codes = sorted(
            [
                (await org1.commit_status(CHANNEL, first[0]))[0],
                (await org1.commit_status(CHANNEL, second[0]))[0],
            ]
        )
        assert codes == [Code.VALID, Code.MVCC_READ_CONFLICT]
        with pytest.raises(CommitError, match="MVCC_READ_CONFLICT"):
            await asyncio.gather(
                org1.submit(CHANNEL, "basic", "TransferAsset", "a1", "Cy"),
                org1.submit(CHANNEL, "basic", "TransferAsset", "a1", "Di"),
            )


async def test_gateway_errors_carry_details(fabric_network: FabricNetwork) -> None:
    network = fabric_network
    peer = network.peers["Org1MSP"]
    stranger = make_org("Org9MSP").identity("mallory", "client")
    # past the handshake (an Org1 TLS certificate), the endorser judges the signer
    tls = network.client_tls("Org1MSP")
    root = peer.tls["ca"].read_bytes()
    async with GatewayClient(peer.address, stranger, root, client=tls) as client:
        with pytest.raises(GatewayClientError) as failure:
            await client.submit(CHANNEL, "basic", "CreateAsset", "x", "red", "1", "M", "1")
    error = failure.value
    assert "failed to endorse transaction" in str(error)
    # Fabric's gateway asks its own organization first and stops at its refusal, which
    # does not name the unknown organization
    assert [d.msp_id for d in error.details] == ["Org1MSP"]
    assert "creator org unknown" in error.details[0].message

    async with network.client("Org1MSP") as client:
        with pytest.raises(GatewayClientError, match="does not exist") as failure:
            await client.evaluate(CHANNEL, "basic", "ReadAsset", "missing")
        assert failure.value.details[0].msp_id == "Org1MSP"
