"""A block the ledger fails to write halts the channel instead of ending its follower:
nothing half-written, waiters keep waiting, the same block is retried, and the channel
resumes by itself once the write succeeds."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import collection_pb2
from fabric_protos.peer.lifecycle import lifecycle_pb2

from ca.policy import from_string
from chaincode.rwset import TxRWSet
from chaincode.state import Version
from peers import channel as channel_module
from peers.channel import PeerChannel
from peers.committer import commit_block
from peers.errors import StorageError
from peers.ledger import Ledger
from peers.lifecycle import LIFECYCLE_NAMESPACE, definition_key, encode_definition
from peers.packages import PackageStore
from peers.worldstate import WorldState
from proto.envelope import parse_envelope
from tests.support.channel import ChannelFixture, define
from tests.support.tmpfs import fill, small_filesystem


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channel_module, "HALT_RETRY_FIRST", 0.02)
    monkeypatch.setattr(channel_module, "HALT_RETRY_MOST", 0.05)


def _writes(key: str, size: int = 10) -> TxRWSet:
    rwset = TxRWSet()
    rwset.namespace("basic").writes[key] = b"v" * size
    return rwset


def _tx_id(envelope: common_pb2.Envelope) -> str:
    return parse_envelope(envelope.SerializeToString()).tx_id


def _channel(fixture: ChannelFixture, folder: Path) -> PeerChannel:
    ledger = Ledger(folder)
    commit_block(ledger, fixture.genesis)
    define(ledger.state)
    return PeerChannel("ch", ledger, fixture.peers["Org1MSP"])


async def _until(condition, what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def _in_step(ledger: Ledger, halted: bool = False) -> None:
    """The world state is at a block boundary: the block store's tip, or (halted) one
    block behind it, which is what a crash between the two leaves and recovery ends."""
    allowed = (ledger.height - 1, ledger.height) if halted else (ledger.height,)
    assert ledger.state.height in allowed, "block store and world state differ"


async def test_a_failed_state_write_halts_then_recovery_finishes_the_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The block is stored, the world state refuses it: the reopened ledger replays it
    from the block store, and it is announced once, with its codes."""
    fixture = ChannelFixture(tmp_path / "channel")
    channel = _channel(fixture, tmp_path / "peer")
    envelope = fixture.transaction(_writes("a"))
    waiting = asyncio.create_task(channel.wait_for_transaction(_tx_id(envelope)))
    announced = []
    channel.on_commit(announced.append)
    real = WorldState.commit_block
    failures = iter([True])

    def failing(self: WorldState, update) -> None:
        if next(failures, False):
            raise StorageError("cannot commit block 1: MDB_MAP_FULL")
        real(self, update)

    monkeypatch.setattr(WorldState, "commit_block", failing)
    committed = await channel.commit(fixture.block([envelope]))
    assert [v.code for v in committed.verdicts] == [0]
    assert await waiting == (1, 0, 0)
    assert len(announced) == 1 and channel.halted is None and channel.failed_commits == 1
    _in_step(channel.ledger)
    assert channel.ledger.state.get("basic", "a").value == b"v" * 10
    await channel.close()


@pytest.mark.parametrize(
    "endorsers",
    [("Org1MSP", "Org2MSP"), ("Org1MSP",)],
    ids=["valid: the world state fills", "invalid: the block store fills"],
)
async def test_a_full_disk_halts_the_channel_until_there_is_room(
    tmp_path: Path, endorsers: tuple[str, ...]
) -> None:
    """Valid 20 KB writes fill LMDB first; transactions failing their endorsement policy
    leave the state nearly untouched, so their blocks fill the journal first."""
    fixture = ChannelFixture(tmp_path / "channel")
    folder = tmp_path / "peer"
    with small_filesystem(folder, "4m"):
        channel = _channel(fixture, folder)
        ballast = fill(folder, leave=256 * 1024)
        committed_txs: list[str] = []
        halted_at = None
        for n in range(200):  # 20 KB values until a block cannot be written
            envelope = fixture.transaction(_writes(f"k{n}", 20_000), endorsers=endorsers)
            commit = asyncio.create_task(channel.commit(fixture.block([envelope])))
            await _until(lambda c=commit: c.done() or channel.halted is not None, "a commit")
            if channel.halted is not None:
                halted_at = n
                break
            committed_txs.append(_tx_id(envelope))
        assert halted_at is not None, "the disk never filled"
        sentence = channel.unavailable()
        assert sentence and "channel ch is unavailable" in sentence
        assert f"block {halted_at + 1} failed" in sentence
        waiting = asyncio.create_task(channel.wait_for_transaction(_tx_id(envelope)))
        await asyncio.sleep(0.3)  # several retries, all refused
        assert not commit.done() and not waiting.done()
        assert channel.failed_commits > 1
        _in_step(channel.ledger, halted=True)

        ballast.unlink()
        await asyncio.wait_for(commit, 20)
        assert channel.halted is None and channel.unavailable() is None
        assert (await waiting)[0] == channel.height - 1
        for tx_id in committed_txs:
            assert channel.ledger.state.transaction(tx_id) is not None
        _in_step(channel.ledger)
        height, state = channel.height, channel.ledger.state.state_hash()
        await channel.close()

        reopened = Ledger(folder)  # what a restart finds: the same, nothing to replay
        reopened.recover()
        assert (reopened.height, reopened.state.state_hash()) == (height, state)
        reopened.close()


