"""The pieces of a snapshot: journal copies proved by digest, what is left out, names."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledgerdb.block import Payload
from ledgerdb.journal import Journal
from network.snapshot import (
    SnapshotError,
    _skipped,
    channel_heights,
    check_name,
    copy_inbox,
    copy_journal,
)


def _journal(path: Path, blocks: int, entries: int = 1) -> None:
    with Journal.open(path) as journal:
        for n in range(blocks):
            journal.append([Payload(f"block {n} entry {e}".encode()) for e in range(entries)])


def test_a_journal_is_copied_to_a_height_and_proved_by_its_digest(tmp_path: Path) -> None:
    _journal(tmp_path / "source", 7)
    copied = copy_journal(tmp_path / "source", tmp_path / "copy", 4)
    assert copied["blocks"] == 4
    with (
        Journal.open(tmp_path / "source", read_only=True) as source,
        Journal.open(tmp_path / "copy", read_only=True) as copy,
    ):
        assert copy.tip.sequence_no == 3
        assert copy.strand_id == source.strand_id
        assert copy.digest().digest == source.digest(3).digest
        assert copied["digest"] == copy.digest().digest.hex()
    assert copy_journal(tmp_path / "source", tmp_path / "all")["blocks"] == 7


def test_an_inbox_is_cut_after_the_last_ordered_envelope(tmp_path: Path) -> None:
    _journal(tmp_path / "inbox", 3, entries=4)
    copied = copy_inbox(tmp_path / "inbox", tmp_path / "copy", (1, 2))
    assert copied == {"blocks": 2, "last_entry": 2}
    with Journal.open(tmp_path / "copy", read_only=True) as copy:
        assert [len(b.entries) for b in copy.read_range(0, 2)] == [4, 3]
    copy_inbox(tmp_path / "inbox", tmp_path / "empty", (-1, -1))
    with Journal.open(tmp_path / "empty", read_only=True) as empty:
        assert empty.tip is None


def test_the_snapshot_height_is_the_lowest_running_node_s(tmp_path: Path) -> None:
    _journal(tmp_path / "ordering/o0/data/channels/ch/blocks", 9)
    _journal(tmp_path / "members/org1/peers/peer0/data/channels/ch/blocks", 7)
    _journal(tmp_path / "members/org2/peers/peer0/data/channels/ch/blocks", 2)  # dead
    running = {"orderer-o0", "peer-org1-peer0"}
    assert channel_heights(tmp_path, running) == {"ch": 7}


@pytest.mark.parametrize(
    ("path", "is_dir", "skipped"),
    [
        ("logs", True, True),
        ("pids", True, True),
        ("members/logs", True, False),  # a member may be called logs
        ("members/org1/peers/peer0/data/channels/ch/state", True, True),
        ("members/state", True, False),
        ("control-plane/ledger/index", True, True),
        ("members/org1/peers/peer0/data/trace", True, True),
        ("ordering/nats", True, True),
        ("events/mosquitto", True, True),
        ("members/org1/ca/registry.db-wal", False, True),
        ("events/checkpoint.json", False, True),
        ("analytics", True, True),  # derived from the blocks: written again from block 0
        ("explorer/store", True, True),  # derived too: the explorer reads its peer again
        ("explorer", True, False),  # its config is kept
        ("members/org1/ca/registry.db", False, False),
        ("state.json", False, False),
    ],
)
def test_what_a_snapshot_leaves_out(path: str, is_dir: bool, skipped: bool) -> None:
    assert _skipped(Path(path), is_dir) is skipped


@pytest.mark.parametrize("name", ["", ".hidden", "Upper", "a/b", "a b"])
def test_bad_snapshot_names_are_refused(name: str) -> None:
    with pytest.raises(SnapshotError, match="snapshot name"):
        check_name(name)
