"""Helpers for the journal's tests: small journals on real files."""

from __future__ import annotations

from pathlib import Path

from ledgerdb.block import Payload
from ledgerdb.journal import Journal


def fill(path: Path, count: int, **options) -> list[bytes]:
    """A journal of ``count`` one-payload blocks; returns the payloads."""
    payloads = [f"payload {number:04d}".encode() * 3 for number in range(count)]
    with Journal.open(path, **options) as journal:
        for payload in payloads:
            journal.append([Payload(payload)], {"n": len(payload)})
    return payloads


def segment_files(path: Path) -> list[Path]:
    return sorted((path / "segments").glob("*.seg"))
