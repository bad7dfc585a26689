"""Indexed storage in LMDB: current revisions, history, indexes and the catalog.

Everything here is derived from the journal and can be rebuilt from it. One LMDB write
transaction applies whole journal blocks and records the last one applied (``height``),
so storage always sits exactly at a block boundary; a database opening storage that is
behind the journal replays the missing blocks.

Sub-databases (ids are alphanumeric, so NUL separates key parts unambiguously):

- ``meta``: ``height`` (u64+1 of the last applied block, 0 when none), ``schema`` (the
  block of the last DDL), ``strand`` (the journal's strand id);
- ``docs``: table id NUL document id → the current revision (live documents only); the
  catalog's documents live here too, under the catalog table's id;
- ``history``: table id NUL document id NUL u32be version → every revision;
- ``index``: index id NUL SHA-256(index key) ‖ document id → empty.

Revisions are stored as ``revisions.encode_stored`` (block number, hash, entry body).

Durability: LMDB runs without fsync (``sync=False``); the journal is the durable truth.
A process crash loses nothing LMDB wrote (it sits in the page cache), but an operating
system crash could leave unsynced pages. So a marker file holding the boot id is written
(and fsynced) before the first unsynced write and removed after a clean close's sync: a
marker from another boot means the machine went down with unsynced pages, and storage
is thrown away and rebuilt from the journal.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import struct
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from decimal import Decimal
from enum import IntEnum
from pathlib import Path
from typing import Any

import lmdb

from ledgerdb.errors import LedgerUnavailable, StorageFailure
from ledgerdb.partiql.catalog import indexed_value
from ledgerdb.partiql.values import MISSING, index_key
from ledgerdb.revisions import BlockWrites, StoredRevision, encode_stored, load
from ledgerdb.schema import CATALOG_TABLE_ID, Schema, TableInfo

MAP_SIZE = 1 << 38  # address space only; the file grows as it fills
MAX_READERS = 4096  # every open transaction holds one read snapshot
DIRTY_MARKER = "unsynced"
_SEP = b"\x00"
_U64 = struct.Struct(">Q")
_U32 = struct.Struct(">I")


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


# ---- keys ----------------------------------------------------------------------------------


def document_key(table_id: str, document_id: str) -> bytes:
    return f"{table_id}\0{document_id}".encode()


def history_key(table_id: str, document_id: str, version: int) -> bytes:
    return document_key(table_id, document_id) + _SEP + _U32.pack(version)


def _canonical(key: Any) -> bytes:
    """Deterministic bytes for a ``values.index_key`` (equal keys give equal bytes)."""
    if isinstance(key, IntEnum):
        return b"K%d" % int(key)
    if isinstance(key, tuple):
        return b"(" + b",".join(_canonical(part) for part in key) + b")"
    if isinstance(key, bool):
        return b"b1" if key else b"b0"
    if isinstance(key, Decimal):
        return b"D" + (b"0" if key.is_zero() else str(key).encode())
    if isinstance(key, str):
        data = key.encode("utf-8", "surrogatepass")
        return b"S%d:" % len(data) + data
    if isinstance(key, bytes):
        return b"B%d:" % len(key) + key
    if isinstance(key, datetime):
        return b"T" + key.isoformat().encode()
    return b"R" + repr(key).encode()


def value_hash(value: Any) -> bytes:
    """The index key of a value: equal values (PartiQL equality) share it."""
    return hashlib.sha256(_canonical(index_key(value))).digest()


def index_prefix(index_id: str, key_hash: bytes) -> bytes:
    return index_id.encode() + _SEP + key_hash


class Snapshot:
    """A consistent read view of storage at one block (an LMDB read transaction).

    Usable from any thread, one at a time (py-lmdb opens environments with MDB_NOTLS).
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self.txn = storage.env.begin(write=False, buffers=False)
        meta = storage.meta
        raw = self.txn.get(b"height", db=meta)
        self.height = (_U64.unpack(raw)[0] if raw else 0) - 1
        self.schema = storage.schema_at(self.txn)

    def document(self, table_id: str, document_id: str) -> StoredRevision | None:
        raw = self.txn.get(document_key(table_id, document_id), db=self._storage.docs)
        return None if raw is None else StoredRevision(raw)

    def documents(self, table_id: str) -> Iterator[tuple[str, StoredRevision]]:
        prefix = table_id.encode() + _SEP
        for key, raw in _prefixed(self.txn, self._storage.docs, prefix):
            yield key[len(prefix) :].decode(), StoredRevision(raw)

    def lookup(self, index_id: str, key_hash: bytes) -> Iterator[str]:
        """Document ids whose indexed value has this key hash."""
        prefix = index_prefix(index_id, key_hash)
        for key, _ in _prefixed(self.txn, self._storage.index, prefix):
            yield key[len(prefix) :].decode()

    def history(self, table_id: str, document_id: str | None = None) -> Iterator[StoredRevision]:
        prefix = table_id.encode() + _SEP
        if document_id is not None:
            prefix = document_key(table_id, document_id) + _SEP
        for _, raw in _prefixed(self.txn, self._storage.history, prefix):
            yield StoredRevision(raw)

    def close(self) -> None:
        with contextlib.suppress(lmdb.Error):
            self.txn.abort()


