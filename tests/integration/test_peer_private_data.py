"""Private data on a real network (orderer, two peers, a CCaaS contract, TLS): clear
values reach the collection's member peers at endorsement and are committed there
against the block's hashes; a non-member keeps only hashes; DeliverWithPrivateData
serves each requester only its organization's collections; a tampered pushed value is
refused at commit."""

from __future__ import annotations

import textwrap
import time
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.peer import collection_pb2, events_pb2_grpc

from ca.policy import from_string
from network.gateway_client import GatewayClient, GatewayClientError
from peers.dissemination import sign_request
from peers.replay import stamp
from proto import privatedata_pb2, privatedata_pb2_grpc
from proto.proposal import propose
from proto.seek import build_seek_envelope
from proto.trace_pb2 import TraceRequest
from proto.trace_pb2_grpc import TraceServiceStub
from proto.tracing import Step, details_of
from tests.support.fabric_network import FabricNetwork
from tests.support.orderer import CHANNEL

CONTRACT = """
from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext


class Private(Contract):
    Name = "private"

    def get_evaluate_transactions(self):
        return ["GetPrivate"]

    async def PutPrivate(self, ctx: TransactionContext, collection: str, key: str) -> None:
        stub = ctx.get_stub()
        value = stub.get_transient()["value"]
        await stub.client.handle_put_state(collection, key, value, stub.channel_id, stub.tx_id)

    async def GetPrivate(self, ctx: TransactionContext, collection: str, key: str) -> str:
        stub = ctx.get_stub()
        reply = await stub.client.handle_get_state(collection, key, stub.channel_id, stub.tx_id)
        return reply.decode()


CONTRACTS = [Private]
"""


def _collection(
    name: str, members: str, required: int, maximum: int
) -> collection_pb2.CollectionConfig:
    return collection_pb2.CollectionConfig(
        static_collection_config=collection_pb2.StaticCollectionConfig(
            name=name,
            member_orgs_policy=collection_pb2.CollectionPolicyConfig(
                signature_policy=from_string(members)
            ),
            required_peer_count=required,
            maximum_peer_count=maximum,
        )
    )


COLLECTIONS = collection_pb2.CollectionConfigPackage(
    config=[
        _collection("shared", "OR('Org1MSP.member', 'Org2MSP.member')", 1, 1),
        _collection("org1only", "OR('Org1MSP.member')", 0, 1),
        _collection("needs2", "OR('Org1MSP.member', 'Org2MSP.member')", 2, 2),
    ]
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def network(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FabricNetwork]:
    root = tmp_path_factory.mktemp("private")
    contract = root / "contract" / "private_cc"
    contract.mkdir(parents=True)
    (contract / "__init__.py").write_text(textwrap.dedent(CONTRACT))
    fabric = FabricNetwork(
        root / "net",
        chaincode="private",
        policy="OR('Org1MSP.peer', 'Org2MSP.peer')",
        contract_dir=contract,
        collections=COLLECTIONS,
    )
    async with fabric.deployed():
        yield fabric


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _put(client: GatewayClient, collection: str, key: str, value: bytes, orgs: list[str]):
    return await client.submit(
        CHANNEL,
        "private",
        "PutPrivate",
        collection,
        key,
        transient={"value": value},
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
        assert await org2.evaluate(CHANNEL, "private", "GetPrivate", "shared", "k1") == b"for both"
        # Org2 is not a member of "org1only": its peer stored only the hash.
        assert await org2.evaluate(CHANNEL, "private", "GetPrivate", "org1only", "k2") == b""
        assert await org1.evaluate(CHANNEL, "private", "GetPrivate", "org1only", "k2") == (
            b"org1 secret"
        )

        # DeliverWithPrivateData: a member gets the clear data, a non-member does not.
        assert await _private_data(org2, shared.block) == {
            ("private", "shared"): {"k1": b"for both"}
        }
        assert await _private_data(org1, mine.block) == {
            ("private", "org1only"): {"k2": b"org1 secret"}
        }
        assert await _private_data(org2, mine.block) == {}
        async with GatewayClient(
            network.peers["Org1MSP"].address,
            network.users["Org2MSP"],
            network.peers["Org1MSP"].tls["ca"].read_bytes(),
        ) as org2_at_org1:
            assert await _private_data(org2_at_org1, mine.block) == {}

        # The commit trace says where each member's clear data came from.
        trace = await TraceServiceStub(org2.channel).GetTrace(TraceRequest(tx_id=shared.tx_id))
        commits = [details_of(r) for r in trace.records if r.step == Step.COMMIT]
        assert commits[0]["private"] == {"private/shared": "transient"}


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
            org1.signer, CHANNEL, "private", ["PutPrivate", "shared", "k4"], {"value": b"genuine"}
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
                    namespace="private",
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
        assert list(pushed.accepted) == ["private/shared"]

        envelope = endorsed.prepared_transaction
        envelope.signature = org1.signer.sign(envelope.payload)
        await org1.gateway.Submit(
            gateway_pb2.SubmitRequest(
                transaction_id=tx_id, channel_id=CHANNEL, prepared_transaction=envelope
            )
        )
        await org2.commit_status(CHANNEL, tx_id)
        # The forged value's hash did not match: refused, the genuine one pulled from Org1.
        assert await org2.evaluate(CHANNEL, "private", "GetPrivate", "shared", "k4") == b"genuine"
        trace = await TraceServiceStub(org2.channel).GetTrace(TraceRequest(tx_id=tx_id))
        commits = [details_of(r) for r in trace.records if r.step == Step.COMMIT]
        assert commits[0]["private"] == {"private/shared": "refused, pulled"}


async def test_pull_is_refused_to_a_non_member(network: FabricNetwork) -> None:
    async with network.client("Org1MSP") as org1:
        done = await _put(org1, "org1only", "k5", b"v", ["Org1MSP"])
    outsider = network.orgs["Org2MSP"].identity("peer9.Org2MSP", "peer")
    async with network.client("Org1MSP") as org1:
        stub = privatedata_pb2_grpc.PrivateDataStub(org1.channel)
        with pytest.raises(Exception, match="not a member of collection private/org1only"):
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
        namespace="private",
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
