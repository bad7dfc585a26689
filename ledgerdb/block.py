"""Blocks in QLDB's shape, how they are hashed, and their bytes inside a journal record.

A block holds one transaction: its ``transactionInfo`` (an Ion value) and its entries,
each either an opaque payload (the orderer's serialized Fabric blocks) or a QLDB
revision (an Ion ``metadata`` struct and the document ``data``). The hashing rules are
QLDB's (see docs/ledgerdb-format.md for the byte-level statement):

- payload hash = SHA-256(bytes); revision hash = dot(IonHash(metadata), IonHash(data));
- entriesHashList = [IonHash(transactionInfo), merkle_root(entry hashes), headerHash]
  where headerHash covers strandId, sequenceNo, transactionId and blockTimestamp, so
  that every field of the block is covered by its hash;
- entriesHash = merkle_root(entriesHashList); blockHash = dot(entriesHash, previous).
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import functools
import io
import os
import struct
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import Timestamp, TimestampPrecision

from ledgerdb.errors import InvalidInput, VerificationError
from ledgerdb.hashing import EMPTY, HASH_SIZE, dot, merkle_root, sha256
from ledgerdb.ionhash import ion_hash, plain_ion_hash
from ledgerdb.plain_ion import check_names, plain_bytes

FORMAT_VERSION = 1
ID_LENGTH = 22
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TEXT_BYTES = 0xFFFF
# A block is one record; this keeps every block well inside a record's 256 MiB limit.
MAX_CONTENT_BYTES = 128 * 1024 * 1024


# base64's two non-alphanumeric characters mapped into the alphabet: ids stay base62
# characters (as QLDB's are) and keep over 128 random bits.
_TO_BASE62 = bytes.maketrans(b"+/", b"Zz")


class _RandomPool:
    """The operating system's random bytes, drawn a few kilobytes at a time.

    Every commit takes two ids. ``os.urandom`` releases the GIL, and with eight
    committing threads each release handed the GIL to another thread and cost two
    thread switches; one draw per 256 ids does not. A forked child starts with an empty
    pool, so parent and child never hand out the same bytes."""

    SIZE = 18 * 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pool = b""
        self._used = 0
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        self._lock = threading.Lock()
        self._pool, self._used = b"", 0

    def take(self, size: int) -> bytes:
        with self._lock:
            if self._used + size > len(self._pool):
                self._pool, self._used = os.urandom(max(self.SIZE, size)), 0
            start = self._used
            self._used += size
            return self._pool[start : self._used]


_random = _RandomPool()


def new_id() -> str:
    """A QLDB-style identifier: 22 alphanumeric characters (strand ids, transaction ids)."""
    return _id_of(_random.take(18))


def derived_id(seed: bytes) -> str:
    """An identifier of the same shape, the same for everyone who knows ``seed``: the
    strand of a replicated journal, agreed by every writer before block 0 exists."""
    return _id_of(sha256(seed)[:18])


def _id_of(raw: bytes) -> str:
    return base64.b64encode(raw).translate(_TO_BASE62)[:ID_LENGTH].decode()


def to_timestamp(micros: int) -> Timestamp:
    """The Ion timestamp of a block: UTC, microsecond precision (6 fraction digits)."""
    return ion_timestamp(EPOCH + timedelta(microseconds=micros), 6)


def ion_timestamp(moment: datetime, fraction_digits: int) -> Timestamp:
    """``moment`` (UTC) as an Ion timestamp with exactly ``fraction_digits`` (3 or 6) digits
    of fractional seconds, so its Ion (and Ion hash) never depends on how it was made."""
    microsecond = moment.microsecond // 10 ** (6 - fraction_digits) * 10 ** (6 - fraction_digits)
    return Timestamp(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        microsecond,
        tzinfo=UTC,
        precision=TimestampPrecision.SECOND,
        fractional_precision=fraction_digits,
    )


def ion_bytes(value: Any, field: str) -> bytes:
    """Ion binary of a caller's value; what is stored is exactly what gets hashed."""
    try:
        written = plain_bytes(value)  # plain values, without simpleion's set-up cost
        if written is not None:
            return written
        check_names(value)  # simpleion hangs on a field name that is not valid Unicode
    except (UnicodeEncodeError, RecursionError) as exc:
        raise InvalidInput(f"{field} is not an Ion value: {exc}") from None
    try:
        return simpleion.dumps(value, binary=True)
    except Exception as exc:  # amazon.ion raises bare TypeError/ValueError/IonException
        raise InvalidInput(f"{field} is not an Ion value: {exc}") from None


