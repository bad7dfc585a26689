"""Snapshots of a running network: a consistent copy taken without stopping anything.

``consortium snapshot create`` copies the network's folder into ``snapshots/<name>/``
while every node keeps serving. What makes the copy consistent:

- **one height per channel** — the lowest height any running orderer or peer has for
  the channel, read from their journals (ledgerdb lets readers see exactly what the
  writer acknowledged, without a lock). Every node's block journal is copied up to that
  height, block by block as it was sealed, and **verified as written**: the copy's
  Merkle digest must equal the source's digest at the same tip.
- **the orderer's inbox** is copied up to the last envelope the newest copied block
  holds, so a restored orderer has nothing left to re-order beyond that height.
- **an ordering cluster on NATS** keeps its blocks and ingress in JetStream streams:
  every orderer's verified local copy is copied like any journal, and what the streams
  must hold again is recorded for ``up`` to re-seed them (``network.snapshot_streams``).
  Each orderer's ``admitted.log`` (envelopes admitted, not yet in a block:
  ``ordering.admission_log``) is left out, as the inbox beyond the height is: a
  restored orderer has nothing to admit again from before the snapshot.
- **world state is rebuilt, not copied**: a peer's LMDB state is ahead of the height
  chosen, and the block journal is the truth, so the copy leaves the state out and the
  restored peer replays its blocks on start (``peers.ledger.Ledger.recover``).
- **the control plane** journal is copied to its tip (its LMDB indexes are rebuilt on
  open), each **CA registry** through SQLite's online backup, everything else (keys,
  certificates, configs, packages, state.json) as files.

Left out: logs, pid files, the MQTT bridge's checkpoint (a restored bridge publishes
again from the oldest block: at-least-once), the analytics databases (derived from the
blocks and possibly ahead of the copied height: a restored analytics node writes them
again from block 0), the explorer's block store (derived the same way: a restored
explorer reads the blocks again from its peer), Mosquitto's store, peers' transient stores
and trace stores, and clear private data (not in blocks, so not replayed). The copy is
made in ``snapshots/.<name>.partial`` and renamed when complete, so a snapshot that
exists is whole. ``restore`` copies one back over a stopped network, or into a new home.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledgerdb.block import Payload
from ledgerdb.journal import META, Journal
from network.errors import SnapshotError
from network.snapshot_streams import ordered_position, record

SNAPSHOTS = "snapshots"
BOOTSTRAP = "bootstrap"
MANIFEST = "snapshot.json"
# Not part of a network's data: logs, pids, locks, what is rebuilt or republished.
TOP_SKIPPED = {"logs", "pids", SNAPSHOTS, "analytics"}
SKIPPED_FILES = {"reconcile.lock", "checkpoint.json", "LOCK", "admitted.log"}
SKIPPED_SUFFIXES = ("-wal", "-shm", ".partial", ".tmp")
_NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass
class _Copy:
    """What one snapshot copied, for its manifest."""

    heights: dict[str, int]
    journals: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0


def check_name(name: str) -> str:
    if not name or not set(name) <= _NAME_CHARACTERS or name.startswith("."):
        raise SnapshotError(
            f"snapshot name {name!r}: use lower-case letters, digits, '-', '_' and '.'"
        )
    return name


def snapshots_folder(root: Path) -> Path:
    return root / SNAPSHOTS


# -- heights -------------------------------------------------------------------------------


def _channel_of(journal: Path) -> str | None:
    """``…/channels/<channel>/blocks`` → the channel; None for other journals."""
    parts = journal.parts
    if len(parts) >= 3 and parts[-1] == "blocks" and parts[-3] == "channels":
        return parts[-2]
    return None


def _node_of(root: Path, journal: Path) -> str:
    """The process name owning a journal (``orderer-o0``, ``peer-org1-peer0``), or ""."""
    relative = journal.relative_to(root).parts
    if relative[0] == "ordering" and len(relative) > 1:
        return f"orderer-{relative[1]}"
    if relative[0] == "members" and len(relative) > 3 and relative[2] == "peers":
        return f"peer-{relative[1]}-{relative[3]}"
    return ""


def _journals(root: Path) -> Iterator[Path]:
    for directory, folders, files in os.walk(root):
        here = Path(directory)
        folders[:] = [f for f in folders if not (here == root and f in (SNAPSHOTS, "logs"))]
        if META in files:
            folders[:] = []
            yield here


def _tip_height(journal: Path) -> int:
    with Journal.open(journal, create=False, read_only=True) as reader:
        tip = reader.tip
        return 0 if tip is None else tip.sequence_no + 1


def channel_heights(root: Path, running: set[str]) -> dict[str, int]:
    """Channel → the lowest height its running nodes' block journals have (the height
    every one of them can give); nodes not running do not hold the others back."""
    found: dict[str, list[int]] = {}
    for journal in _journals(root):
        channel = _channel_of(journal)
        if channel is not None and _node_of(root, journal) in running:
            found.setdefault(channel, []).append(_tip_height(journal))
    return {channel: min(heights) for channel, heights in found.items()}


# -- copying ---------------------------------------------------------------------------------


def copy_journal(source: Path, target: Path, blocks: int | None = None) -> dict[str, Any]:
    """Copy the first ``blocks`` blocks (all acknowledged ones if None) as they were
    sealed, under the same strand, and prove the copy: its digest must equal the
    source's at the same tip."""
    with Journal.open(source, create=False, read_only=True) as reader:
        tip = reader.tip
        available = 0 if tip is None else tip.sequence_no + 1
        count = available if blocks is None else min(blocks, available)
        with Journal.open(target, strand_id=reader.strand_id) as writer:
            for start in range(0, count, 256):
                batch = list(reader.read_range(start, min(start + 256, count)))
                writer.submit(batch).result()
            if count and writer.digest().digest != reader.digest(count - 1).digest:
                raise SnapshotError(f"{source}: the copy's digest differs from the source's")
            digest = writer.digest().digest.hex() if count else ""
    return {"blocks": count, "digest": digest}


