"""Private data on a real network (orderer, two peers, TLS, the sealed-bids contract with
its collections_config.json — not a sample): clear values reach the collection's member
peers at endorsement and are committed there against the block's hashes; a non-member
keeps only hashes; DeliverWithPrivateData serves each requester only its organization's
collections; a tampered pushed value is refused at commit. After commit: block_to_live
purges a bid from both member peers at the block Fabric's rule names while the block
keeps its hash; a key-level policy on a private key is enforced; a peer that missed a
bid (down at endorsement, its only source down when it caught up) gets it from the
reconciler once that source is back (last: it stops and starts the peers)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.peer import events_pb2_grpc

from ca.policy import from_string
from network.chaincode_deploy import collections_from_json
from network.gateway_client import CommitError, GatewayClient, GatewayClientError
from peers.dissemination import sign_request
from peers.replay import stamp
from peers.rwset import decode_rwset
from proto import privatedata_pb2, privatedata_pb2_grpc
from proto.envelope import Code, parse_block
from proto.proposal import propose
from proto.seek import build_seek_envelope
from proto.trace_pb2 import TraceRequest
from proto.trace_pb2_grpc import TraceServiceStub
from proto.tracing import Step, details_of
from tests.support.fabric_network import FabricNetwork
from tests.support.orderer import CHANNEL

CONTRACT = Path(__file__).parent / "contracts" / "sealed_bids"
BLOCK_TO_LIVE = 2  # "shortlived" in the contract's collections_config.json
DEADLINE = 60.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def network(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FabricNetwork]:
    config = CONTRACT / "collections_config.json"
    fabric = FabricNetwork(
        tmp_path_factory.mktemp("private"),
        chaincode="auction",
        policy="OR('Org1MSP.peer', 'Org2MSP.peer')",
        contract_dir=CONTRACT,
        collections=collections_from_json(config.read_text(), str(config)),
        peer_settings="private_data:\n  reconcile_interval: 0.5",
    )
    async with fabric.deployed():
        yield fabric


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _put(client: GatewayClient, collection: str, key: str, value: bytes, orgs: list[str]):
    return await client.submit(
        CHANNEL,
        "auction",
        "Bid",
        collection,
        key,
        transient={"bid": value},
        endorsing_organizations=orgs,
    )


async def _private_data(
    client: GatewayClient, block: int
) -> dict[tuple[str, str], dict[str, bytes]]:
    """(namespace, collection) → clear writes that DeliverWithPrivateData returns for
    ``block`` to ``client``'s identity."""
    seek = build_seek_envelope(client.signer, CHANNEL, block, block)
    stub = events_pb2_grpc.DeliverStub(client.channel)
    found: dict[tuple[str, str], dict[str, bytes]] = {}
    async for response in stub.DeliverWithPrivateData(iter([seek])):
        if response.WhichOneof("Type") != "block_and_private_data":
            assert response.status == common_pb2.SUCCESS
            break
        assert response.block_and_private_data.block.header.number == block
        for private in response.block_and_private_data.private_data_map.values():
            for ns in private.ns_pvt_rwset:
                for coll in ns.collection_pvt_rwset:
                    kv = kv_rwset_pb2.KVRWSet.FromString(coll.rwset)
                    found[(ns.namespace, coll.collection_name)] = {
                        w.key: w.value for w in kv.writes
                    }
    return found