async def test_private_data_of_a_block_whose_state_write_failed_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clear private data, its hashes and the per-transaction copy land in the same LMDB
    transaction as the public writes, so a refused write keeps none of them; recovery
    finds the clear data still in the transient store (purged only after the commit)."""
    fixture = ChannelFixture(tmp_path / "channel")
    ledger = Ledger(tmp_path / "peer", mspid="Org1MSP")
    commit_block(ledger, fixture.genesis)
    _define_with_collection(ledger.state)
    channel = PeerChannel("ch", ledger, fixture.peers["Org1MSP"])
    rwset = TxRWSet()
    rwset.namespace("basic").collection("mine").writes["secret"] = b"s3cret"
    envelope = fixture.transaction(rwset)
    tx_id = _tx_id(envelope)
    ledger.transient.put(tx_id, 1, rwset.to_private_proto())
    real = WorldState.commit_block
    seen: list[tuple] = []

    def failing(self: WorldState, update) -> None:
        if not seen:
            seen.append((self.get_private("basic", "mine", "secret"), self.private_rwsets(1)))
            raise StorageError("cannot commit block 1: mdb_txn_commit: Input/output error")
        real(self, update)

    monkeypatch.setattr(WorldState, "commit_block", failing)
    await channel.commit(fixture.block([envelope]))
    assert seen == [(None, {})]  # nothing private before the refused write
    state = channel.ledger.state
    assert state.get_private("basic", "mine", "secret").value == b"s3cret"
    assert state.private_rwsets(1) and not state.missing_private()
    assert channel.ledger.transient.get(tx_id, "basic", "mine") is None  # purged after
    _in_step(channel.ledger)
    await channel.close()


def _define_with_collection(state: WorldState) -> None:
    """``basic`` with a collection ``mine`` of Org1 only."""
    define(state)
    collection = collection_pb2.StaticCollectionConfig(
        name="mine",
        member_orgs_policy=collection_pb2.CollectionPolicyConfig(
            signature_policy=from_string("OR('Org1MSP.member')")
        ),
        maximum_peer_count=1,
    )
    current = state.get(LIFECYCLE_NAMESPACE, definition_key("basic"))
    assert current is not None
    definition = lifecycle_pb2.QueryChaincodeDefinitionResult.FromString(current.value)
    definition.collections.config.add(static_collection_config=collection)
    rwset = TxRWSet()
    rwset.namespace(LIFECYCLE_NAMESPACE).writes[definition_key("basic")] = encode_definition(
        definition
    )
    state.commit(Version(0, 0), "define", 0.0, rwset)


def test_an_approval_the_disk_refuses_is_kept_and_written_later(tmp_path: Path) -> None:
    """Which package serves an approved definition: recorded after the approval commits,
    so a full disk then must not make the peer forget it."""
    folder = tmp_path / "packages"
    with small_filesystem(folder, "256k"):
        store = PackageStore(folder)
        ballast = fill(folder)
        store.record_approval("ch", "basic", 1, "basic_1.0:abc")  # refused, not raised
        assert store.approved_package("ch", "basic", 1) == "basic_1.0:abc"
        assert PackageStore(folder).approved_package("ch", "basic", 1) is None
        ballast.unlink()
        store.write_approvals()
        assert PackageStore(folder).approved_package("ch", "basic", 1) == "basic_1.0:abc"


async def test_a_halted_channel_closes(tmp_path: Path) -> None:
    """Closing (the peer stopping) ends the retries: close waits for the block being
    committed, so a retry that never ended would hang the peer's shutdown."""
    fixture = ChannelFixture(tmp_path / "channel")
    folder = tmp_path / "peer"
    with small_filesystem(folder, "1m"):
        channel = _channel(fixture, folder)
        fill(folder)
        envelope = fixture.transaction(_writes("k", 200_000))
        commit = asyncio.create_task(channel.commit(fixture.block([envelope])))
        await _until(lambda: channel.halted is not None, "the halt")
        await asyncio.wait_for(channel.close(), 10)
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(commit, 10)
