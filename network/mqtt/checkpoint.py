"""The bridge's durable checkpoint: the last message of each stream the broker acknowledged.

Publish, then checkpoint: a position is written only after the broker acknowledged
(QoS 1 PUBACK) every message up to it, so after a crash the bridge resumes right after
what it knows was delivered. What it published but had not yet checkpointed — at most the
messages of the block (or governance batch) in flight — is published again: the
at-least-once edge, which subscribers remove by position (``docs/events.md``).

The file is small JSON, replaced atomically: written to a temporary file, fsynced, renamed
over the old one, and the folder fsynced, so a crash leaves the old or the new checkpoint,
never a torn one.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from network.mqtt.errors import CheckpointError

VERSION = 1
GOVERNANCE = "#governance"  # never a channel ID, so it cannot clash with one
GOVERNANCE_FIELD = "governance"


@dataclass(frozen=True, order=True)
class Position:
    """The last acknowledged message of a stream: (block, index) on a channel, with the
    transaction index for people; (sequence, index) for governance."""

    number: int
    index: int
    tx: int | None = field(default=None, compare=False)

    @property
    def key(self) -> tuple[int, int]:
        return (self.number, self.index)

    def to_dict(self, stream: str) -> dict[str, Any]:
        if stream == GOVERNANCE:
            return {"sequence": self.number, "index": self.index}
        return {"block": self.number, "tx": self.tx, "index": self.index}


def _position(stream: str, raw: Any, file: Path) -> Position:
    key = "sequence" if stream == GOVERNANCE else "block"
    try:
        number, index = raw[key], raw["index"]
        tx = None if stream == GOVERNANCE else raw.get("tx")
    except (KeyError, TypeError):
        raise CheckpointError(f"{file}: {stream}: needs {key} and index") from None
    if not all(isinstance(v, int) and v >= 0 for v in (number, index)):
        raise CheckpointError(f"{file}: {stream}: {key} and index must be whole numbers >= 0")
    return Position(number, index, tx)


def read_checkpoint(file: Path) -> dict[str, Position]:
    """Stream → last acknowledged position; a missing file is a bridge that never ran."""
    try:
        raw = json.loads(file.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{file}: cannot read the checkpoint: {exc}") from None
    if not isinstance(raw, dict) or raw.get("version") != VERSION:
        raise CheckpointError(f"{file}: not a version {VERSION} bridge checkpoint")
    positions = {
        channel: _position(channel, value, file)
        for channel, value in (raw.get("channels") or {}).items()
    }
    if raw.get(GOVERNANCE_FIELD) is not None:
        positions[GOVERNANCE] = _position(GOVERNANCE, raw[GOVERNANCE_FIELD], file)
    return positions


def write_checkpoint(file: Path, positions: dict[str, Position]) -> None:
    """Replace the checkpoint atomically and durably (see the module docstring)."""
    document = {
        "version": VERSION,
        "channels": {s: p.to_dict(s) for s, p in sorted(positions.items()) if s != GOVERNANCE},
        GOVERNANCE_FIELD: positions[GOVERNANCE].to_dict(GOVERNANCE)
        if GOVERNANCE in positions
        else None,
    }
    temporary = file.with_name(f".{file.name}.tmp")
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "w") as out:
            json.dump(document, out, indent=1)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, file)
        folder = os.open(file.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        raise CheckpointError(f"{file}: cannot write the checkpoint: {exc}") from None


class Checkpoint:
    """The bridge's positions in memory and on disk. Streams advance concurrently; every
    write saves the newest positions of all of them, one write at a time, so the file
    never goes back."""

    def __init__(self, file: Path) -> None:
        self.file = file
        self.positions = read_checkpoint(file)
        self._writing = threading.Lock()

    def get(self, stream: str) -> Position | None:
        return self.positions.get(stream)

    def _write_newest(self) -> None:
        with self._writing:
            write_checkpoint(self.file, dict(self.positions))

    async def advance(self, stream: str, position: Position) -> None:
        self.positions[stream] = position
        await asyncio.to_thread(self._write_newest)

    def advance_now(self, stream: str, position: Position) -> None:
        """The same, blocking: for a bridge that is stopping."""
        self.positions[stream] = position
        self._write_newest()
