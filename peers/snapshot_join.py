"""Joining a channel from a peer snapshot, as Fabric's ``peer channel joinbysnapshot
--snapshotpath DIR`` does: the channel is served from the snapshot's height on, and the
history before it is not on this peer.

The snapshot is a folder written by ``peers.snapshots`` (on this or another peer, asked
with ``peer snapshot submitrequest``): the world state's files, the channel's config
block, and Fabric's two metadata files. Before anything is written, every file's SHA-256
is checked against the signable metadata, and that metadata against the additional
metadata's ``snapshot_hash``. The channel's folder is then made beside the others under
a temporary name (an empty block store, the world state loaded at the snapshot's height,
and ``bootstrap/``: where the chain continues and the config block) and renamed into
place, so a join that stops half-way leaves no channel behind. The block store's first
block is the one after the snapshot's; ``peers.ledger.Ledger`` numbers from there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from fabric_protos.common import common_pb2

from ledgerdb.journal import Journal
from peers.errors import PeerError
from peers.worldstate import WorldState

SIGNABLE_METADATA = "_snapshot_signable_metadata.json"
ADDITIONAL_METADATA = "_snapshot_additional_metadata.json"
CONFIG_BLOCK = "channel_config_block.data"
"""The channel's last config block at the snapshot's height, serialized."""
APPROVALS = "lifecycle_approvals.json"
"""The snapshotting peer's organization's chaincode approvals on the channel. Fabric keeps
them in the organization's implicit private collection, which a peer joined from a
snapshot gets again from the other peers of its organization; here the snapshot carries
them, and a peer of the same organization records them when it joins."""
STATE_DB_TYPE = "consortium-lmdb"
BOOTSTRAP = "bootstrap"


class SnapshotJoinRefused(PeerError):
    """A channel cannot be joined from this snapshot folder; the message says why (in
    Fabric's words where Fabric has them)."""


@dataclass(frozen=True)
class Bootstrap:
    """Where a channel joined from a snapshot starts: the first block its block store
    holds, the hashes that block must chain to, and the config in force there."""

    first_block: int
    last_block_hash: bytes
    commit_hash: bytes
    snapshot: str

    @classmethod
    def read(cls, channel_dir: Path) -> Bootstrap | None:
        """The channel's bootstrap, or None for a channel joined from its genesis block."""
        path = channel_dir / BOOTSTRAP / "bootstrap.json"
        if not path.is_file():
            return None
        raw = json.loads(path.read_text())
        return cls(
            int(raw["first_block"]),
            bytes.fromhex(raw["last_block_hash"]),
            bytes.fromhex(raw["commit_hash"]),
            str(raw["snapshot"]),
        )

    def write(self, channel_dir: Path, config_block: bytes) -> None:
        folder = channel_dir / BOOTSTRAP
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_BLOCK).write_bytes(config_block)
        record = {
            "first_block": self.first_block,
            "last_block_hash": self.last_block_hash.hex(),
            "commit_hash": self.commit_hash.hex(),
            "snapshot": self.snapshot,
        }
        (folder / "bootstrap.json").write_text(json.dumps(record, indent=2))


def config_block(channel_dir: Path) -> common_pb2.Block:
    """The config block in force at the snapshot a channel was joined from."""
    return common_pb2.Block.FromString((channel_dir / BOOTSTRAP / CONFIG_BLOCK).read_bytes())


def _metadata(snapshot: Path) -> dict:
    """The snapshot's signable metadata, once it and every file it lists are verified."""
    if not snapshot.is_dir():
        raise SnapshotJoinRefused(f"error opening dir [{snapshot}]: no such directory")
    if not any(snapshot.iterdir()):
        raise SnapshotJoinRefused(f"snapshot dir {snapshot} is empty")
    try:
        signable = (snapshot / SIGNABLE_METADATA).read_bytes()
        additional = json.loads((snapshot / ADDITIONAL_METADATA).read_text())
        metadata = json.loads(signable)
    except (OSError, ValueError) as exc:
        raise SnapshotJoinRefused(f"error reading snapshot metadata in {snapshot}: {exc}") from None
    if additional.get("snapshot_hash") != hashlib.sha256(signable).hexdigest():
        raise SnapshotJoinRefused(
            f"{ADDITIONAL_METADATA}: snapshot_hash does not match {SIGNABLE_METADATA}"
        )
    if metadata.get("state_db_type") != STATE_DB_TYPE:
        raise SnapshotJoinRefused(
            f"{SIGNABLE_METADATA}: state_db_type {metadata.get('state_db_type')!r} is not "
            f"{STATE_DB_TYPE!r} (a snapshot taken by a consortium peer is needed)"
        )
    files = metadata.get("snapshot_files_raw_hashes", {})
    if CONFIG_BLOCK not in files:
        raise SnapshotJoinRefused(
            f"the snapshot in {snapshot} has no {CONFIG_BLOCK} (taken by an older consortium "
            "peer); take it again with `peer snapshot submitrequest`"
        )
    for name, digest in files.items():
        path = snapshot / name
        if not path.is_file() or _sha256(path) != digest:
            raise SnapshotJoinRefused(f"snapshot file {name}: its SHA-256 is not the recorded one")
    return metadata


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def join_from_snapshot(snapshot: Path, channels_dir: Path) -> str:
    """Make the channel's folder from ``snapshot`` under ``channels_dir``; returns the
    channel's ID. Nothing is left behind if it fails."""
    snapshot = snapshot.resolve()
    metadata = _metadata(snapshot)
    channel = str(metadata["channel_name"])
    if not channel or "/" in channel or channel.startswith("."):
        raise SnapshotJoinRefused(f"{SIGNABLE_METADATA}: channel_name {channel!r} is not valid")
    target = channels_dir / channel
    if target.exists():
        raise SnapshotJoinRefused(f"ledger [{channel}] already exists with state [ACTIVE]")
    additional = json.loads((snapshot / ADDITIONAL_METADATA).read_text())
    number = int(metadata["last_block_number"])
    temp = channels_dir / f".{channel}.joining"
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir(parents=True)
    try:
        state = WorldState(temp / "state")
        try:
            state.load(snapshot, number + 1)
        finally:
            state.close()
        Journal.open(temp / "blocks").close()
        Bootstrap(
            number + 1,
            bytes.fromhex(metadata["last_block_hash"]),
            bytes.fromhex(additional.get("last_block_commit_hash", "")),
            str(snapshot),
        ).write(temp, (snapshot / CONFIG_BLOCK).read_bytes())
        temp.rename(target)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return channel


def snapshot_approvals(snapshot: Path, mspid: str) -> list[tuple[str, int, str]]:
    """The approvals a snapshot carries, if it was taken by a peer of ``mspid`` (those of
    another organization are not this peer's to use)."""
    path = snapshot / APPROVALS
    if not path.is_file():
        return []
    record = json.loads(path.read_text())
    if record.get("mspid") != mspid:
        return []
    return [(str(n), int(seq), str(package)) for n, seq, package in record["approvals"]]
