"""block_to_live purging in the world state (Fabric's rule: data block b wrote with
block_to_live N is readable through block b + N and purged by the commit of b + N + 1;
a key written again since is kept), and reconciliation's write rule and batches."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from fabric_protos.ledger.rwset import rwset_pb2

from chaincode.state import Version
from peers.privatepurge import expiring_block, expiry_schedule, key_hash
from peers.reconciler import BATCH, Reconciler
from peers.worldstate import BlockUpdate, WorldState

BTL = 2
_STORED = rwset_pb2.TxPvtReadWriteSet(
    ns_pvt_rwset=[
        rwset_pb2.NsPvtReadWriteSet(
            namespace="cc",
            collection_pvt_rwset=[rwset_pb2.CollectionPvtReadWriteSet(collection_name="coll")],
        )
    ]
).SerializeToString()


@pytest.fixture
def state(tmp_path: Path) -> WorldState:
    store = WorldState(tmp_path / "state")
    yield store
    store.close()


def _commit(state: WorldState, writes: dict[str, bytes] | None = None, held: bool = True) -> None:
    """Commit the next block, writing ``writes`` into cc/coll (clear when ``held``)."""
    update = BlockUpdate(state.height)
    position = Version(update.number, 0)
    for key, value in (writes or {}).items():
        update.hashed_writes.append(
            (position, "cc", "coll", key_hash(key), key_hash(value.decode()))
        )
        if held:
            update.private_writes.append((position, "cc", "coll", key, value))
    if writes:
        update.expected_private.append((position, f"tx{update.number}", "cc", "coll", b"h"))
        if held:
            update.private_rwsets.append((position, _STORED))
        else:
            update.missing_private.append((position, "cc", "coll"))
    update.expiring = expiry_schedule(update, lambda ns, coll: BTL)
    state.commit_block(update)


def test_the_expiring_block_is_fabrics() -> None:
    assert expiring_block(10, 3) == 14


def test_data_lives_block_to_live_blocks_then_goes(state: WorldState) -> None:
    _commit(state)  # block 0
    _commit(state, {"k": b"v"})  # block 1 writes k
    for _ in range(BTL):  # blocks 2, 3: still there
        _commit(state)
        assert state.get_private("cc", "coll", "k").value == b"v"
        assert state.get_private_hash("cc", "coll", key_hash("k")) is not None
        assert list(state.private_rwsets(1)) == [0]
    _commit(state)  # block 4 = 1 + BTL + 1 purges
    assert state.get_private("cc", "coll", "k") is None
    assert state.get_private_hash("cc", "coll", key_hash("k")) is None
    assert state.private_rwsets(1) == {}


def test_a_key_written_again_lives_on(state: WorldState) -> None:
    _commit(state)
    _commit(state, {"k": b"old", "gone": b"x"})  # block 1
    _commit(state, {"k": b"new"})  # block 2: k expires at 5 now
    _commit(state)
    _commit(state)  # block 4 purges block 1's writes
    assert state.get_private("cc", "coll", "k").value == b"new"
    assert state.get_private("cc", "coll", "gone") is None
    _commit(state)  # block 5 purges block 2's
    assert state.get_private("cc", "coll", "k") is None


def test_missing_data_is_reconciled_until_it_expires(state: WorldState) -> None:
    _commit(state)
    _commit(state, {"k": b"v"}, held=False)  # block 1: only hashes reached this peer
    assert state.missing_private() == [(Version(1, 0), "cc", "coll")]
    written = state.reconcile(
        Version(1, 0), "cc", "coll", [("k", b"v"), ("other", b"w")], _STORED, []
    )
    assert written == 1  # "other" has no hash of this transaction: not written
    assert state.get_private("cc", "coll", "k").value == b"v"
    assert state.missing_private() == []
    assert state.reconcile(Version(1, 0), "cc", "coll", [("k", b"v")], _STORED, []) == 0

    _commit(state, {"m": b"v"}, held=False)  # block 2
    for _ in range(BTL + 1):
        _commit(state)
    assert state.missing_private() == []  # expired: nothing left to reconcile


def test_each_reconciliation_pass_goes_on_after_the_last_record_tried() -> None:
    """Records nobody can give do not starve the ones after them."""
    records = [(Version(b, 0), "cc", "coll") for b in range(1, 26)]
    ledger = SimpleNamespace(state=SimpleNamespace(missing_private=lambda: records))
    reconciler = Reconciler(ledger, fetch=None)  # type: ignore[arg-type]
    batches = [reconciler._next_batch() for _ in range(3)]
    assert [len(b) for b in batches] == [BATCH] * 3
    assert batches[0][0] == records[0] and batches[1][0] == records[BATCH]
    assert batches[2] == records[2 * BATCH :] + records[: 3 * BATCH - len(records)]