def _prefixed(txn: lmdb.Transaction, db: Any, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
    cursor = txn.cursor(db=db)
    if not cursor.set_range(prefix):
        return
    for key, raw in cursor:
        if not key.startswith(prefix):
            return
        yield key, raw


class Storage:
    """The LMDB environment of one database (``<database>/index``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._boot = _boot_id()
        if self._boot is not None:
            self._discard_after_system_crash()
        try:
            path.mkdir(parents=True, exist_ok=True)
            self.env = lmdb.open(
                str(path),
                map_size=MAP_SIZE,
                max_dbs=8,
                max_readers=MAX_READERS,
                sync=self._boot is None,
                metasync=False,
            )
        except (OSError, lmdb.Error) as exc:
            raise LedgerUnavailable(f"cannot open indexed storage in {path}: {exc}") from None
        self.meta = self.env.open_db(b"meta")
        self.docs = self.env.open_db(b"docs")
        self.history = self.env.open_db(b"history")
        self.index = self.env.open_db(b"index")
        self._schema_lock = threading.Lock()
        with self.env.begin() as txn:
            self._schema = self._load_schema(txn)
        self._strand = self.strand_id
        self._marked = False

    def _discard_after_system_crash(self) -> None:
        marker = self.path / DIRTY_MARKER
        try:
            written = marker.read_text()
        except OSError:
            return
        if written != self._boot:
            shutil.rmtree(self.path)

    def _mark_unsynced(self) -> None:
        """Before the first unsynced write: note the boot it belongs to, durably."""
        if self._marked or self._boot is None:
            return
        marker = self.path / DIRTY_MARKER
        with open(marker, "w") as handle:
            handle.write(self._boot)
            handle.flush()
            os.fsync(handle.fileno())
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._marked = True

    # ---- reading -------------------------------------------------------------------------

    @property
    def height(self) -> int:
        """The last block applied (-1: none)."""
        with self.env.begin() as txn:
            raw = txn.get(b"height", db=self.meta)
        return (_U64.unpack(raw)[0] if raw else 0) - 1

    @property
    def strand_id(self) -> str | None:
        with self.env.begin() as txn:
            raw = txn.get(b"strand", db=self.meta)
        return None if raw is None else raw.decode()

    @property
    def schema(self) -> Schema:
        return self._schema

    def snapshot(self) -> Snapshot:
        return Snapshot(self)

    def schema_at(self, txn: lmdb.Transaction) -> Schema:
        """The catalog as ``txn`` sees it (the cached one unless DDL happened since)."""
        raw = txn.get(b"schema", db=self.meta)
        version = (_U64.unpack(raw)[0] if raw else 0) - 1
        cached = self._schema
        if cached.version == version:
            return cached
        return self._load_schema(txn)

    def _load_schema(self, txn: lmdb.Transaction) -> Schema:
        raw = txn.get(b"schema", db=self.meta)
        version = (_U64.unpack(raw)[0] if raw else 0) - 1
        tables = {}
        for _, raw in _prefixed(txn, self.docs, CATALOG_TABLE_ID.encode() + _SEP):
            table = _table_info(StoredRevision(raw).value)
            tables[table.table_id] = table
        return Schema(tables, version)

    # ---- writing -------------------------------------------------------------------------

    def apply(self, blocks: Sequence[BlockWrites], strand_id: str) -> None:
        """Apply whole blocks, in order, in one LMDB transaction."""
        if not blocks:
            return
        self._mark_unsynced()
        schema = self._schema
        try:
            with self.env.begin(write=True) as txn:
                for block in blocks:
                    schema = self._apply_block(txn, block, schema)
                txn.put(b"height", _U64.pack(blocks[-1].sequence_no + 1), db=self.meta)
                if strand_id != self._strand:  # once, not in every transaction
                    txn.put(b"strand", strand_id.encode(), db=self.meta)
        except lmdb.Error as exc:
            raise StorageFailure(f"indexed storage {self.path}: {exc}") from None
        self._schema = schema
        self._strand = strand_id

    def redact(self, table_id: str, document_id: str, version: int, stored: bytes) -> None:
        """Replace one history revision by its redacted form (never the current one)."""
        self._mark_unsynced()
        try:
            with self.env.begin(write=True) as txn:
                txn.put(history_key(table_id, document_id, version), stored, db=self.history)
        except lmdb.Error as exc:
            raise StorageFailure(f"indexed storage {self.path}: {exc}") from None

    def _apply_block(self, txn: lmdb.Transaction, block: BlockWrites, schema: Schema) -> Schema:
        for revision in block.revisions:
            if revision.table_id == CATALOG_TABLE_ID:
                value = load(revision.body)
                table = _table_info(value)
                self._apply_indexes(txn, table, schema.tables.get(table.table_id))
                schema = Schema(schema.replace(table).tables, block.sequence_no)
                txn.put(b"schema", _U64.pack(block.sequence_no + 1), db=self.meta)
            table = schema.tables.get(revision.table_id)
            indexes = table.index_paths() if table is not None else {}
            key = document_key(revision.table_id, revision.document_id)
            if indexes and revision.version:  # version 0 is a new document: no old keys
                old = txn.get(key, db=self.docs)
                if old is not None:
                    self._unindex(txn, indexes, revision.document_id, StoredRevision(old).data)
            stored = encode_stored(block.sequence_no, revision.hash, revision.body)
            if revision.data is None:
                txn.delete(key, db=self.docs)
            else:
                txn.put(key, stored, db=self.docs)
                self._index(txn, indexes, revision.document_id, revision.data)
            history = history_key(revision.table_id, revision.document_id, revision.version)
            txn.put(history, stored, db=self.history)
        return schema

    def _apply_indexes(
        self, txn: lmdb.Transaction, table: TableInfo, old: TableInfo | None
    ) -> None:
        """Drop the entries of removed indexes; index existing documents for new ones."""
        before = old.index_paths() if old is not None else {}
        after = table.index_paths()
        for index_id in before.keys() - after.keys():
            prefix = index_id.encode() + _SEP
            cursor = txn.cursor(db=self.index)
            while cursor.set_range(prefix) and cursor.key().startswith(prefix):
                cursor.delete()
        added = {i: p for i, p in after.items() if i not in before}
        if added:
            prefix = table.table_id.encode() + _SEP
            for key, raw in _prefixed(txn, self.docs, prefix):
                document_id = key[len(prefix) :].decode()
                self._index(txn, added, document_id, StoredRevision(raw).data)

    def _index(
        self, txn: lmdb.Transaction, indexes: dict[str, tuple[str, ...]], doc_id: str, data: Any
    ) -> None:
        for key in _index_keys(indexes, doc_id, data):
            txn.put(key, b"", db=self.index)

    def _unindex(
        self, txn: lmdb.Transaction, indexes: dict[str, tuple[str, ...]], doc_id: str, data: Any
    ) -> None:
        for key in _index_keys(indexes, doc_id, data):
            txn.delete(key, db=self.index)

    # ---- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Sync everything LMDB wrote, then drop the unsynced marker."""
        try:
            self.env.sync(True)
            (self.path / DIRTY_MARKER).unlink(missing_ok=True)
        finally:
            self.env.close()

    @staticmethod
    def destroy(path: Path) -> None:
        shutil.rmtree(path, ignore_errors=True)


def _table_info(value: Any) -> TableInfo:
    """A catalog revision ({metadata, data}) as the table it describes."""
    return TableInfo.from_document(value["data"], int(value["metadata"]["version"]))


def _index_keys(
    indexes: dict[str, tuple[str, ...]], document_id: str, data: Any
) -> Iterator[bytes]:
    """The index entries of one document: one per index whose path it has a value at."""
    suffix = document_id.encode()
    for index_id, path in indexes.items():
        value = indexed_value(data, path)
        if value is not MISSING:
            yield index_prefix(index_id, value_hash(value)) + suffix
