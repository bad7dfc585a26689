"""kill -9 the orderer under Broadcast load: nothing that got SUCCESS is ever lost."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2_grpc

from ca.channelconfig import ChannelConfig
from tests.integration.test_orderer import assert_chain_verifies, envelopes_in
from tests.support.orderer import CHANNEL, OrdererFixture, transaction
from tests.support.processes import consortium

ROOT = Path(__file__).resolve().parents[2]
ROUNDS = 6
STREAMS = 4


async def _load(fixture: OrdererFixture, acknowledged: list[bytes], stop: asyncio.Event) -> None:
    """Broadcast envelopes one at a time per stream, recording each SUCCESS."""
    endorser = fixture.orgs["Org1MSP"].identity("peer0", "peer")
    client = fixture.client()

    async def stream() -> None:
        async with fixture.channel() as channel:
            call = ab_pb2_grpc.AtomicBroadcastStub(channel).Broadcast()
            while not stop.is_set():
                envelope = transaction(client, endorser, size=200).SerializeToString()
                await call.write(common_pb2.Envelope.FromString(envelope))
                response = await call.read()
                if response is grpc.aio.EOF:
                    return
                assert response.status == common_pb2.SUCCESS, response.info
                acknowledged.append(envelope)

    results = await asyncio.gather(*(stream() for _ in range(STREAMS)), return_exceptions=True)
    for result in results:  # the kill surfaces as a gRPC error; anything else is a bug
        if isinstance(result, BaseException) and not isinstance(result, grpc.aio.AioRpcError):
            raise result


@pytest.mark.slow
async def test_kill_minus_nine_under_load_loses_nothing(tmp_path: Path) -> None:
    fixture = OrdererFixture(tmp_path)
    fixture.start()
    assert (await fixture.join())[0] == 201
    acknowledged: list[bytes] = []
    rng = random.Random(7)
    try:
        for _ in range(ROUNDS):
            stop = asyncio.Event()
            load = asyncio.ensure_future(_load(fixture, acknowledged, stop))
            await asyncio.sleep(rng.uniform(0.3, 1.2))
            fixture.kill()
            stop.set()
            await load
            fixture.start()

        await asyncio.sleep(0.5)  # past BatchTimeout: re-fed envelopes are cut
        reader = fixture.client()
        blocks, status = await fixture.deliver(reader, "oldest", "newest")
        assert status == common_pb2.SUCCESS
        assert_chain_verifies(blocks, ChannelConfig.from_block(blocks[0]))
        delivered = envelopes_in(blocks)
        assert len(acknowledged) > 50
        assert len(delivered) == len(set(delivered)), "an envelope is in two blocks"
        missing = set(acknowledged) - set(delivered)
        assert not missing, f"{len(missing)} acknowledged envelopes were lost"

        # Deliver resumes from any block number.
        for start in rng.sample(range(len(blocks)), 5):
            tail, _ = await fixture.deliver(reader, start, "newest")
            assert [b.header.number for b in tail] == list(range(start, len(blocks)))
    finally:
        fixture.stop()

    blocks = fixture.data_dir / "channels" / CHANNEL / "blocks"
    consortium(ROOT, "ledger", "verify", "--ledger", str(blocks))