async def test_members_get_clear_values_non_members_only_hashes(network: FabricNetwork) -> None:
    async with network.client("Org1MSP") as org1, network.client("Org2MSP") as org2:
        shared = await _put(org1, "shared", "k1", b"for both", ["Org1MSP", "Org2MSP"])
        mine = await _put(org1, "org1only", "k2", b"org1 secret", ["Org1MSP", "Org2MSP"])
        await org2.commit_status(CHANNEL, mine.tx_id)

        # Org2 is a member of "shared": its own peer holds the clear value.
        assert await org2.evaluate(CHANNEL, "auction", "Read", "shared", "k1") == b"for both"
        # Org2 is not a member of "org1only": its peer stored only the hash.
        assert await org2.evaluate(CHANNEL, "auction", "Read", "org1only", "k2") == b""
        assert await org1.evaluate(CHANNEL, "auction", "Read", "org1only", "k2") == (b"org1 secret")

        # DeliverWithPrivateData: a member gets the clear data, a non-member does not.
        assert await _private_data(org2, shared.block) == {
            ("auction", "shared"): {"k1": b"for both"}
        }
        assert await _private_data(org1, mine.block) == {
            ("auction", "org1only"): {"k2": b"org1 secret"}
        }
        assert await _private_data(org2, mine.block) == {}
        async with GatewayClient(
            network.peers["Org1MSP"].address,
            network.users["Org2MSP"],
            network.peers["Org1MSP"].tls["ca"].read_bytes(),
            client=network.client_tls("Org2MSP"),
        ) as org2_at_org1:
            assert await _private_data(org2_at_org1, mine.block) == {}

        # The commit trace says where each member's clear data came from.
        trace = await TraceServiceStub(org2.channel).GetTrace(TraceRequest(tx_id=shared.tx_id))
        commits = [details_of(r) for r in trace.records if r.step == Step.COMMIT]
        assert commits[0]["private"] == {"auction/shared": "transient"}


async def test_too_few_member_peers_fail_the_endorsement(network: FabricNetwork) -> None:
    async with network.client("Org1MSP") as org1:
        with pytest.raises(GatewayClientError) as failure:
            await _put(org1, "needs2", "k3", b"x", ["Org1MSP"])
    message = failure.value.details[0].message
    assert "failed to distribute private collection" in message
    assert "required to disseminate to at least 2 peers" in message


async def test_a_tampered_push_is_refused_at_commit(network: FabricNetwork) -> None:
    async with network.client("Org1MSP") as org1, network.client("Org2MSP") as org2:
        proposed = propose(
            org1.signer, CHANNEL, "auction", ["Bid", "shared", "k4"], {"bid": b"genuine"}
        )
        tx_id = proposed.tx_id
        endorsed = await org1.gateway.Endorse(
            gateway_pb2.EndorseRequest(
                transaction_id=tx_id,
                channel_id=CHANNEL,
                proposed_transaction=proposed.signed,
                endorsing_organizations=["Org1MSP"],
            )
        )
        # Org1's endorser pushed the genuine value to Org2; a forged push replaces it.
        forged = kv_rwset_pb2.KVRWSet(writes=[kv_rwset_pb2.KVWrite(key="k4", value=b"forged")])
        private = rwset_pb2.TxPvtReadWriteSet(
            data_model=rwset_pb2.TxReadWriteSet.KV,
            ns_pvt_rwset=[
                rwset_pb2.NsPvtReadWriteSet(
                    namespace="auction",
                    collection_pvt_rwset=[
                        rwset_pb2.CollectionPvtReadWriteSet(
                            collection_name="shared", rwset=forged.SerializeToString()
                        )
                    ],
                )
            ],
        )
        payload = privatedata_pb2.PushPayload(
            channel_id=CHANNEL,
            tx_id=tx_id,
            height=0,
            private_rwset=private.SerializeToString(),
            **stamp(),
        ).SerializeToString()
        rogue = network.orgs["Org1MSP"].identity("peer9.Org1MSP", "peer")
        pushed = await privatedata_pb2_grpc.PrivateDataStub(org2.channel).Push(
            sign_request(rogue, payload)
        )
        assert list(pushed.accepted) == ["auction/shared"]

        envelope = endorsed.prepared_transaction
        envelope.signature = org1.signer.sign(envelope.payload)
        await org1.gateway.Submit(
            gateway_pb2.SubmitRequest(
                transaction_id=tx_id, channel_id=CHANNEL, prepared_transaction=envelope
            )
        )
        await org2.commit_status(CHANNEL, tx_id)
        # The forged value's hash did not match: refused, the genuine one pulled from Org1.
        assert await org2.evaluate(CHANNEL, "auction", "Read", "shared", "k4") == b"genuine"
        trace = await TraceServiceStub(org2.channel).GetTrace(TraceRequest(tx_id=tx_id))
        commits = [details_of(r) for r in trace.records if r.step == Step.COMMIT]
        assert commits[0]["private"] == {"auction/shared": "refused, pulled"}