def copy_inbox(source: Path, target: Path, position: tuple[int, int]) -> dict[str, Any]:
    """An orderer's inbox up to ``position`` (inbox block, entry): whole blocks as they
    were sealed, the last one cut after that entry, so nothing remains to re-order."""
    last_block, last_entry = position
    with Journal.open(source, create=False, read_only=True) as reader:
        writer = Journal.open(target, strand_id=reader.strand_id)
        try:
            if last_block >= 0:
                if last_block:
                    writer.submit(list(reader.read_range(0, last_block))).result()
                kept = reader.read(last_block).entries[: last_entry + 1]
                writer.append([Payload(entry.body) for entry in kept])
                copied = [e.body for e in writer.read(last_block).entries]
                if copied != [entry.body for entry in kept]:
                    raise SnapshotError(f"{source}: the inbox copy differs from the source")
        finally:
            writer.close()
    return {"blocks": max(last_block + 1, 0), "last_entry": last_entry}


def backup_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy while the CA writes."""
    reader = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    writer = sqlite3.connect(target)
    try:
        reader.backup(writer)
    finally:
        writer.close()
        reader.close()


def _skipped(relative: Path, is_dir: bool) -> bool:
    """What a snapshot leaves out (see the module docstring), by where it lives."""
    parts = relative.parts
    if not is_dir:
        return relative.name in SKIPPED_FILES or relative.name.endswith(SKIPPED_SUFFIXES)
    if len(parts) == 1:
        return parts[0] in TOP_SKIPPED
    if parts[:2] in (("ordering", "nats"), ("events", "mosquitto"), ("explorer", "store")):
        return True
    if parts[-1] == "index" and parts[-3:-1] == ("control-plane", "ledger"):
        return True
    if parts[-1] == "trace" and parts[-2] == "data":
        return True
    return parts[-1] in ("state", "transient") and len(parts) >= 3 and parts[-3] == "channels"


def _copy_tree(root: Path, target: Path, heights: dict[str, int], copy: _Copy) -> None:
    for directory, folders, files in os.walk(root):
        here = Path(directory)
        relative = here.relative_to(root)
        in_channel = len(relative.parts) >= 2 and relative.parts[-2] == "channels"
        folders[:] = sorted(
            f
            for f in folders
            if not _skipped(relative / f, True) and not (in_channel and f == "inbox")
        )
        if META in files:
            folders[:] = []
            channel = _channel_of(here)
            limit = heights.get(channel) if channel is not None else None
            copy.journals[str(relative)] = copy_journal(here, target / relative, limit)
            inbox = here.parent / "inbox"
            if channel is not None and relative.parts[0] == "ordering" and inbox.is_dir():
                height = copy.journals[str(relative)]["blocks"]
                position = ordered_position(here, height)
                name = str(relative.parent / "inbox")
                copy.journals[name] = copy_inbox(
                    inbox, target / relative.parent / "inbox", position
                )
            continue
        (target / relative).mkdir(parents=True, exist_ok=True)
        for name in sorted(files):
            if _skipped(relative / name, False):
                continue
            source, destination = here / name, target / relative / name
            if name.endswith(".db"):
                backup_sqlite(source, destination)
            else:
                shutil.copy2(source, destination)
            copy.files += 1


def _clustered(root: Path) -> bool:
    """The network orders on NATS: its channels' journals live in JetStream streams."""
    return (root / "ordering" / "nats").is_dir()


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def create(root: Path, running: set[str], name: str | None = None) -> dict[str, Any]:
    """Take a snapshot of the network in ``root`` while it runs; returns its manifest."""
    name = check_name(name or datetime.now(UTC).strftime("%Y%m%d-%H%M%S"))
    folder = snapshots_folder(root)
    final = folder / name
    if final.exists():
        raise SnapshotError(f"snapshot {name!r} exists; choose another name or delete it")
    partial = folder / f".{name}.partial"
    if partial.exists():
        shutil.rmtree(partial)  # a snapshot that crashed half-way
    started = time.monotonic()
    heights = channel_heights(root, running)
    copy = _Copy(heights)
    try:
        _copy_tree(root, partial / "network", heights, copy)
        streams = record(partial / "network", copy.journals, heights) if _clustered(root) else {}
        manifest = {
            "name": name,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "network": root.name,
            "heights": heights,
            "journals": copy.journals,
            "streams": streams,
            "files": copy.files,
            "bytes": _size(partial),
            "seconds": round(time.monotonic() - started, 3),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2))
        partial.rename(final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def list_snapshots(root: Path) -> list[dict[str, Any]]:
    folder = snapshots_folder(root)
    if not folder.is_dir():
        return []
    found = []
    for manifest in sorted(folder.glob(f"*/{MANIFEST}")):
        found.append(json.loads(manifest.read_text()))
    return sorted(found, key=lambda m: m["created"])


def _manifest(root: Path, name: str) -> Path:
    snapshot = snapshots_folder(root) / check_name(name)
    if not (snapshot / MANIFEST).is_file():
        known = ", ".join(m["name"] for m in list_snapshots(root)) or "none"
        raise SnapshotError(f"no snapshot {name!r} of {root.name} (snapshots: {known})")
    return snapshot


def restore(root: Path, name: str, into: Path | None, running: set[str]) -> Path:
    """Copy snapshot ``name`` back over the (stopped) network in ``root``, or into
    ``into/<network>`` (a new home, which must not hold that network yet). Returns the
    network folder restored."""
    snapshot = _manifest(root, name)
    target = root if into is None else into.resolve() / root.name
    if into is None:
        if running:
            raise SnapshotError(
                f"{root.name} is running ({', '.join(sorted(running))}); "
                "stop it with `consortium down` first"
            )
        for child in root.iterdir():
            if child.name not in (SNAPSHOTS, "logs"):
                shutil.rmtree(child) if child.is_dir() else child.unlink()
    elif target.exists() and any(target.iterdir()):
        raise SnapshotError(f"{target} is not empty; restore into a new folder")
    shutil.copytree(snapshot / "network", target, dirs_exist_ok=True)
    return target