def ion_value(data: bytes, field: str, *, untrusted: bool = False) -> Any:
    """Ion binary as a value. ``untrusted`` bytes (what verification exists to meet:
    possibly corrupt) go to amazon.ion's pure-Python reader, because its C extension
    (0.15) can hang on corrupt binary — a flipped bit in a length field was seen to loop
    forever. That costs ~100 µs instead of ~15 for a transactionInfo, so bytes the
    journal wrote itself or checked by CRC keep the C reader."""
    try:
        if untrusted:
            return simpleion.load_python(io.BytesIO(data), single_value=True)
        return simpleion.loads(data)
    except Exception as exc:
        raise VerificationError(f"{field} is not valid Ion binary: {exc}") from None


class EntryKind(enum.IntEnum):
    PAYLOAD = 0
    REVISION = 1


@dataclass(frozen=True)
class Payload:
    """Opaque bytes, hashed with SHA-256 (the orderer's serialized Fabric block)."""

    data: bytes


@dataclass(frozen=True)
class Revision:
    """A QLDB document revision; ``data`` is None for a deleted document's last revision,
    and for a redacted one, which keeps ``data_hash`` (the Ion Hash of the data it had).
    With ``data``, ``data_hash`` is its Ion Hash when the caller has it already (a commit
    hashed the plain parameter the document was copied from), and is trusted."""

    metadata: Mapping[str, Any]
    data: Any = None
    data_hash: bytes | None = None


@dataclass(frozen=True)
class Entry:
    """An entry as stored: its kind, its bytes (revisions: Ion binary) and its hash."""

    kind: EntryKind
    body: bytes
    hash: bytes

    def revision(self) -> Revision:
        if self.kind is not EntryKind.REVISION:
            raise InvalidInput("entry is an opaque payload, not a revision")
        value = ion_value(self.body, "revision")
        redacted = value.get("dataHash")
        return Revision(
            value["metadata"], value.get("data"), None if redacted is None else bytes(redacted)
        )


def entry_hash(kind: EntryKind, body: bytes, *, untrusted: bool = False) -> bytes:
    if kind is EntryKind.PAYLOAD:
        return sha256(body)
    value = ion_value(body, "revision", untrusted=untrusted)
    if not isinstance(value, Mapping) or "metadata" not in value:
        raise VerificationError("revision has no metadata struct")
    return _revision_hash(value)


def _revision_hash(value: Mapping[str, Any]) -> bytes:
    return dot(ion_hash(value["metadata"]), _data_hash(value))


def _data_hash(value: Mapping[str, Any]) -> bytes:
    """IonHash(data); a redacted revision states it as ``dataHash`` (QLDB's redaction)."""
    if "data" in value:
        return ion_hash(value["data"])
    if "dataHash" not in value:
        return EMPTY  # a deleted document's last revision
    stated = value["dataHash"]
    if not isinstance(stated, bytes | bytearray) or len(stated) != HASH_SIZE:
        raise VerificationError("a redacted revision's dataHash is not a 32-byte hash")
    return bytes(stated)


def redacted_body(body: bytes) -> bytes:
    """The revision entry body with its data replaced by the data's Ion Hash.

    The entry's hash is unchanged (``dot(IonHash(metadata), dataHash)``), so the block, the
    chain and every proof stay valid while the data itself is gone.
    """
    value = ion_value(body, "revision")
    if "data" not in value:
        raise InvalidInput("the revision has no data to redact (deleted or already redacted)")
    return ion_bytes(
        {"metadata": value["metadata"], "dataHash": ion_hash(value["data"])}, "revision"
    )


