"""Every validation code a peer can reach through a real orderer, on real processes:
craft the transaction, broadcast it, read its code back from the peer's DeliverFiltered."""

from __future__ import annotations

import asyncio

from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2_grpc

from chaincode.rwset import RangeQuery, TxRWSet
from chaincode.state import Version
from network.gateway_client import GatewayClient
from proto.envelope import Code
from proto.seek import build_seek_envelope
from tests.support.channel import endorsed_transaction
from tests.support.fabric_network import FabricNetwork
from tests.support.orderer import CHANNEL


def _txid(envelope: common_pb2.Envelope) -> str:
    payload = common_pb2.Payload.FromString(envelope.payload)
    return common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id


async def _filtered_codes(network: FabricNetwork, start: int) -> list[tuple[str, int]]:
    """(txid, code) of every transaction in blocks start..newest, via DeliverFiltered."""
    peer = network.peers["Org1MSP"]
    async with GatewayClient(
        peer.address,
        network.users["Org1MSP"],
        peer.tls["ca"].read_bytes(),
        client=network.client_tls("Org1MSP"),
    ) as client:
        seek = build_seek_envelope(network.users["Org1MSP"], CHANNEL, start, "newest", True)
        stub = events_pb2_grpc.DeliverStub(client.channel)
        found = []
        async for response in stub.DeliverFiltered(iter([seek])):
            if response.WhichOneof("Type") == "filtered_block":
                for tx in response.filtered_block.filtered_transactions:
                    found.append((tx.txid, tx.tx_validation_code))
        return found


async def test_each_code_on_a_real_network(fabric_network: FabricNetwork) -> None:
    network = fabric_network
    org1, org2 = network.orgs["Org1MSP"], network.orgs["Org2MSP"]
    user = network.users["Org1MSP"]
    peers = [org1.identity("peer9", "peer"), org2.identity("peer9", "peer")]
    async with network.client("Org1MSP") as client:
        done = await client.submit(CHANNEL, "basic", "CreateAsset", "a1", "red", "1", "Ann", "1")
        current = Version(done.block, 0)

    def rw(**writes: bytes) -> TxRWSet:
        rwset = TxRWSet()
        rwset.namespace("basic").writes.update(writes)
        return rwset

    stale = rw(a1=b"x")
    stale.namespace("basic").reads["a1"] = None  # it exists now
    phantom = rw(summary=b"0 keys")
    phantom.namespace("basic").range_queries.append(RangeQuery("a", "b", True, []))
    foreign = rw(a2=b"x")
    foreign.namespace("token").writes["b"] = b"y"
    fresh = rw(a3=b"ok")
    fresh.namespace("basic").reads["a1"] = current

    valid = endorsed_transaction(user, peers, fresh)
    bad_txid = endorsed_transaction(user, peers, rw(a4=b"x"))
    payload = common_pb2.Payload.FromString(bad_txid.payload)
    header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    header.tx_id = "f" * 64
    payload.header.channel_header = header.SerializeToString()
    bad_txid = common_pb2.Envelope(payload=payload.SerializeToString())
    bad_txid.signature = user.sign(bad_txid.payload)

    expected = [
        (valid, Code.VALID),
        (endorsed_transaction(user, peers[:1], rw(a5=b"x")), Code.ENDORSEMENT_POLICY_FAILURE),
        (bad_txid, Code.BAD_PROPOSAL_TXID),
        (
            endorsed_transaction(user, peers, rw(a6=b"x"), chaincode="nosuch"),
            Code.INVALID_CHAINCODE,
        ),
        (endorsed_transaction(user, peers, foreign), Code.ILLEGAL_WRITESET),
        (endorsed_transaction(user, peers, rw(), results=b"\xff\x01"), Code.BAD_RWSET),
        (endorsed_transaction(user, peers, stale), Code.MVCC_READ_CONFLICT),
        (endorsed_transaction(user, peers, phantom), Code.PHANTOM_READ_CONFLICT),
        (valid, Code.DUPLICATE_TXID),
    ]
    responses = await network.orderer.broadcast([envelope for envelope, _ in expected])
    assert all(r.status == common_pb2.SUCCESS for r in responses), responses
    async with network.client("Org1MSP") as client:
        await client.commit_status(CHANNEL, _txid(expected[-2][0]))
    await asyncio.sleep(0.5)  # the duplicate may sit in a later block

    seen = await _filtered_codes(network, done.block + 1)
    want = [(_txid(envelope), code) for envelope, code in expected]
    assert [Code.Name(c) for _, c in seen] == [Code.Name(c) for _, c in want]
    assert [t for t, _ in seen] == [t for t, _ in want]
