"""Resource limits on real peer processes: a flood of Deliver streams from one client is
refused past its ceiling with RESOURCE_EXHAUSTED while the Gateway keeps serving, and
the slots come back when the streams close. It starts a whole network (orderer, two
peers, a contract), so it runs under ``make hardening`` (``CONSORTIUM_HARDENING=1``),
not in ``make test``; the same limiter is tested against an orderer there
(``test_resource_limits.py``)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import grpc
import pytest
from fabric_protos.peer import events_pb2_grpc

from proto.seek import build_seek_envelope
from tests.integration.test_resource_limits import _refusals, _rss
from tests.support.fabric_network import FabricNetwork
from tests.support.orderer import CHANNEL

pytestmark = pytest.mark.skipif(
    not os.environ.get("CONSORTIUM_HARDENING"), reason="make hardening runs it"
)
PER_CLIENT = 8
SETTINGS = f"limits:\n  streams_per_client: {PER_CLIENT}\n  write_timeout_seconds: 2\n"


def _open(network: FabricNetwork, channel: grpc.aio.Channel) -> grpc.aio.StreamStreamCall:
    """A Deliver stream from the newest block on: it gets that one, then waits (and
    holds its slot)."""
    seek = build_seek_envelope(network.users["Org1MSP"], CHANNEL, "newest", 2**63 - 1, False)
    return events_pb2_grpc.DeliverStub(channel).Deliver(iter([seek]))


async def test_deliver_flood_on_a_peer(tmp_path: Path) -> None:
    network = FabricNetwork(tmp_path, peer_settings=SETTINGS)
    async with network.deployed():
        peer = network.peers["Org1MSP"]
        pid = peer.process.process.pid  # type: ignore[union-attr]
        rss_before = _rss(pid)
        async with network.client("Org1MSP") as gateway:
            await gateway.evaluate(CHANNEL, "basic", "GetAllAssets")
            calls = [_open(network, gateway.channel) for _ in range(PER_CLIENT + 1)]
            refused = await _refusals(calls, wait=5.0)
            assert len(refused) == 1 and f"per client ({PER_CLIENT})" in refused[0], refused
            assert "protos.Deliver/Deliver" in refused[0]
            started = time.perf_counter()
            await gateway.evaluate(CHANNEL, "basic", "GetAllAssets")  # served meanwhile
            latency = time.perf_counter() - started
            rss_during = _rss(pid)
            for call in calls:
                call.cancel()
            deadline = time.monotonic() + 30
            while True:  # the slots come back
                again = [_open(network, gateway.channel) for _ in range(PER_CLIENT)]
                refused = await _refusals(again, wait=1.0)
                for call in again:
                    call.cancel()
                if not refused:
                    break
                assert time.monotonic() < deadline, "the slots were never released"
                await asyncio.sleep(0.2)
    print(f"peer rss before {rss_before} during {rss_during}; Evaluate {latency:.3f}s")
    assert rss_during - rss_before < 64 * 1024 * 1024