def make_entry(item: Payload | Revision) -> Entry:
    """The stored form of a caller's entry, hashed from the bytes that will be stored."""
    if isinstance(item, Payload):
        if not isinstance(item.data, bytes | bytearray | memoryview):
            raise InvalidInput("payload data must be bytes")
        body = bytes(item.data)
        return Entry(EntryKind.PAYLOAD, body, sha256(body))
    if isinstance(item, Revision):
        if not isinstance(item.metadata, Mapping):
            raise InvalidInput("revision metadata must be an Ion struct")
        value: dict[str, Any] = {"metadata": item.metadata}
        if item.data is not None:
            value["data"] = item.data
        body = ion_bytes(value, "revision")
        # a third of a commit's CPU was reading body back: plain values hash as they are
        data_hash = EMPTY if item.data is None else item.data_hash or plain_ion_hash(item.data)
        meta_hash = plain_ion_hash(item.metadata)
        if data_hash is None or meta_hash is None:
            return Entry(EntryKind.REVISION, body, entry_hash(EntryKind.REVISION, body))
        return Entry(EntryKind.REVISION, body, dot(meta_hash, data_hash))
    raise InvalidInput(f"entries must be Payload or Revision, not {type(item).__name__}")


@dataclass(frozen=True)
class BlockAddress:
    strand_id: str
    sequence_no: int

    def to_dict(self) -> dict[str, Any]:
        return {"strandId": self.strand_id, "sequenceNo": self.sequence_no}


def header_hash(address: BlockAddress, transaction_id: str, timestamp_micros: int) -> bytes:
    """SHA-256 over the block's own fields, so none of them can change unnoticed.

    A fixed binary layout rather than an Ion Hash: it is hashed once per block on the
    append path, and a byte layout is the easiest rule for an outside verifier to follow.
    """
    transaction = transaction_id.encode()
    return sha256(
        b"".join(
            (
                _strand_field(address.strand_id),
                _U64BE.pack(address.sequence_no),
                _U16BE.pack(len(transaction)),
                transaction,
                _I64BE.pack(timestamp_micros),
            )
        )
    )


_U16BE = struct.Struct(">H")
_U64BE = struct.Struct(">Q")
_I64BE = struct.Struct(">q")


@functools.lru_cache(maxsize=64)
def _strand_field(strand_id: str) -> bytes:
    """Length-prefixed strand id: the same for every block of a journal, so built once."""
    strand = strand_id.encode()
    return _U16BE.pack(len(strand)) + strand


@dataclass(frozen=True)
class Block:
    address: BlockAddress
    transaction_id: str
    timestamp_micros: int
    transaction_info: bytes  # Ion binary
    entries: tuple[Entry, ...]
    previous_block_hash: bytes
    entries_hash_list: tuple[bytes, ...]
    entries_hash: bytes
    block_hash: bytes

    @property
    def sequence_no(self) -> int:
        return self.address.sequence_no

    def transaction_info_value(self) -> Any:
        return ion_value(self.transaction_info, "transactionInfo")


@dataclass(frozen=True)
class BlockHashes:
    """Everything about a block's hash that follows from its contents."""

    entry_hashes: tuple[bytes, ...]
    entries_hash_list: tuple[bytes, ...]
    entries_hash: bytes
    block_hash: bytes


def compute_hashes(
    address: BlockAddress,
    transaction_id: str,
    timestamp_micros: int,
    info_hash: bytes,
    entry_hashes: Sequence[bytes],
    previous_block_hash: bytes,
) -> BlockHashes:
    hash_list = (
        info_hash,
        entry_hashes[0] if len(entry_hashes) == 1 else merkle_root(entry_hashes),
        header_hash(address, transaction_id, timestamp_micros),
    )
    entries_hash = dot(dot(info_hash, hash_list[1]), hash_list[2])  # merkle_root of three
    return BlockHashes(
        tuple(entry_hashes), hash_list, entries_hash, dot(entries_hash, previous_block_hash)
    )


