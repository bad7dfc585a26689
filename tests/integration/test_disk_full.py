"""The orderer's data folder on a size-limited tmpfs that fills up under Broadcast load:
submissions are refused with SERVICE_UNAVAILABLE, nothing acknowledged is lost, and the
orderer orders again once the filesystem has room (no restart)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2_grpc

from ca.channelconfig import ChannelConfig
from tests.integration.test_orderer import assert_chain_verifies, envelopes_in
from tests.support.orderer import OrdererFixture, transaction
from tests.support.tmpfs import grow, small_filesystem


async def _load(
    fixture: OrdererFixture,
    acknowledged: list[bytes],
    statuses: list[int],
    until: float,
    most: int = 10**9,
) -> None:
    """One Broadcast stream, 20 KB envelopes one at a time, until refused, ``until`` or
    ``most`` sent."""
    endorser = fixture.orgs["Org1MSP"].identity("peer0", "peer")
    client = fixture.client()
    async with fixture.channel() as channel:
        call = ab_pb2_grpc.AtomicBroadcastStub(channel).Broadcast()
        while time.monotonic() < until and len(statuses) < most:
            envelope = transaction(client, endorser, size=20_000).SerializeToString()
            await call.write(common_pb2.Envelope.FromString(envelope))
            response = await call.read()
            statuses.append(response.status)
            if response.status == common_pb2.SUCCESS:
                acknowledged.append(envelope)
            elif statuses.count(response.status) > 3:
                break
        await call.done_writing()


async def test_full_disk_refuses_then_resumes_and_loses_nothing(tmp_path: Path) -> None:
    fixture = OrdererFixture(tmp_path, tls=False)
    with small_filesystem(fixture.data_dir, "1m"):
        fixture.start()
        try:
            assert (await fixture.join())[0] == 201
            acknowledged: list[bytes] = []
            statuses: list[int] = []
            deadline = time.monotonic() + 120
            await asyncio.gather(
                *(_load(fixture, acknowledged, statuses, deadline) for _ in range(3))
            )
            refused = set(statuses) - {common_pb2.SUCCESS}
            assert refused == {common_pb2.SERVICE_UNAVAILABLE}, statuses[-10:]
            assert len(acknowledged) > 5

            grow(fixture.data_dir)
            more: list[bytes] = []
            resumed: list[int] = []
            while not more:  # the orderer reopens the channel within seconds
                assert time.monotonic() < deadline + 60, f"never resumed: {resumed[-5:]}"
                resumed = []
                await _load(fixture, more, resumed, time.monotonic() + 2, most=20)
                await asyncio.sleep(0.2)

            await asyncio.sleep(0.5)  # past BatchTimeout: the last batch is cut
            blocks, status = await fixture.deliver(fixture.client(), "oldest", "newest")
            assert status == common_pb2.SUCCESS
            assert_chain_verifies(blocks, ChannelConfig.from_block(blocks[0]))
            delivered = envelopes_in(blocks)
            assert len(delivered) == len(set(delivered)), "an envelope is in two blocks"
            missing = set(acknowledged + more) - set(delivered)
            assert not missing, f"{len(missing)} acknowledged envelopes were lost"
        finally:
            fixture.stop()
