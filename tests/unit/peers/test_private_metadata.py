"""Metadata of private keys in the world state (what SetPrivateDataValidationParameter
leaves): kept on the hash every peer holds and on the clear value members hold; a value
write keeps it, a metadata write keeps the value, each in transaction order with the
writer's version, as Fabric applies a block."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaincode.state import Version
from peers.privatepurge import key_hash
from peers.worldstate import BlockUpdate, WorldState

POLICY = {"VALIDATION_PARAMETER": b"policy"}


@pytest.fixture
def state(tmp_path: Path) -> WorldState:
    store = WorldState(tmp_path / "state")
    store.commit_block(BlockUpdate(0))
    yield store
    store.close()


def _write(update: BlockUpdate, tx: int, value: bytes) -> None:
    position = Version(update.number, tx)
    update.hashed_writes.append((position, "cc", "c", key_hash("k"), key_hash(value.decode())))
    update.private_writes.append((position, "cc", "c", "k", value))


def _seal(update: BlockUpdate, tx: int) -> None:
    position = Version(update.number, tx)
    update.hashed_metadata.append((position, "cc", "c", key_hash("k"), POLICY))
    update.private_metadata.append((position, "cc", "c", "k", POLICY))


def test_metadata_and_values_keep_each_other_in_transaction_order(state: WorldState) -> None:
    first = BlockUpdate(1)
    _seal(first, 1)  # listed first, applied after tx 0's value
    _write(first, 0, b"v1")
    state.commit_block(first)
    hashed = state.get_private_hash("cc", "c", key_hash("k"))
    clear = state.get_private("cc", "c", "k")
    assert (hashed.value, hashed.version, dict(hashed.metadata)) == (
        key_hash("v1"),
        Version(1, 1),
        POLICY,
    )
    assert (clear.value, dict(clear.metadata)) == (b"v1", POLICY)

    second = BlockUpdate(2)
    _write(second, 0, b"v2")
    state.commit_block(second)
    assert dict(state.get_private_hash("cc", "c", key_hash("k")).metadata) == POLICY
    assert state.get_private("cc", "c", "k").version == Version(2, 0)


def test_metadata_of_a_key_that_does_not_exist_is_dropped(state: WorldState) -> None:
    update = BlockUpdate(1)
    _seal(update, 0)
    state.commit_block(update)
    assert state.get_private_hash("cc", "c", key_hash("k")) is None
    assert state.get_private("cc", "c", "k") is None
