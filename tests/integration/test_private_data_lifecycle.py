"""Private data after commit, on a real network (orderer, two peers, the sealed-bids
contract with its collections_config.json): block_to_live purges a bid from both
member peers at the block Fabric's rule names while the block keeps its hash; a peer
that missed a bid (down at endorsement, its only source down when it caught up) gets
it from the reconciler once that source is back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2

from ca.policy import from_string
from network.chaincode_deploy import collections_from_json
from network.gateway_client import CommitError, GatewayClient
from peers.dissemination import sign_request
from peers.replay import stamp
from peers.rwset import decode_rwset
from proto import privatedata_pb2, privatedata_pb2_grpc
from proto.envelope import Code, parse_block
from proto.seek import build_seek_envelope
from tests.support.fabric_network import FabricNetwork
from tests.support.orderer import CHANNEL

CONTRACT = Path(__file__).parent / "contracts" / "sealed_bids"
BLOCK_TO_LIVE = 2  # "shortlived" in the contract's collections_config.json
DEADLINE = 60.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def network(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FabricNetwork]:
    config = CONTRACT / "collections_config.json"
    fabric = FabricNetwork(
        tmp_path_factory.mktemp("private-lifecycle"),
        chaincode="auction",
        policy="OR('Org1MSP.peer', 'Org2MSP.peer')",
        contract_dir=CONTRACT,
        collections=collections_from_json(config.read_text(), str(config)),
        peer_settings="private_data:\n  reconcile_interval: 0.5",
    )
    async with fabric.deployed():
        yield fabric


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _bid(client: GatewayClient, collection: str, item: str, bid: bytes):
    return await client.submit(
        CHANNEL,
        "auction",
        "Bid",
        collection,
        item,
        transient={"bid": bid},
        endorsing_organizations=[client.signer.mspid],
    )


async def _read(client: GatewayClient, collection: str, item: str) -> bytes:
    return await client.evaluate(CHANNEL, "auction", "Read", collection, item)


async def _tick(network: FabricNetwork, n: int) -> int:
    """One more block, committed on both peers; its number."""
    async with network.client("Org1MSP") as org1, network.client("Org2MSP") as org2:
        done = await org1.submit(
            CHANNEL, "auction", "Tick", str(n), endorsing_organizations=["Org1MSP"]
        )
        await org2.commit_status(CHANNEL, done.tx_id)
    return done.block


async def _block(client: GatewayClient, number: int):
    from fabric_protos.peer import events_pb2_grpc

    seek = build_seek_envelope(client.signer, CHANNEL, number, number)
    async for response in events_pb2_grpc.DeliverStub(client.channel).Deliver(iter([seek])):
        if response.WhichOneof("Type") == "block":
            return response.block
    raise AssertionError(f"block {number} was not delivered")


async def test_block_to_live_purges_at_fabrics_block(network: FabricNetwork) -> None:
    async with network.client("Org1MSP") as org1, network.client("Org2MSP") as org2:
        placed = await _bid(org1, "shortlived", "lamp", b"40")
        await org2.commit_status(CHANNEL, placed.tx_id)
        hashed = await org1.evaluate(CHANNEL, "auction", "ReadHash", "shortlived", "lamp")
        assert hashed
        # Readable on both member peers through block placed + BLOCK_TO_LIVE ...
        block = placed.block
        for n in range(BLOCK_TO_LIVE):
            block = await _tick(network, n)
            for client in (org1, org2):
                assert await _read(client, "shortlived", "lamp") == b"40", block
        assert block == placed.block + BLOCK_TO_LIVE
        # ... and gone, clear value and hash, once block placed + BLOCK_TO_LIVE + 1 commits.
        assert await _tick(network, BLOCK_TO_LIVE) == placed.block + BLOCK_TO_LIVE + 1
        for client in (org1, org2):
            assert await _read(client, "shortlived", "lamp") == b""
            assert await client.evaluate(CHANNEL, "auction", "ReadHash", "shortlived", "lamp") == (
                b""
            )
        # The block still carries the hashes of what was written.
        (tx,) = parse_block(await _block(org2, placed.block))
        rwset = decode_rwset(tx.action.chaincode_action.results)
        assert [(w.collection, w.value_hash is not None) for w in rwset.hashed_writes] == [
            ("shortlived", True)
        ]
        assert [c.collection for c in rwset.collection_hashes] == ["shortlived"]


async def test_a_key_level_policy_on_a_private_key_is_enforced(network: FabricNetwork) -> None:
    """Seal (SetPrivateDataValidationParameter) a bid: from then on a write to it needs
    both organizations, whatever the chaincode's policy (one of them) says."""
    both = from_string("AND('Org1MSP.peer', 'Org2MSP.peer')").SerializeToString().hex()
    async with network.client("Org1MSP") as org1:
        await _bid(org1, "bids", "chair", b"5")
        await org1.submit(CHANNEL, "auction", "Seal", "bids", "chair", both,
                          endorsing_organizations=["Org1MSP"])  # fmt: skip
        with pytest.raises(CommitError) as refused:
            await _bid(org1, "bids", "chair", b"6")
        assert refused.value.status == Code.ENDORSEMENT_POLICY_FAILURE
        assert await _read(org1, "bids", "chair") == b"5"
        raised = await org1.submit(
            CHANNEL, "auction", "Bid", "bids", "chair", transient={"bid": b"7"},
            endorsing_organizations=["Org1MSP", "Org2MSP"],
        )  # fmt: skip
        await network.wait_committed([raised.tx_id])
        assert await _read(org1, "bids", "chair") == b"7"
        # A write to an unsealed key still needs only the chaincode's policy.
        await _bid(org1, "bids", "table", b"1")


