"""Resource limits on a real orderer process: an oversized message, a flood of Deliver
streams from one client and a client that never reads are refused or cut with
RESOURCE_EXHAUSTED, memory stays bounded, and another client is served meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import grpc
import pytest
import pytest_asyncio
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2_grpc

from proto.seek import build_seek_envelope
from tests.support.orderer import CHANNEL, OrdererFixture, transaction

PER_CLIENT = 8
PER_SERVICE = 12
WRITE_TIMEOUT = 1
BIG_BLOCKS = 24
LIMITS = f"""limits:
  max_message_bytes: 1048576
  streams_per_client: {PER_CLIENT}
  streams_per_service: {PER_SERVICE}
  write_timeout_seconds: {WRITE_TIMEOUT}
"""


async def _broadcast_one(fixture: OrdererFixture, client: dict[str, Path], size: int) -> int:
    """The status of one Broadcast of an envelope of about ``size`` bytes."""
    envelope = transaction(
        fixture.client(), fixture.orgs["Org1MSP"].identity("peer0", "peer"), size=size
    )
    async with fixture.channel(client) as channel:
        call = ab_pb2_grpc.AtomicBroadcastStub(channel).Broadcast(iter([envelope]))
        statuses = [response.status async for response in call]
        return statuses[0]


def _open_deliver(channel: grpc.aio.Channel, fixture: OrdererFixture) -> grpc.aio.StreamStreamCall:
    """A Deliver stream waiting for block 1 and after (the channel holds only block 0)."""
    seek = build_seek_envelope(fixture.client(), CHANNEL, 1, 2**63 - 1, False)
    return ab_pb2_grpc.AtomicBroadcastStub(channel).Deliver(iter([seek]))


async def _refusals(calls: list[grpc.aio.StreamStreamCall], wait: float = 3.0) -> list[str]:
    """The details of the calls refused with RESOURCE_EXHAUSTED within ``wait`` seconds;
    the others are admitted (a read is not cancelled: grpc
    would cancel the call with it)."""
    reads = [asyncio.ensure_future(call.read()) for call in calls]
    await asyncio.wait(reads, timeout=wait)
    refused = []
    for read in reads:
        if not read.done() or read.exception() is None:  # admitted
            continue
        error = read.exception()
        assert isinstance(error, grpc.aio.AioRpcError), read
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
        refused.append(error.details() or "")
    return refused


def _rss(pid: int) -> int:
    """A process's resident memory in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def orderer(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One orderer for the module (a block per envelope, blocks up to 1 MB)."""
    big = {"timeout": "200ms", "count": "1", "absolute": "1 MB", "preferred": "1 MB"}
    fixture = OrdererFixture(
        tmp_path_factory.mktemp("limits"), mutual=True, settings=LIMITS, batch=big
    )
    fixture.start()
    assert (await fixture.join())[0] == 201
    try:
        yield fixture
    finally:
        fixture.stop()


async def test_oversized_message_is_refused_and_the_node_keeps_serving(
    orderer: OrdererFixture,
) -> None:
    alice = orderer.client_tls("Org1MSP", "alice")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _broadcast_one(orderer, alice, 2 * 1024 * 1024)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert await _broadcast_one(orderer, alice, 1024) == common_pb2.SUCCESS


async def test_deliver_flood_is_bounded_per_client_and_per_service(
    orderer: OrdererFixture,
) -> None:
    flooder, second, good = (
        orderer.client_tls("Org1MSP", name) for name in ("flooder", "second", "good")
    )
    pid = orderer.process.process.pid  # type: ignore[union-attr]
    rss_before = _rss(pid)
    async with orderer.channel(flooder) as flood, orderer.channel(second) as other:
        held = [_open_deliver(flood, orderer) for _ in range(PER_CLIENT + 1)]
        refused = await _refusals(held)
        assert len(refused) == 1 and "per client (8)" in refused[0], refused
        # another client still gets streams, up to the service's total
        more = [_open_deliver(other, orderer) for _ in range(PER_SERVICE - PER_CLIENT + 1)]
        refused = await _refusals(more)
        assert len(refused) == 1 and "exceeding concurrency limit (12)" in refused[0], refused
        # Broadcast is another service: a good client is served meanwhile
        started = time.perf_counter()
        assert await _broadcast_one(orderer, good, 512) == common_pb2.SUCCESS
        latency = time.perf_counter() - started
        rss_during = _rss(pid)
        for call in [*held, *more]:
            call.cancel()
    # the slots are given back: the flooder can open as many streams again
    async with orderer.channel(flooder) as flood:
        deadline = time.monotonic() + 30
        while True:
            again = [_open_deliver(flood, orderer) for _ in range(PER_CLIENT)]
            refused = await _refusals(again, wait=1.0)
            for call in again:
                call.cancel()
            if not refused:
                break
            assert time.monotonic() < deadline, "the flooder's slots were never released"
    print(f"rss before {rss_before} during {rss_during}; good client's Broadcast {latency:.3f}s")
    assert rss_during - rss_before < 64 * 1024 * 1024


async def test_a_client_that_never_reads_is_cut_off(orderer: OrdererFixture) -> None:
    """Blocks far bigger than the flow-control windows, read by nobody: the orderer's
    write waits at most write_timeout_seconds, then the stream ends RESOURCE_EXHAUSTED,
    so the client that reads later finds fewer blocks than there are, then the refusal."""
    sloth = orderer.client_tls("Org2MSP", "sloth")
    good = orderer.client_tls("Org1MSP", "good")
    start = 0
    for _ in range(BIG_BLOCKS):  # one 500 KB envelope a block
        assert await _broadcast_one(orderer, good, 500_000) == common_pb2.SUCCESS
    seek = build_seek_envelope(orderer.client(), CHANNEL, start, 2**63 - 1, False)
    async with orderer.channel(sloth) as channel:
        call = ab_pb2_grpc.AtomicBroadcastStub(channel).Deliver(iter([seek]))
        await asyncio.sleep(WRITE_TIMEOUT * 2.5)  # read nothing meanwhile
        received = 0
        with pytest.raises(grpc.aio.AioRpcError) as cut:
            while True:
                response = await asyncio.wait_for(call.read(), 30)
                assert response is not grpc.aio.EOF
                received += 1
    assert cut.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "read nothing" in (cut.value.details() or "")
    print(f"the client that never read got {received} blocks before it was cut")
    assert received < BIG_BLOCKS
    assert await _broadcast_one(orderer, good, 512) == common_pb2.SUCCESS
