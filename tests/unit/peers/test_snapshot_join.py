"""Joining a channel from a peer snapshot, in-process on real files: the joined ledger
has the source's height, world state and config, commits the next blocks exactly as the
source does (also after a restart), and has no block before the snapshot; a damaged,
empty or already-joined snapshot is refused with nothing left behind. The same over
real processes, with `up` and Fabric's own CLI: tests/integration/test_peer_join_snapshot.py
(`make snapshots`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from chaincode.rwset import TxRWSet
from peers.committer import commit_block
from peers.errors import BlockNotAvailable
from peers.ledger import Ledger
from peers.snapshot_join import SnapshotJoinRefused, join_from_snapshot, snapshot_approvals
from peers.snapshots import Snapshots
from tests.support.channel import CHANNEL, ChannelFixture

APPROVED = [("basic", 1, "basic_1.0:0a1b")]


def _writes(**values: bytes) -> TxRWSet:
    rwset = TxRWSet()
    rwset.namespace("basic").writes.update(values)
    return rwset


def _commit_to(ledgers: list[Ledger], channel: ChannelFixture, **values: bytes) -> list[str]:
    block = channel.block([channel.transaction(_writes(**values))])
    return [[v.code_name for v in commit_block(ledger, block).verdicts] for ledger in ledgers]


@pytest.fixture
def snapshot(tmp_path: Path, ledger: Ledger, channel: ChannelFixture) -> Path:
    for n in range(3):
        _commit_to([ledger], channel, **{f"k{n}": f"v{n}".encode()})
    snapshots = Snapshots(
        tmp_path / "snapshots", lambda c: ledger if c == CHANNEL else None, "Org1MSP",
        lambda c: APPROVED,
    )  # fmt: skip
    return snapshots.write(CHANNEL)


def test_a_ledger_joined_from_a_snapshot_continues_as_the_source(
    tmp_path: Path, ledger: Ledger, channel: ChannelFixture, snapshot: Path
) -> None:
    channels = tmp_path / "joined" / "channels"
    assert join_from_snapshot(snapshot, channels) == CHANNEL
    joined = Ledger(channels / CHANNEL)
    try:
        joined.recover()
        assert joined.height == ledger.height == joined.first_block
        assert joined.config is not None and joined.config.channel_id == CHANNEL
        assert joined.state.state_hash() == ledger.state.state_hash()
        with pytest.raises(BlockNotAvailable, match=r"cannot serve block \[0\]\. The ledger"):
            joined.read_block(0)

        assert _commit_to([ledger, joined], channel, k1=b"new") == [["VALID"], ["VALID"]]
        assert joined.read_block(joined.height - 1) == ledger.read_block(ledger.height - 1)
    finally:
        joined.close()
    reopened = Ledger(channels / CHANNEL)  # after a restart
    try:
        reopened.recover()
        assert _commit_to([ledger, reopened], channel, k9=b"x") == [["VALID"], ["VALID"]]
        assert reopened.state.state_hash() == ledger.state.state_hash()
        assert reopened.height == ledger.height
    finally:
        reopened.close()
    assert snapshot_approvals(snapshot, "Org1MSP") == APPROVED
    assert snapshot_approvals(snapshot, "Org2MSP") == []


def test_a_snapshot_is_refused_damaged_empty_or_twice(tmp_path: Path, snapshot: Path) -> None:
    channels = tmp_path / "joined" / "channels"
    damaged = tmp_path / "damaged"
    shutil.copytree(snapshot, damaged)
    with open(damaged / "public_state.data", "ab") as state:
        state.write(b"00 00\n")
    with pytest.raises(SnapshotJoinRefused, match=r"public_state\.data: its SHA-256"):
        join_from_snapshot(damaged, channels)
    assert not channels.exists() or list(channels.iterdir()) == []

    (tmp_path / "empty").mkdir()
    with pytest.raises(SnapshotJoinRefused, match=r"snapshot dir .* is empty"):
        join_from_snapshot(tmp_path / "empty", channels)

    join_from_snapshot(snapshot, channels)
    with pytest.raises(SnapshotJoinRefused, match=rf"ledger \[{CHANNEL}\] already exists"):
        join_from_snapshot(snapshot, channels)
    assert [p.name for p in channels.iterdir()] == [CHANNEL]