@dataclass(frozen=True)
class Transaction:
    """A caller's block contents, validated and hashed before the journal's lock is taken."""

    transaction_id: str
    transaction_info: bytes
    info_hash: bytes
    entries: tuple[Entry, ...]


def prepare(
    entries: Sequence[Payload | Revision],
    transaction_info: Any = None,
    transaction_id: str | None = None,
) -> Transaction:
    if isinstance(entries, Payload | Revision) or not entries:
        raise InvalidInput("entries must be a non-empty list of Payload or Revision")
    stored = tuple(make_entry(item) for item in entries)
    if transaction_info is None:
        info_bytes = _EMPTY_STRUCT
    elif isinstance(transaction_info, Mapping):
        info_bytes = ion_bytes(transaction_info, "transaction_info")
    else:
        raise InvalidInput("transaction_info must be an Ion struct")
    txid = new_id() if transaction_id is None else transaction_id
    if not isinstance(txid, str) or not txid or len(txid.encode()) > MAX_TEXT_BYTES:
        raise InvalidInput("transaction_id must be a non-empty string of at most 65535 bytes")
    size = len(info_bytes) + sum(len(entry.body) for entry in stored)
    if size > MAX_CONTENT_BYTES:
        raise InvalidInput(f"entries: a block holds at most {MAX_CONTENT_BYTES} bytes, got {size}")
    return Transaction(txid, info_bytes, _info_hash(transaction_info, info_bytes), stored)


_EMPTY_STRUCT = simpleion.dumps({}, binary=True)


def _info_hash(info: Any, info_bytes: bytes) -> bytes:
    """IonHash of transactionInfo; always equal to the hash of its stored bytes."""
    hashed = plain_ion_hash(info) if type(info) is dict else None
    return _stored_info_hash(info_bytes) if hashed is None else hashed


@functools.lru_cache(maxsize=256)
def _stored_info_hash(info_bytes: bytes) -> bytes:
    """IonHash of stored transactionInfo bytes; repeated infos (often ``{}``) hash once."""
    return ion_hash(ion_value(info_bytes, "transaction_info"))


def seal(
    transaction: Transaction,
    address: BlockAddress,
    timestamp_micros: int,
    previous_block_hash: bytes,
) -> Block:
    """The block at ``address``: chained to its predecessor, every hash filled in."""
    hashes = compute_hashes(
        address,
        transaction.transaction_id,
        timestamp_micros,
        transaction.info_hash,
        [entry.hash for entry in transaction.entries],
        previous_block_hash,
    )
    return Block(
        address,
        transaction.transaction_id,
        timestamp_micros,
        transaction.transaction_info,
        transaction.entries,
        previous_block_hash,
        hashes.entries_hash_list,
        hashes.entries_hash,
        hashes.block_hash,
    )


@dataclass
class ChainHead:
    """Where a strand's next block goes: its number, its predecessor's hash, and the newest
    timestamp so far.

    Every writer seals through one of these, the local journal's writer thread and a
    replicated journal's appender alike, so a block is hashed the same way whichever
    backend built it (and timestamps never go back, whatever the clock does).
    """

    strand_id: str
    sequence_no: int
    previous_hash: bytes
    timestamp_micros: int = 0

    def seal(self, transaction: Transaction, now_micros: int) -> Block:
        """The next block, holding ``transaction``; the head moves past it."""
        block = seal(
            transaction,
            BlockAddress(self.strand_id, self.sequence_no),
            max(now_micros, self.timestamp_micros),
            self.previous_hash,
        )
        self.advance(block)
        return block

    def advance(self, block: Block) -> None:
        """Move past ``block`` (sealed here, or checked by the caller to follow the head)."""
        self.sequence_no = block.sequence_no + 1
        self.previous_hash = block.block_hash
        self.timestamp_micros = max(self.timestamp_micros, block.timestamp_micros)

    def copy(self) -> ChainHead:
        return dataclasses.replace(self)


