"""The planner boundary: how the evaluator reads tables, and an in-memory implementation.

The database implements ``Catalog`` and ``TableSource`` over LMDB; it can record every
``scan``/``lookup``/``get`` as the transaction's read set for OCC. ``MemoryCatalog`` is
the reference implementation used by the tests (and by anyone embedding PartiQL over
plain Python data).
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ledgerdb.partiql import changes as ch
from ledgerdb.partiql.values import MISSING, Kind, index_key, kind, plain, struct_get

ID_ALPHABET = string.ascii_letters + string.digits
ID_LENGTH = 22


def new_id() -> str:
    """A QLDB-style id: 22 base62 characters (about 131 random bits)."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))


@dataclass(frozen=True)
class Row:
    """One document as a table yields it: its id and its data (the user view)."""

    document_id: str
    data: Any


class TableSource(Protocol):
    """A table (or a view of one: committed view, history) the evaluator can read."""

    @property
    def name(self) -> str: ...

    @property
    def table_id(self) -> str: ...

    def indexes(self) -> Mapping[str, tuple[str, ...]]:
        """Index id → indexed path (field names from the document root)."""
        ...

    def scan(self) -> Iterator[Row]:
        """Every row: the full scan the planner avoids when it can."""
        ...

    def lookup(self, path: tuple[str, ...], values: Sequence[Any]) -> Iterator[Row]:
        """Rows whose value at ``path`` equals one of ``values`` (PartiQL equality).

        Only called for a path in ``indexes()``; must not scan.
        """
        ...

    def get(self, document_id: str) -> Row | None:
        """The row with this document id, if any."""
        ...


class Catalog(Protocol):
    """The tables a statement can name."""

    def table(self, name: str) -> TableSource | None:
        """An active table (or a system view such as ``information_schema.user_tables``)."""
        ...

    def history(self, name_or_id: str, start: Any, end: Any) -> TableSource | None:
        """The revisions of a table in [start, end] (None: unbounded), by name or table id."""
        ...

    def dropped_table(self, table_id: str) -> str | None:
        """The name of a dropped (inactive) table with this id, for UNDROP."""
        ...

    def new_id(self) -> str:
        """A fresh document, table or index id."""
        ...


def indexed_value(data: Any, path: tuple[str, ...]) -> Any:
    """The value a document holds at an indexed path (MISSING if absent)."""
    value = data
    for name in path:
        if kind(value) is not Kind.STRUCT:
            return MISSING
        value = struct_get(value, name)
    return value


@dataclass
class MemoryTable:
    """A table held in dicts, with hash indexes keyed by ``values.index_key``."""

    name: str
    table_id: str
    documents: dict[str, Any] = field(default_factory=dict)
    index_paths: dict[str, tuple[str, ...]] = field(default_factory=dict)
    _index: dict[tuple[str, ...], dict[Any, set[str]]] = field(default_factory=dict)
    scans: int = 0

    def indexes(self) -> Mapping[str, tuple[str, ...]]:
        return dict(self.index_paths)

    def scan(self) -> Iterator[Row]:
        self.scans += 1
        for document_id, data in list(self.documents.items()):
            yield Row(document_id, data)

    def lookup(self, path: tuple[str, ...], values: Sequence[Any]) -> Iterator[Row]:
        entries = self._index[path]
        seen: set[str] = set()
        for value in values:
            for document_id in sorted(entries.get(index_key(value), ())):
                if document_id not in seen:
                    seen.add(document_id)
                    yield Row(document_id, self.documents[document_id])

    def get(self, document_id: str) -> Row | None:
        data = self.documents.get(document_id)
        return None if data is None else Row(document_id, data)

    def put(self, document_id: str, data: Any) -> None:
        self.remove(document_id)
        self.documents[document_id] = data
        for path, entries in self._index.items():
            self._add(entries, path, document_id, data)

    def remove(self, document_id: str) -> None:
        old = self.documents.pop(document_id, None)
        if old is None:
            return
        for path, entries in self._index.items():
            value = indexed_value(old, path)
            if value is not MISSING:
                entries.get(index_key(value), set()).discard(document_id)

    def add_index(self, index_id: str, path: tuple[str, ...]) -> None:
        self.index_paths[index_id] = path
        entries: dict[Any, set[str]] = {}
        for document_id, data in self.documents.items():
            self._add(entries, path, document_id, data)
        self._index[path] = entries

    def drop_index(self, index_id: str) -> None:
        path = self.index_paths.pop(index_id)
        if path not in self.index_paths.values():
            del self._index[path]

    @staticmethod
    def _add(entries: dict[Any, set[str]], path: tuple[str, ...], doc_id: str, data: Any) -> None:
        value = indexed_value(data, path)
        if value is not MISSING:
            entries.setdefault(index_key(value), set()).add(doc_id)


@dataclass
class MemoryCatalog:
    """Tables in memory; ``apply`` plays a statement's changes as the database would."""

    tables: dict[str, MemoryTable] = field(default_factory=dict)
    dropped: dict[str, MemoryTable] = field(default_factory=dict)

    def table(self, name: str) -> MemoryTable | None:
        return self.tables.get(name)

    def history(self, name_or_id: str, start: Any, end: Any) -> TableSource | None:
        return None  # revisions are the database's; the in-memory catalog keeps none

    def dropped_table(self, table_id: str) -> str | None:
        table = self.dropped.get(table_id)
        return None if table is None else table.name

    def new_id(self) -> str:
        return new_id()

    def create(
        self, name: str, documents: Iterable[Any] = (), indexes: Iterable[str] = ()
    ) -> MemoryTable:
        """A table with documents and top-level indexes, for tests and embedding."""
        table = MemoryTable(name, new_id())
        self.tables[name] = table
        for field_name in indexes:
            table.add_index(new_id(), (field_name,))
        for document in documents:
            table.put(new_id(), document)
        return table

    def apply(self, changes: Iterable[ch.Change]) -> None:
        for change in changes:
            self._apply(change)

    def _apply(self, change: ch.Change) -> None:
        if isinstance(change, ch.InsertDocument | ch.UpdateDocument):
            self.tables[change.table].put(change.document_id, plain(change.document))
        elif isinstance(change, ch.DeleteDocument):
            self.tables[change.table].remove(change.document_id)
        elif isinstance(change, ch.CreateTable):
            self.tables[change.table] = MemoryTable(change.table, change.table_id)
        elif isinstance(change, ch.DropTable):
            self.dropped[change.table_id] = self.tables.pop(change.table)
        elif isinstance(change, ch.UndropTable):
            self.tables[change.table] = self.dropped.pop(change.table_id)
        elif isinstance(change, ch.CreateIndex):
            self.tables[change.table].add_index(change.index_id, change.path)
        elif isinstance(change, ch.DropIndex):
            self.tables[change.table].drop_index(change.index_id)