async def test_push_is_kept_only_from_members_where_only_members_write(
    network: FabricNetwork,
) -> None:
    """Org1's peer keeps a pushed "reserve" (members only: Org1; only members write) from
    a peer of Org1, not from a peer of Org2; "bids" (anyone may write) from either."""

    def push(pusher: str, collection: str) -> privatedata_pb2.SignedRequest:
        kv = kv_rwset_pb2.KVWrite(key="k", value=b"v")
        private = rwset_pb2.TxPvtReadWriteSet(
            ns_pvt_rwset=[
                rwset_pb2.NsPvtReadWriteSet(
                    namespace="auction",
                    collection_pvt_rwset=[
                        rwset_pb2.CollectionPvtReadWriteSet(
                            collection_name=collection,
                            rwset=kv_rwset_pb2.KVRWSet(writes=[kv]).SerializeToString(),
                        )
                    ],
                )
            ]
        )
        payload = privatedata_pb2.PushPayload(
            channel_id=CHANNEL, tx_id="f" * 64, private_rwset=private.SerializeToString(), **stamp()
        ).SerializeToString()
        return sign_request(network.orgs[pusher].identity(f"peer7.{pusher}", "peer"), payload)

    async with network.client("Org1MSP") as org1:
        stub = privatedata_pb2_grpc.PrivateDataStub(org1.channel)
        accepted = {
            (pusher, collection): list((await stub.Push(push(pusher, collection))).accepted)
            for pusher in ("Org1MSP", "Org2MSP")
            for collection in ("reserve", "bids")
        }
    assert accepted == {
        ("Org1MSP", "reserve"): ["auction/reserve"],
        ("Org2MSP", "reserve"): [],
        ("Org1MSP", "bids"): ["auction/bids"],
        ("Org2MSP", "bids"): ["auction/bids"],
    }


async def test_a_peer_that_missed_private_data_reconciles_it(network: FabricNetwork) -> None:
    org1_peer, org2_peer = network.peers["Org1MSP"], network.peers["Org2MSP"]
    assert org2_peer.process is not None and org1_peer.process is not None
    org2_peer.process.stop()
    async with network.client("Org1MSP") as org1:
        placed = await _bid(org1, "bids", "vase", b"100")
        assert await _read(org1, "bids", "vase") == b"100"
    org1_peer.process.stop()  # the only other member peer: nobody answers Org2's pull
    network.start_peer(org2_peer)
    async with network.client("Org2MSP") as org2:
        await org2.commit_status(CHANNEL, placed.tx_id)
        assert await _read(org2, "bids", "vase") == b""  # committed with the hash only
        network.start_peer(org1_peer)
        deadline = time.monotonic() + DEADLINE
        while (found := await _read(org2, "bids", "vase")) != b"100":
            assert time.monotonic() < deadline, "Org2's peer did not reconcile the bid"
            await asyncio.sleep(0.2)
    assert found == b"100"
