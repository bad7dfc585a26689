"""Optimistic concurrency control: what a transaction read, and what changed since.

A transaction reads from a storage snapshot taken at block ``S`` and records a read set
of keys:

- ``("d", table id, document id)`` — a document it got by id;
- ``("k", index id, key hash)`` — an index lookup (catches a new document with that key);
- ``("t", table id)`` — a full scan of a table, or of its history (catches any change);
- ``("c", table name)`` / ``("c", "*")`` — the catalog entry a name resolved to (or did
  not), or the whole catalog (table counts, ``information_schema``).

A committing transaction marks the same kinds of keys with the block it will be written
in, before it goes to the journal. At commit, a transaction whose read set holds a key
marked after ``S`` conflicts: something it read may have changed, so it raises
``OccConflict`` and writes nothing. That is backward validation, so committed
transactions are serializable in block order.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable

ReadKey = Hashable
ALL_TABLES = ("c", "*")


def document(table_id: str, document_id: str) -> ReadKey:
    return ("d", table_id, document_id)


def index_key(index_id: str, key_hash: bytes) -> ReadKey:
    return ("k", index_id, key_hash)


def table(table_id: str) -> ReadKey:
    return ("t", table_id)


def catalog_name(name: str) -> ReadKey:
    return ("c", name)


class ConflictTracker:
    """For every key written recently, the block that wrote it (not thread-safe: the
    database calls it under its commit lock)."""

    PRUNE_AT = 200_000

    def __init__(self) -> None:
        self._written: dict[ReadKey, int] = {}

    def conflict(self, reads: Iterable[ReadKey], snapshot: int) -> ReadKey | None:
        """The first key read at ``snapshot`` that a later block has written, if any."""
        written = self._written
        if not written:
            return None
        for key in reads:
            block = written.get(key)
            if block is not None and block > snapshot:
                return key
        return None

    def record(self, keys: Iterable[ReadKey], sequence_no: int) -> None:
        written = self._written
        for key in keys:
            written[key] = sequence_no

    def prune(self, horizon: int) -> None:
        """Forget writes no open transaction can conflict with (at or before ``horizon``,
        the oldest snapshot still open)."""
        self._written = {k: v for k, v in self._written.items() if v > horizon}

    def __len__(self) -> int:
        return len(self._written)
