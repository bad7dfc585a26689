"""The ordering service node as a real process over real gRPC (TLS on)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from fabric_protos.common import common_pb2

from ca.channelconfig import ChannelConfig
from proto.blockhash import block_data_hash, block_header_hash
from proto.blocksign import block_signatures
from tests.support.orderer import CHANNEL, OrdererFixture, transaction
from tests.support.pki import make_org


@pytest.fixture
async def orderer(tmp_path: Path) -> AsyncIterator[OrdererFixture]:
    fixture = OrdererFixture(tmp_path)
    fixture.start()
    status, body = await fixture.join()
    assert status == 201, body
    yield fixture
    fixture.stop()


def assert_chain_verifies(blocks: list[common_pb2.Block], config: ChannelConfig) -> None:
    """Numbers run from 0, each header links to the previous, data hashes match, and
    every block after genesis satisfies the channel's BlockValidation policy."""
    for number, block in enumerate(blocks):
        assert block.header.number == number
        assert block.header.data_hash == block_data_hash(block.data.data)
        if number:
            assert block.header.previous_hash == block_header_hash(blocks[number - 1].header)
            assert config.evaluate("/Channel/Orderer/BlockValidation", block_signatures(block))


def envelopes_in(blocks: list[common_pb2.Block]) -> list[bytes]:
    return [envelope for block in blocks[1:] for envelope in block.data.data]


async def test_broadcast_from_several_clients_then_deliver(orderer: OrdererFixture) -> None:
    endorser = orderer.orgs["Org1MSP"].identity("peer0", "peer")
    clients = [orderer.client("Org1MSP", "c1"), orderer.client("Org2MSP", "c2")]
    batches = [[transaction(c, endorser) for _ in range(15)] for c in clients * 2]
    answers = await asyncio.gather(*(orderer.broadcast(batch) for batch in batches))
    for responses in answers:
        assert [r.status for r in responses] == [common_pb2.SUCCESS] * 15

    await asyncio.sleep(0.5)  # past BatchTimeout: the last partial batch is cut
    blocks, status = await orderer.deliver(clients[0], "oldest", "newest")
    assert status == common_pb2.SUCCESS
    config = ChannelConfig.from_block(blocks[0])
    assert_chain_verifies(blocks, config)
    sent = sorted(e.SerializeToString() for batch in batches for e in batch)
    assert sorted(envelopes_in(blocks)) == sent


async def test_max_message_count_and_timeout_cut_blocks(orderer: OrdererFixture) -> None:
    client = orderer.client()
    endorser = orderer.orgs["Org1MSP"].identity("peer0", "peer")
    await orderer.broadcast([transaction(client, endorser, size=100) for _ in range(25)])
    await asyncio.sleep(0.6)
    blocks, _ = await orderer.deliver(client, 1, "newest")
    # MaxMessageCount 10: two full blocks, then BatchTimeout cuts the remaining 5.
    assert [len(b.data.data) for b in blocks] == [10, 10, 5]


async def test_preferred_max_bytes_cuts_blocks(orderer: OrdererFixture) -> None:
    client = orderer.client()
    endorser = orderer.orgs["Org1MSP"].identity("peer0", "peer")
    envelopes = [transaction(client, endorser, size=8_000) for _ in range(7)]
    per_block = (32 * 1024) // len(envelopes[0].SerializeToString())
    assert per_block == 3  # ~10.5 KB envelopes against PreferredMaxBytes 32 KB
    await orderer.broadcast(envelopes)
    await asyncio.sleep(0.6)
    blocks, _ = await orderer.deliver(client, 1, "newest")
    assert [len(b.data.data) for b in blocks] == [3, 3, 1]
    assert all(sum(len(e) for e in b.data.data) <= 32 * 1024 for b in blocks)


async def test_deliver_waits_for_future_blocks(orderer: OrdererFixture) -> None:
    client = orderer.client()
    endorser = orderer.orgs["Org1MSP"].identity("peer0", "peer")
    waiting = asyncio.ensure_future(orderer.deliver(client, 1, 1, fail_if_not_ready=False))
    await asyncio.sleep(0.3)
    assert not waiting.done()
    await orderer.broadcast([transaction(client, endorser)])
    blocks, status = await asyncio.wait_for(waiting, timeout=10)
    assert status == common_pb2.SUCCESS and [b.header.number for b in blocks] == [1]


