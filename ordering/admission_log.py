"""The durable record of what one ordering node admitted and no block holds yet.

Why: the node that admitted an envelope is the one that admits it again if the ingress
stream falls back before any cutter read it (``ordering.admissions``). Kept in memory
only, that promise died with the node: a ``kill -9`` in the same window lost envelopes
Broadcast had answered SUCCESS for. So each acknowledgement is written here, and made
durable (fsync), before SUCCESS is answered; a restarted node reads them back and goes on
checking them.

Why a file of its own and not an existing record: the ingress stream is the record that
fell back; the block journal holds only what was cut; nats-server 2.9 acknowledges
before its own fsync (``sync_interval``, two minutes by default). No other copy exists.

Format: ``admitted.log`` in the channel's folder, a sequence of records, each
``>IQBd`` (envelope length, ingress position, is it a config update, wall-clock time of
admission) + envelope + CRC-32 of both. A later record of the same envelope supersedes an
earlier one (admitted again at a new position). Writes are grouped: every record queued
while one write is under way goes in the next, with one fsync for all. A crash can tear
only the last write, which was not acknowledged: reading stops at the first record that
does not check, and the file is cut there. Nothing is removed in place: once the records
written since the last rewrite outnumber the live ones, the file is rewritten (temporary
file, fsync, rename, fsync of the folder) with the live ones only, so it stays small.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ordering.errors import OrderingError

log = logging.getLogger(__name__)

FILE_NAME = "admitted.log"
_HEADER = struct.Struct(">IQBd")
_CRC = struct.Struct(">I")
REWRITE_AFTER = 256
"""Records written before the file is first rewritten (then: as many as are live)."""


class AdmissionLogFailed(OrderingError):
    """Writing the record of an admitted envelope failed (disk full, I/O error): the
    envelope is not acknowledged."""


@dataclass(frozen=True)
class AdmissionRecord:
    """One envelope this node admitted, where the ingress placed it, and when."""

    envelope: bytes
    position: int
    is_config_update: bool
    admitted_at: float  # wall clock (time.time()): it outlives the process


def encode_record(record: AdmissionRecord) -> bytes:
    header = _HEADER.pack(
        len(record.envelope), record.position, record.is_config_update, record.admitted_at
    )
    body = header + record.envelope
    return body + _CRC.pack(zlib.crc32(body))


def decode_records(data: bytes) -> tuple[list[AdmissionRecord], int]:
    """The records ``data`` holds, up to the first one that does not check, and how many
    bytes they take (where a torn tail starts)."""
    records: list[AdmissionRecord] = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, position, is_config_update, admitted_at = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if end + _CRC.size > len(data):
            break
        (crc,) = _CRC.unpack_from(data, end)
        if crc != zlib.crc32(data[offset:end]):
            break
        envelope = data[offset + _HEADER.size : end]
        records.append(AdmissionRecord(envelope, position, bool(is_config_update), admitted_at))
        offset = end + _CRC.size
    return records, offset


class AdmissionLog:
    """The ``admitted.log`` of one channel on one node."""

    def __init__(
        self,
        directory: Path,
        live: Callable[[], list[AdmissionRecord]],
        live_count: Callable[[], int] = lambda: 0,
    ) -> None:
        """``live`` answers the records still kept, for a rewrite; ``live_count`` how many
        there are (asked after every write: cheaper than the records)."""
        self.path = directory / FILE_NAME
        self._live = live
        self._live_count = live_count
        self._queue: list[tuple[bytes, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._since_rewrite = 0
        self._file = None

    def read(self) -> list[AdmissionRecord]:
        """The records on disk, the latest of each envelope; a torn tail is cut off."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records, good = decode_records(data)
        if good < len(data):
            log.warning(
                "%s: cutting a torn last write (%d bytes; it was not acknowledged)",
                self.path,
                len(data) - good,
            )
            with self.path.open("r+b") as file:
                file.truncate(good)
                os.fsync(file.fileno())
        self._since_rewrite = len(records)
        latest = {record.envelope: record for record in records}
        return list(latest.values())

    async def write(self, record: AdmissionRecord) -> None:
        """Return once ``record`` is durable (with whatever else was queued meanwhile)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((encode_record(record), future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain(), name=f"write:{self.path}")
        await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await asyncio.to_thread(self._append, b"".join(data for data, _ in batch))
            except OSError as exc:
                failure = AdmissionLogFailed(f"{self.path}: recording admitted envelopes: {exc}")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(failure)
                continue
            self._since_rewrite += len(batch)
            for _, future in batch:
                if not future.done():
                    future.set_result(None)
            if self._since_rewrite > max(REWRITE_AFTER, 2 * self._live_count()):
                try:
                    await asyncio.to_thread(self._rewrite, self._live())
                except OSError as exc:  # the old file is still whole: it only stays longer
                    log.warning("%s: rewriting with the live records: %s", self.path, exc)

    def _append(self, data: bytes) -> None:
        if self._file is None:
            self._file = self.path.open("ab")
        self._file.write(data)
        self._file.flush()
        os.fsync(self._file.fileno())

    def _rewrite(self, live: list[AdmissionRecord]) -> None:
        temporary = self.path.with_name(FILE_NAME + ".new")
        with temporary.open("wb") as file:
            file.write(b"".join(encode_record(record) for record in live))
            file.flush()
            os.fsync(file.fileno())
        if self._file is not None:
            self._file.close()
            self._file = None
        os.replace(temporary, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self._since_rewrite = len(live)

    async def close(self) -> None:
        if self._writer is not None:
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._file is not None:
            self._file.close()
            self._file = None
