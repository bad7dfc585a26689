"""The checkpoint file: positions survive a reload, a bad file is named, writes are whole."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from network.mqtt.checkpoint import (
    GOVERNANCE,
    Checkpoint,
    Position,
    read_checkpoint,
    write_checkpoint,
)
from network.mqtt.errors import CheckpointError


def test_positions_round_trip_per_channel_and_governance(tmp_path: Path) -> None:
    file = tmp_path / "bridge" / "checkpoint.json"
    positions = {"mychannel": Position(7, 3, tx=1), GOVERNANCE: Position(12, 0)}
    write_checkpoint(file, positions)
    assert read_checkpoint(file) == positions
    document = json.loads(file.read_text())
    assert document["channels"]["mychannel"] == {"block": 7, "tx": 1, "index": 3}
    assert document["governance"] == {"sequence": 12, "index": 0}
    assert [p.name for p in file.parent.iterdir()] == ["checkpoint.json"]  # no temp left


def test_a_channel_named_governance_does_not_clash_with_the_feed(tmp_path: Path) -> None:
    file = tmp_path / "c.json"
    positions = {"governance": Position(1, 1, tx=0), GOVERNANCE: Position(2, 0)}
    write_checkpoint(file, positions)
    assert read_checkpoint(file) == positions


def test_a_missing_checkpoint_is_a_bridge_that_never_ran(tmp_path: Path) -> None:
    assert read_checkpoint(tmp_path / "none.json") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json", "cannot read"),
        ('{"version": 9}', "not a version 1"),
        ('{"version": 1, "channels": {"ch": {"block": -1, "index": 0}}}', "ch: block and index"),
        ('{"version": 1, "channels": {"ch": {"index": 0}}}', "ch: needs block and index"),
    ],
)
def test_a_bad_checkpoint_is_named_with_its_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    file = tmp_path / "c.json"
    file.write_text(text)
    with pytest.raises(CheckpointError, match=problem) as caught:
        read_checkpoint(file)
    assert str(file) in str(caught.value)


def test_positions_order_by_number_then_index_ignoring_the_tx() -> None:
    assert Position(3, 5, tx=2) < Position(4, 0) < Position(4, 1, tx=0)
    assert Position(4, 1, tx=0).key == (4, 1)


async def test_concurrent_advances_all_reach_the_file(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "c.json")
    await asyncio.gather(
        checkpoint.advance("a", Position(1, 0, tx=None)),
        checkpoint.advance("b", Position(2, 2, tx=0)),
        checkpoint.advance(GOVERNANCE, Position(5, 1)),
    )
    assert Checkpoint(tmp_path / "c.json").positions == checkpoint.positions
    assert len(checkpoint.positions) == 3