# ---- record bytes -------------------------------------------------------------------------

_FIXED = struct.Struct("<BQ32s32s")  # version, sequenceNo, blockHash, entriesHash
_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I64 = struct.Struct("<q")
_ENTRY = struct.Struct("<B32sI")
SEQUENCE_OFFSET = 1
BLOCK_HASH_OFFSET = 9


def _text(value: str) -> bytes:
    data = value.encode()
    return _U16.pack(len(data)) + data


def encode(block: Block) -> bytes:
    parts = [
        _FIXED.pack(FORMAT_VERSION, block.sequence_no, block.block_hash, block.entries_hash),
        _U8.pack(len(block.previous_block_hash)),
        block.previous_block_hash,
        _U8.pack(len(block.entries_hash_list)),
        *block.entries_hash_list,
        _I64.pack(block.timestamp_micros),
        _text(block.address.strand_id),
        _text(block.transaction_id),
        _U32.pack(len(block.transaction_info)),
        block.transaction_info,
        _U32.pack(len(block.entries)),
    ]
    for entry in block.entries:
        parts += [_ENTRY.pack(entry.kind, entry.hash, len(entry.body)), entry.body]
    return b"".join(parts)


def encoded_size(transaction: Transaction, strand_id: str, sequence_no: int) -> int:
    """``len(encode(block))`` of the block ``transaction`` becomes at ``sequence_no``, known
    before it is sealed (to refuse a block too large for where it goes, hashing nothing)."""
    previous = 0 if sequence_no == 0 else HASH_SIZE
    return (
        _FIXED.size
        + _U8.size
        + previous
        + _U8.size
        + 3 * HASH_SIZE
        + _I64.size
        + _U16.size
        + len(strand_id.encode())
        + _U16.size
        + len(transaction.transaction_id.encode())
        + _U32.size
        + len(transaction.transaction_info)
        + _U32.size
        + sum(_ENTRY.size + len(entry.body) for entry in transaction.entries)
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.offset = 0

    def take(self, size: int) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise VerificationError(f"block record ends early at byte {self.offset}")
        chunk = bytes(self.data[self.offset : end])
        self.offset = end
        return chunk

    def unpack(self, layout: struct.Struct) -> tuple[Any, ...]:
        return layout.unpack(self.take(layout.size))


def decode(data: bytes) -> Block:
    """The block in a record's payload; raises VerificationError if the bytes are malformed."""
    reader = _Reader(data)
    version, sequence_no, block_hash, entries_hash = reader.unpack(_FIXED)
    if version != FORMAT_VERSION:
        raise VerificationError(f"block format version {version} is unknown", sequence_no)
    try:
        previous = reader.take(reader.unpack(_U8)[0])
        hash_list = tuple(reader.take(HASH_SIZE) for _ in range(reader.unpack(_U8)[0]))
        (timestamp,) = reader.unpack(_I64)
        strand_id = reader.take(reader.unpack(_U16)[0]).decode()
        transaction_id = reader.take(reader.unpack(_U16)[0]).decode()
        info = reader.take(reader.unpack(_U32)[0])
        entries = []
        for _ in range(reader.unpack(_U32)[0]):
            kind, entry_digest, size = reader.unpack(_ENTRY)
            entries.append(Entry(EntryKind(kind), reader.take(size), entry_digest))
    except (UnicodeDecodeError, ValueError) as exc:
        raise VerificationError(f"block {sequence_no} is malformed: {exc}", sequence_no) from None
    if reader.offset != len(data):
        raise VerificationError(f"block {sequence_no} has trailing bytes", sequence_no)
    return Block(
        BlockAddress(strand_id, sequence_no),
        transaction_id,
        timestamp,
        info,
        tuple(entries),
        previous,
        hash_list,
        entries_hash,
        block_hash,
    )