async def test_pull_is_refused_to_a_non_member(network: FabricNetwork) -> None:
    async with network.client("Org1MSP") as org1:
        done = await _put(org1, "org1only", "k5", b"v", ["Org1MSP"])
    outsider = network.orgs["Org2MSP"].identity("peer9.Org2MSP", "peer")
    async with network.client("Org1MSP") as org1:
        stub = privatedata_pb2_grpc.PrivateDataStub(org1.channel)
        with pytest.raises(Exception, match="not a member of collection auction/org1only"):
            await stub.Pull(sign_request(outsider, _pull_payload(done.tx_id)))
        insider = network.orgs["Org1MSP"].identity("peer9.Org1MSP", "peer")
        answer = await stub.Pull(sign_request(insider, _pull_payload(done.tx_id)))
    assert answer.found
    assert kv_rwset_pb2.KVRWSet.FromString(answer.rwset).writes[0].value == b"v"


def _pull_payload(tx_id: str, **stamped: object) -> bytes:
    """A Pull of ``org1only`` for ``tx_id``, stamped now unless told otherwise."""
    return privatedata_pb2.PullPayload(
        channel_id=CHANNEL,
        tx_id=tx_id,
        namespace="auction",
        collection="org1only",
        **{**stamp(), **stamped},
    ).SerializeToString()


async def _refusal(network: FabricNetwork, request: privatedata_pb2.SignedRequest) -> str:
    async with network.client("Org1MSP") as org1:
        stub = privatedata_pb2_grpc.PrivateDataStub(org1.channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Pull(request)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    return refused.value.details()


async def test_a_pull_is_answered_once_and_only_when_fresh(network: FabricNetwork) -> None:
    """Issue 21: a recorded request cannot be played again, nor an old one sent late."""
    async with network.client("Org1MSP") as org1:
        done = await _put(org1, "org1only", "k6", b"v", ["Org1MSP"])
        insider = network.orgs["Org1MSP"].identity("peer8.Org1MSP", "peer")
        request = sign_request(insider, _pull_payload(done.tx_id))
        answer = await privatedata_pb2_grpc.PrivateDataStub(org1.channel).Pull(request)
    assert answer.found
    assert "received before" in await _refusal(network, request)
    hour_ago = int((time.time() - 3600) * 1_000_000)
    stale = sign_request(insider, _pull_payload(done.tx_id, time_micros=hour_ago))
    assert "-3600 s from this peer's clock" in await _refusal(network, stale)
    unstamped = sign_request(insider, _pull_payload(done.tx_id, nonce=b""))
    assert "nonce has 0 bytes" in await _refusal(network, unstamped)


async def test_only_peers_pull_private_data(network: FabricNetwork) -> None:
    """A member organization's client (not a peer) is refused, whatever it signs."""
    client = network.users["Org1MSP"]
    details = await _refusal(network, sign_request(client, _pull_payload("0" * 64)))
    assert "is not a peer; only peers push and pull private data" in details


# -- after commit: block_to_live, key-level policies, push membership, reconciliation --


async def _bid(client: GatewayClient, collection: str, item: str, bid: bytes):
    """A bid endorsed by the bidder's own organization only."""
    return await _put(client, collection, item, bid, [client.signer.mspid])


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


async def test_a_collection_s_endorsement_policy_replaces_the_chaincode_s(
    network: FabricNetwork,
) -> None:
    """ "escrow" has its own endorsementPolicy (both organizations): one organization's
    endorsement, enough for the chaincode's policy, is not enough for a write to it."""
    async with network.client("Org1MSP") as org1:
        with pytest.raises(CommitError) as refused:
            await _bid(org1, "escrow", "ring", b"9")
        assert refused.value.status == Code.ENDORSEMENT_POLICY_FAILURE
        done = await _put(org1, "escrow", "ring", b"9", ["Org1MSP", "Org2MSP"])
        await network.wait_committed([done.tx_id])
        assert await _read(org1, "escrow", "ring") == b"9"


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
