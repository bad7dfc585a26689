"""Segment files: the journal's records, framed and checksummed, recovered after a crash.

A record is a 12-byte header and a payload. The header is the payload length, the
payload's CRC32C, and a CRC32C of those first 8 bytes, all little-endian u32; the header's
own checksum is what lets recovery tell a torn tail (a write cut short by a crash) from a
damaged record: a torn tail is cut back, a damaged record anywhere stops the open with the
segment file and offset. Records are numbered from 0; a segment file is named after the
number of its first record, so the numbering survives without an index.

Nothing here fsyncs on its own schedule: ``append`` only writes, ``sync`` makes what was
written durable, and a caller acknowledges only what a ``sync`` covered.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import crc32c

from ledgerdb.errors import (
    BlockNotFound,
    CorruptRecord,
    InvalidInput,
    StorageFailure,
    VerificationError,
)

HEADER = struct.Struct("<III")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 256 * 1024 * 1024
SUFFIX = ".seg"
REWRITE_SUFFIX = ".rewrite"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
_LENGTH_AND_CRC = struct.Struct("<II")


def segment_name(first_record: int) -> str:
    return f"{first_record:020d}{SUFFIX}"


def frame(payload: bytes) -> bytes:
    """Header + payload, as stored."""
    if not payload or len(payload) > MAX_PAYLOAD:
        raise InvalidInput(f"record payload must be 1..{MAX_PAYLOAD} bytes, got {len(payload)}")
    head = _LENGTH_AND_CRC.pack(len(payload), crc32c.crc32c(payload))
    return head + struct.pack("<I", crc32c.crc32c(head)) + payload


def unframe(record: bytes) -> bytes:
    """The payload of one whole record (as ``frame`` made it), both checksums checked.

    For records that arrive as a unit (a segment read, a replicated stream's message);
    raises ``VerificationError`` saying what is wrong, for the caller to name the source.
    """
    if len(record) < HEADER_SIZE:
        raise VerificationError(f"record of {len(record)} bytes is shorter than its header")
    length, payload_crc, header_crc = HEADER.unpack_from(record)
    if crc32c.crc32c(record[:8]) != header_crc:
        raise VerificationError("record header checksum mismatch")
    payload = record[HEADER_SIZE:]
    if length != len(payload):
        raise VerificationError(f"record header says {length} bytes, {len(payload)} follow")
    if crc32c.crc32c(payload) != payload_crc:
        raise VerificationError("record checksum mismatch")
    return payload


@dataclass
class Scan:
    """Where a segment's whole records start, where they end, and what follows them."""

    offsets: array = field(default_factory=lambda: array("Q"))
    end: int = 0
    torn_bytes: int = 0


def scan(
    path: Path, data: bytes, first_record: int, is_last: bool, stop: int | None = None
) -> Scan:
    """Check every record of a segment; only the last segment may end in a torn record.

    ``stop``: how many records to take at most; what follows them is not looked at (a
    live writer's records that a reader must not take yet).
    """
    result = Scan()
    view = memoryview(data)
    size = len(data)
    offset = 0
    offsets = result.offsets
    crc = crc32c.crc32c
    unpack = HEADER.unpack_from
    while offset < size and (stop is None or len(offsets) < stop):
        number = first_record + len(offsets)
        torn = ""
        if size - offset < HEADER_SIZE:
            torn = "record header is cut short"
        else:
            length, payload_crc, header_crc = unpack(data, offset)
            if crc(view[offset : offset + 8]) != header_crc:
                if not any(view[offset:]):
                    torn = "segment ends in zeros"
                else:
                    raise CorruptRecord(path, offset, "record header checksum mismatch", number)
            elif length == 0 or length > MAX_PAYLOAD:
                raise CorruptRecord(path, offset, f"record length {length} is invalid", number)
            elif offset + HEADER_SIZE + length > size:
                torn = "record is cut short"
            elif crc(view[offset + HEADER_SIZE : offset + HEADER_SIZE + length]) != payload_crc:
                raise CorruptRecord(path, offset, "record checksum mismatch", number)
        if torn:
            if not is_last:
                raise CorruptRecord(path, offset, f"{torn} before the last segment", number)
            result.torn_bytes = size - offset
            break
        offsets.append(offset)
        offset += HEADER_SIZE + length
    result.end = offset
    return result


class Segment:
    """One segment file: its records' offsets, read by number, appended at the end."""

    def __init__(self, path: Path, first_record: int, fd: int, scanned: Scan) -> None:
        self.path = path
        self.first_record = first_record
        self.fd = fd
        self.offsets = scanned.offsets
        self.size = scanned.end

    @property
    def count(self) -> int:
        return len(self.offsets)

    def read(self, number: int) -> bytes:
        index = number - self.first_record
        start = self.offsets[index]
        end = self.offsets[index + 1] if index + 1 < len(self.offsets) else self.size
        data = os.pread(self.fd, end - start, start)
        try:
            return unframe(data)
        except VerificationError as exc:
            raise CorruptRecord(self.path, start, str(exc), number) from None

    def write(self, frames: Sequence[bytes]) -> None:
        data = b"".join(frames)
        try:
            written = os.pwrite(self.fd, data, self.size)
        except OSError as exc:
            raise StorageFailure(f"cannot write segment {self.path}: {exc}") from exc
        if written != len(data):
            raise StorageFailure(f"short write to segment {self.path}")
        for item in frames:
            self.offsets.append(self.size)
            self.size += len(item)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SegmentLog:
    """Numbered records across segment files: open with recovery, append, sync, read.

    ``recover=False`` opens without changing any file (a torn tail is left in place and
    reported by ``torn_bytes``), for checking a journal without repairing it. ``limit``
    (read-only) takes only that many records, which must all be whole: the records a live
    writer has acknowledged, with whatever it is writing after them left alone.
    """

    def __init__(
        self,
        directory: Path,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        recover: bool = True,
        limit: int | None = None,
    ) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self.segments: list[Segment] = []
        self._retired: list[int] = []  # descriptors of rewritten segments' old files
        self.torn_bytes = 0
        self._writable = recover
        self._limit = limit
        if recover and not directory.exists():
            directory.mkdir(parents=True)
            _fsync_directory(directory.parent)
        if recover:  # a rewrite (redaction) a crash cut short: the segment is the old one
            for stray in directory.glob(f".*{SUFFIX}{REWRITE_SUFFIX}"):
                stray.unlink()
        paths = sorted(directory.glob(f"*{SUFFIX}"))
        try:
            for index, path in enumerate(paths):
                if limit is not None and self.count >= limit:
                    break
                self._open_segment(path, is_last=index == len(paths) - 1)
            if limit is not None and self.count < limit:
                self._missing_acknowledged(limit)
        except BaseException:
            self.close()
            raise
        if not self.segments and recover:
            self._create_segment(0)

    @property
    def count(self) -> int:
        last = self.segments[-1] if self.segments else None
        return last.first_record + last.count if last else 0

    @property
    def active_fd(self) -> int:
        return self.segments[-1].fd

    def _open_segment(self, path: Path, is_last: bool) -> None:
        try:
            first_record = int(path.name.removesuffix(SUFFIX))
        except ValueError:
            raise CorruptRecord(path, 0, "segment file name is not a record number") from None
        if first_record != self.count:
            raise CorruptRecord(
                path, 0, f"segment starts at record {first_record}, expected {self.count}"
            )
        fd = os.open(path, os.O_RDWR if self._writable else os.O_RDONLY)
        try:
            with open(fd, "rb", closefd=False) as handle:
                data = handle.read()
            stop = None if self._limit is None else self._limit - first_record
            scanned = scan(path, data, first_record, is_last, stop)
            if scanned.torn_bytes and self._writable:
                os.ftruncate(fd, scanned.end)
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        self.torn_bytes = scanned.torn_bytes
        self.segments.append(Segment(path, first_record, fd, scanned))

    def _missing_acknowledged(self, limit: int) -> None:
        last = self.segments[-1] if self.segments else None
        raise CorruptRecord(
            last.path if last else self.directory,
            last.size if last else 0,
            f"the writer acknowledged {limit} blocks but the segments hold {self.count}",
            self.count,
        )

    def _create_segment(self, first_record: int) -> None:
        path = self.directory / segment_name(first_record)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        _fsync_directory(self.directory)
        self.segments.append(Segment(path, first_record, fd, Scan()))

    def append(self, payloads: Sequence[bytes]) -> None:
        """Write records at the end (not yet durable: see ``sync``)."""
        frames = [frame(payload) for payload in payloads]
        active = self.segments[-1]
        if active.size and active.size + sum(map(len, frames)) > self.segment_bytes:
            self.sync()
            self._create_segment(self.count)
            active = self.segments[-1]
        active.write(frames)

    def sync(self, fd: int | None = None) -> None:
        try:
            os.fdatasync(self.active_fd if fd is None else fd)
        except OSError as exc:
            raise StorageFailure(f"fsync of segment failed: {exc}") from exc

    def _segment_of(self, number: int) -> Segment:
        if not 0 <= number < self.count:
            raise BlockNotFound(f"record {number} does not exist (the log has {self.count})")
        low, high = 0, len(self.segments) - 1
        while low < high:
            middle = (low + high + 1) // 2
            if self.segments[middle].first_record <= number:
                low = middle
            else:
                high = middle - 1
        return self.segments[low]

    def read(self, number: int) -> bytes:
        return self._segment_of(number).read(number)

    def replace(self, number: int, payload: bytes) -> None:
        """Rewrite record ``number`` with a new payload (a redaction), crash-safely.

        The record's segment is copied with the one record replaced into a temporary file,
        fsynced, and renamed over the segment (then the directory is fsynced): after a
        crash the segment is the old one or the new one, never a mix. The caller excludes
        appends and syncs meanwhile. Readers holding the old file keep reading it whole;
        its descriptor is closed only with the log, so a concurrent ``read`` never lands on
        a reused descriptor.
        """
        segment = self._segment_of(number)
        index = number - segment.first_record
        start = segment.offsets[index]
        end = segment.offsets[index + 1] if index + 1 < segment.count else segment.size
        data = os.pread(segment.fd, segment.size, 0)
        if len(data) != segment.size:
            raise StorageFailure(f"cannot read segment {segment.path} to rewrite it")
        record = frame(payload)
        temporary = segment.path.with_name(f".{segment.path.name}{REWRITE_SUFFIX}")
        try:
            fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, data[:start] + record + data[end:])
                os.fsync(fd)
                os.replace(temporary, segment.path)
                _fsync_directory(self.directory)
            except BaseException:
                os.close(fd)
                raise
        except OSError as exc:
            raise StorageFailure(f"cannot rewrite segment {segment.path}: {exc}") from exc
        delta = len(record) - (end - start)
        scanned = Scan()
        scanned.offsets = array(
            "Q", [*segment.offsets[: index + 1], *(o + delta for o in segment.offsets[index + 1 :])]
        )
        scanned.end = segment.size + delta
        position = self.segments.index(segment)
        self.segments[position] = Segment(segment.path, segment.first_record, fd, scanned)
        self._retired.append(segment.fd)

    def location(self, number: int) -> tuple[Path, int]:
        """Segment file and offset of a record, for error messages."""
        segment = self._segment_of(number)
        return segment.path, segment.offsets[number - segment.first_record]

    def close(self) -> None:
        for segment in self.segments:
            os.close(segment.fd)
        for fd in self._retired:
            os.close(fd)
        self.segments = []
        self._retired = []
