"""Re-seeding an ordering cluster's streams from a snapshot, on a real three-server
JetStream cluster that starts empty (as a restored network's does): the journal stream
gets the copy's blocks as they were sealed, so a fresh orderer's copy catches up to the
same digest and an existing copy opens as a prefix; the ingress numbers on after the
snapshot's position; an interrupted re-seed continues; a stream that is not the
snapshot's is refused. The whole network under load: test_snapshot_cluster.py."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
import pytest

from ledgerdb.block import Payload
from ledgerdb.jetstream import layout
from ledgerdb.journal import Journal
from ledgerdb.replicated import ReplicatedJournal
from network.errors import SnapshotError
from network.nats_cluster import NatsCluster
from network.snapshot_streams import RESEED, reseed
from ordering.cluster import journal_name
from ordering.ingress import Ingress

pytest_plugins = ["tests.support.nats"]

CHANNEL = "mychannel"
COPY = f"ordering/orderer0/data/channels/{CHANNEL}/blocks"
BLOCKS = 300
INGRESS_NEXT = 1234


def _snapshot(root: Path) -> dict:
    """A restored network's folder: orderer0's copy of the channel's journal (sealed
    under the stream's strand, as every orderer's copy is) and the re-seed record."""
    name = journal_name(CHANNEL)
    with Journal.open(root / COPY, strand_id=layout(name).strand_id) as journal:
        for n in range(BLOCKS):
            journal.append([Payload(f"block {n} ".encode() * 40)])
        digest = journal.digest().digest.hex()
    seed = {
        CHANNEL: {
            "journal": name,
            "copy": COPY,
            "blocks": BLOCKS,
            "digest": digest,
            "ingress_next": INGRESS_NEXT,
        }
    }
    (root / RESEED).write_text(json.dumps(seed))
    return seed


async def _open(path: Path, cluster: NatsCluster) -> ReplicatedJournal:
    return await ReplicatedJournal.open(
        path, servers=cluster.urls, name=journal_name(CHANNEL), follow=False
    )


async def _check_streams(root: Path, cluster: NatsCluster, digest: str) -> None:
    fresh = await _open(root / "orderer1-copy", cluster)  # an orderer with no copy yet
    existing = await _open(root / COPY, cluster)  # the copy it was seeded from
    try:
        assert fresh.tip is not None and fresh.tip.sequence_no == BLOCKS - 1
        assert (await fresh.digest()).digest.hex() == digest
        await existing.append([Payload(b"the chain continues")])
        await fresh.catch_up()
        assert fresh.tip.sequence_no == BLOCKS
    finally:
        await fresh.close()
        await existing.close()
    connection = await nats.connect(cluster.urls)
    try:
        js = connection.jetstream()
        ingress = Ingress(js, CHANNEL, 3)
        assert await ingress.admit(b"the first envelope after the snapshot", False) == (
            INGRESS_NEXT
        )
        assert (await js.stream_info(ingress.stream)).config.deny_purge
    finally:
        await connection.close()


def test_reseed_republishes_the_copy_and_starts_the_ingress_after_its_position(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    root = tmp_path / "net"
    seed = _snapshot(root)

    said = reseed(root, nats_cluster.urls, 3)
    assert said == [
        f"channel {CHANNEL}: {BLOCKS} of {BLOCKS} blocks republished, "
        f"ingress continues at {INGRESS_NEXT}"
    ]
    assert not (root / RESEED).exists()
    assert reseed(root, nats_cluster.urls, 3) == []  # done once: nothing left to do
    asyncio.run(_check_streams(root, nats_cluster, seed[CHANNEL]["digest"]))

    # The stream has moved on past the snapshot: re-seeding it again is refused, and
    # nothing is changed.
    (root / RESEED).write_text(json.dumps(seed))
    with pytest.raises(SnapshotError, match="holds other blocks than the snapshot"):
        reseed(root, nats_cluster.urls, 3)
    assert (root / RESEED).exists()


def test_an_interrupted_reseed_continues_from_where_the_streams_stand(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    root = tmp_path / "net"
    seed = _snapshot(root)
    half = dict(seed[CHANNEL], blocks=BLOCKS // 2, ingress_next=1)
    with Journal.open(root / COPY, create=False, read_only=True) as journal:
        half["digest"] = journal.digest(BLOCKS // 2 - 1).digest.hex()
    (root / RESEED).write_text(json.dumps({CHANNEL: half}))
    reseed(root, nats_cluster.urls, 3)  # stands in for an `up` stopped half-way

    (root / RESEED).write_text(json.dumps(seed))
    said = reseed(root, nats_cluster.urls, 3)
    assert said[0].startswith(f"channel {CHANNEL}: {BLOCKS - BLOCKS // 2} of {BLOCKS} blocks")
    asyncio.run(_check_streams(root, nats_cluster, seed[CHANNEL]["digest"]))