async def test_bad_envelopes_get_fabric_statuses_and_the_stream_keeps_serving(
    orderer: OrdererFixture,
) -> None:
    client = orderer.client()
    endorser = orderer.orgs["Org1MSP"].identity("peer0", "peer")
    good = transaction(client, endorser)
    forged = common_pb2.Envelope()
    forged.CopyFrom(good)
    forged.signature = orderer.client("Org1MSP", "other").sign(good.payload)
    unknown = make_org("Org9MSP").identity("mallory", "client")  # an org the channel lacks
    garbage = common_pb2.Envelope(payload=b"\xff\x00garbage", signature=b"x")
    other_channel = transaction(client, endorser, channel_id="nochannel")
    huge = transaction(client, endorser, size=70_000)

    responses = await orderer.broadcast(
        [garbage, other_channel, forged, transaction(unknown, endorser), huge, good]
    )
    statuses = [r.status for r in responses]
    assert statuses == [
        common_pb2.BAD_REQUEST,
        common_pb2.NOT_FOUND,
        common_pb2.FORBIDDEN,
        common_pb2.FORBIDDEN,
        common_pb2.REQUEST_ENTITY_TOO_LARGE,
        common_pb2.SUCCESS,
    ]
    assert "does not decode" in responses[0].info
    assert "nochannel" in responses[1].info
    # a forged signature and an unknown org get the same answer, naming only the policy
    assert responses[2].info == responses[3].info and "'Writers'" in responses[3].info
    assert "Org9MSP" not in responses[3].info
    assert "AbsoluteMaxBytes" in responses[4].info

    await asyncio.sleep(0.5)
    blocks, _ = await orderer.deliver(client, 1, "newest")
    assert envelopes_in([common_pb2.Block(), *blocks]) == [good.SerializeToString()]


async def test_deliver_refusals(orderer: OrdererFixture) -> None:
    stranger = make_org("Org9MSP").identity("mallory", "client")
    _, status = await orderer.deliver(stranger, "oldest", "newest")
    assert status == common_pb2.FORBIDDEN
    _, status = await orderer.deliver(orderer.client(), "oldest", "newest", channel_id="nope")
    assert status == common_pb2.NOT_FOUND
    _, status = await orderer.deliver(orderer.client(), 1, 0)
    assert status == common_pb2.BAD_REQUEST
    # a start beyond the height is NOT_FOUND before the stop is even read, as in Fabric
    _, status = await orderer.deliver(orderer.client(), 5, 2)
    assert status == common_pb2.NOT_FOUND
    blocks, status = await orderer.deliver(orderer.client(), 0, 3, fail_if_not_ready=True)
    assert [b.header.number for b in blocks] == [0] and status == common_pb2.NOT_FOUND


async def test_participation_api(orderer: OrdererFixture) -> None:
    status, body = await orderer.join()
    assert status == 405 and "already exists" in body["error"]

    async with aiohttp.ClientSession() as session:
        async with session.get(orderer.admin_url, ssl=orderer.admin_ssl()) as response:
            listing = await response.json()
        assert [c["name"] for c in listing["channels"]] == [CHANNEL]
        url = f"{orderer.admin_url}/{CHANNEL}"
        async with session.get(url, ssl=orderer.admin_ssl()) as response:
            assert (await response.json())["height"] == 1
        async with session.delete(url, ssl=orderer.admin_ssl()) as response:
            assert response.status == 204
        async with session.get(url, ssl=orderer.admin_ssl()) as response:
            assert response.status == 404
        form = aiohttp.FormData()
        form.add_field("config-block", b"not a block", filename="bad.block")
        async with session.post(orderer.admin_url, data=form, ssl=orderer.admin_ssl()) as response:
            assert response.status == 400
            assert "config-block" in (await response.json())["error"]
