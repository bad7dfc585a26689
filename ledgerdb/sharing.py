"""How one writer and any number of readers share a journal directory.

The writer holds an exclusive ``flock`` on ``LOCK`` for as long as it has the journal
open, so two writers can never interleave records. Readers take no lock at all: a
``consortium ledger verify`` running for minutes must never keep an orderer from
(re)starting. A reader only asks whether a writer is live, because that decides how far
it may read:

- no live writer: every whole record is the journal (recovery would keep them all);
- a live writer: records past the last acknowledged one may be half written or not yet
  fsynced, so the reader stops at ``journal.acked``, which the writer rewrites after
  every group fsync and before acknowledging it (a plain write, not itself fsynced: it
  only matters while the writer runs, and the writer rewrites it on every open).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
from pathlib import Path

import crc32c

from ledgerdb.errors import LedgerUnavailable

LOCK = "LOCK"
ACKED = "journal.acked"
_ACKED = struct.Struct("<QI")  # blocks acknowledged, CRC32C of those 8 bytes
_TORN_MARK_RETRIES = 3


def lock_for_writing(directory: Path) -> int:
    """The writer's exclusive lock (an fd to close on release); refuses a second writer."""
    try:
        fd = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LedgerUnavailable(f"ledger directory {directory} is not usable: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LedgerUnavailable(
            f"ledger directory {directory} is in use by another process"
        ) from None
    return fd


def writer_is_live(directory: Path) -> bool:
    """Whether some process holds the journal open for writing right now."""
    try:
        fd = os.open(directory / LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise LedgerUnavailable(f"ledger directory {directory} is not usable: {exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's shared lock at once
    return False


def open_acked(directory: Path) -> int:
    """The writer's fd for ``journal.acked``."""
    return os.open(directory / ACKED, os.O_RDWR | os.O_CREAT, 0o644)


def write_acked(fd: int, count: int) -> None:
    """Say that the first ``count`` blocks are fsynced and acknowledged (call after the
    fsync, before acknowledging)."""
    head = _ACKED.pack(count, 0)[:8]
    os.pwrite(fd, head + struct.pack("<I", crc32c.crc32c(head)), 0)


def read_acked(directory: Path) -> int | None:
    """How many blocks the live writer has acknowledged; None if it never said.

    A read can race the writer's rewrite of the mark; the checksum catches that, and the
    next read sees the finished write.
    """
    for _ in range(_TORN_MARK_RETRIES):
        with contextlib.suppress(FileNotFoundError):
            data = (directory / ACKED).read_bytes()
            if len(data) == _ACKED.size:
                count, check = _ACKED.unpack(data)
                if crc32c.crc32c(data[:8]) == check:
                    return count
    return None
