"""An ordering cluster node facing bad input at start: its NATS servers down, or its
local copy of the block journal not a prefix of the stream. Each gets one clear error
naming the node (and the block), and nothing is overwritten. (The journal's own checks,
foreign data in the stream included, are in test_ledger_replicated.py.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from ledgerdb.block import Payload
from ledgerdb.journal import Journal
from ledgerdb.replicated import REPLICA_MARKER
from network.nats_cluster import NatsCluster
from tests.support.orderer import CHANNEL, OrdererFixture, transaction

pytest_plugins = ["tests.support.nats"]


@pytest.fixture
async def osn(tmp_path: Path, nats_cluster: NatsCluster):
    """One orderer of a cluster, joined, holding a few blocks, then stopped."""
    node = OrdererFixture(tmp_path, node="osn0", nats=nats_cluster.urls, lease_seconds=1.0)
    try:
        node.start()
        status, body = await node.join()
        assert status == 201, body
        client, endorser = node.client(), node.client("Org2MSP", "peer0")
        await node.broadcast([transaction(client, endorser, 200) for _ in range(5)])
        deadline = time.monotonic() + 20
        while len((await node.deliver(client, 0, "newest"))[0]) < 2:
            assert time.monotonic() < deadline, "no block was cut"
            await asyncio.sleep(0.2)
    finally:
        node.stop()
    yield node


def _copy(node: OrdererFixture) -> Path:
    return node.data_dir / "channels" / CHANNEL / "blocks"


def _refused_start(node: OrdererFixture) -> str:
    """The node's output when it exits instead of serving."""
    with pytest.raises(AssertionError, match="process exited") as failed:
        node.start()
    return str(failed.value)


async def test_nats_servers_down_at_start_are_named_with_the_node(
    osn: OrdererFixture, nats_cluster: NatsCluster
) -> None:
    for server in nats_cluster.nodes:
        nats_cluster.kill_node(server.name)
    output = await asyncio.to_thread(_refused_start, osn)
    assert "ordering node osn0" in output and "no NATS server answered" in output, output
    assert all(url in output for url in nats_cluster.urls), output


async def test_a_local_copy_longer_than_the_stream_is_refused_naming_node_and_block(
    osn: OrdererFixture,
) -> None:
    """A longer copy this journal did not keep of the stream (no ``replica-of`` mark: a
    folder brought from elsewhere) proves nothing about its extra blocks. (A marked copy
    whose stream fell back is put back instead: test_ledger_replicated.py.)"""
    (_copy(osn) / REPLICA_MARKER).unlink()
    with Journal.open(_copy(osn)) as copy:
        extra = copy.append([Payload(b"a block the stream never held")]).sequence_no
        digest = copy.digest()
    output = await asyncio.to_thread(_refused_start, osn)
    assert "on osn0" in output and f"block {extra}" in output, output
    with Journal.open(_copy(osn), read_only=True) as copy:
        assert copy.digest() == digest  # nothing cut back or rewritten
