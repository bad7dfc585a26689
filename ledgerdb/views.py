"""What a transaction's statements read: QLDB's views over its workspace.

``TransactionCatalog`` is the PartiQL ``Catalog`` of one transaction. It resolves

- ``t`` — the user view: each live document's data, with the transaction's own
  uncommitted writes shown (read your writes);
- ``_ql_committed_t`` — the committed view: ``{blockAddress, hash, data, metadata}`` of
  each live document as committed (the transaction's own writes have no block yet);
- ``history(t [, start, end])`` — every committed revision, by table name or table id,
  ``txTime`` within [start, end];
- ``information_schema.user_tables`` — the catalog.

Every read is recorded in the workspace's read set (see ``ledgerdb.occ``) and counted
as read I/O (documents read, QLDB's ``ReadIOs``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ledgerdb import occ
from ledgerdb.block import new_id
from ledgerdb.partiql.catalog import Row, indexed_value
from ledgerdb.partiql.errors import PartiQLTypeError
from ledgerdb.partiql.values import MISSING, Kind, compare, is_unknown, kind, text
from ledgerdb.revisions import StoredRevision
from ledgerdb.schema import CATALOG_TABLE, CATALOG_TABLE_ID, TableInfo
from ledgerdb.storage import value_hash
from ledgerdb.workspace import Workspace

COMMITTED_PREFIX = "_ql_committed_"
DOCUMENT_ID_PATH = ("metadata", "id")
DOCUMENT_ID_INDEX = "metadata.id"


def _document_ids(values: Sequence[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        if kind(value) is Kind.TEXT:
            seen[text(value)] = None
    return list(seen)


class UserTable:
    """The user view of one table: current data, this transaction's writes included."""

    def __init__(self, workspace: Workspace, table: TableInfo) -> None:
        self._ws = workspace
        self._table = table

    @property
    def name(self) -> str:
        return self._table.name

    @property
    def table_id(self) -> str:
        return self._table.table_id

    def indexes(self) -> Mapping[str, tuple[str, ...]]:
        return self._table.index_paths()

    def _stored_rows(self, stored: Iterator[tuple[str, StoredRevision]]) -> Iterator[Row]:
        pending = self._ws.pending(self.table_id)
        for document_id, revision in stored:
            if document_id in pending:
                continue
            self._ws.read_ios += 1
            yield Row(document_id, revision.data)

    def _pending_rows(self) -> Iterator[Row]:
        for document_id, doc in list(self._ws.pending(self.table_id).items()):
            if doc.data is not None:
                yield Row(document_id, doc.data)

    def scan(self) -> Iterator[Row]:
        self._ws.reads.add(occ.table(self.table_id))
        yield from self._stored_rows(self._ws.snapshot.documents(self.table_id))
        yield from self._pending_rows()

    def lookup(self, path: tuple[str, ...], values: Sequence[Any]) -> Iterator[Row]:
        index_id = next(i for i, p in self.indexes().items() if p == path)
        hashes = list(dict.fromkeys(value_hash(v) for v in values))
        committed = self._ws.snapshot.schema.tables.get(self.table_id)
        if committed is None or index_id not in committed.index_paths():
            # An index created by this transaction has no entries yet: filter a scan.
            yield from (r for r in self.scan() if _value_hash_at(r.data, path) in hashes)
            return
        reads, snapshot = self._ws.reads, self._ws.snapshot
        seen: set[str] = set()
        for key_hash in hashes:
            reads.add(occ.index_key(index_id, key_hash))
            ids = [i for i in snapshot.lookup(index_id, key_hash) if i not in seen]
            seen.update(ids)
            found = ((i, snapshot.document(self.table_id, i)) for i in ids)
            yield from self._stored_rows((i, r) for i, r in found if r is not None)
        for row in self._pending_rows():
            if _value_hash_at(row.data, path) in hashes:
                yield row

    def get(self, document_id: str) -> Row | None:
        self._ws.reads.add(occ.document(self.table_id, document_id))
        pending = self._ws.pending(self.table_id).get(document_id)
        if pending is not None:
            return None if pending.data is None else Row(document_id, pending.data)
        stored = self._ws.snapshot.document(self.table_id, document_id)
        if stored is None:
            return None
        self._ws.read_ios += 1
        return Row(document_id, stored.data)


def _value_hash_at(data: Any, path: tuple[str, ...]) -> bytes | None:
    value = indexed_value(data, path)
    return None if value is MISSING else value_hash(value)


class CommittedTable:
    """``_ql_committed_t``: committed rows with their block address, hash and metadata."""

    def __init__(self, workspace: Workspace, table: TableInfo, strand_id: str) -> None:
        self._ws = workspace
        self._table = table
        self._strand = strand_id

    @property
    def name(self) -> str:
        return COMMITTED_PREFIX + self._table.name

    @property
    def table_id(self) -> str:
        return self._table.table_id

    def indexes(self) -> Mapping[str, tuple[str, ...]]:
        committed = self._ws.snapshot.schema.tables.get(self.table_id)
        paths = committed.index_paths() if committed is not None else {}
        return {DOCUMENT_ID_INDEX: DOCUMENT_ID_PATH} | {
            index_id: ("data", *path) for index_id, path in paths.items()
        }

    def _row(self, document_id: str, stored: StoredRevision) -> Row:
        self._ws.read_ios += 1
        return Row(document_id, stored.committed_row(self._strand))

    def scan(self) -> Iterator[Row]:
        self._ws.reads.add(occ.table(self.table_id))
        for document_id, stored in self._ws.snapshot.documents(self.table_id):
            yield self._row(document_id, stored)

    def lookup(self, path: tuple[str, ...], values: Sequence[Any]) -> Iterator[Row]:
        if path == DOCUMENT_ID_PATH:
            for document_id in _document_ids(values):
                row = self.get(document_id)
                if row is not None:
                    yield row
            return
        index_id = next(i for i, p in self.indexes().items() if p == path)
        snapshot, seen = self._ws.snapshot, set()
        for key_hash in dict.fromkeys(value_hash(v) for v in values):
            self._ws.reads.add(occ.index_key(index_id, key_hash))
            for document_id in snapshot.lookup(index_id, key_hash):
                stored = snapshot.document(self.table_id, document_id)
                if stored is not None and document_id not in seen:
                    seen.add(document_id)
                    yield self._row(document_id, stored)

    def get(self, document_id: str) -> Row | None:
        self._ws.reads.add(occ.document(self.table_id, document_id))
        stored = self._ws.snapshot.document(self.table_id, document_id)
        return None if stored is None else self._row(document_id, stored)


class HistoryTable:
    """``history(t, start, end)``: every committed revision with ``txTime`` in range."""

    def __init__(
        self, workspace: Workspace, table: TableInfo, strand_id: str, start: Any, end: Any
    ) -> None:
        self._ws = workspace
        self._table = table
        self._strand = strand_id
        self._start = _bound("start", start)
        self._end = _bound("end", end)

    @property
    def name(self) -> str:
        return f"history({self._table.name})"

    @property
    def table_id(self) -> str:
        return self._table.table_id

    def indexes(self) -> Mapping[str, tuple[str, ...]]:
        return {DOCUMENT_ID_INDEX: DOCUMENT_ID_PATH}

    def _rows(self, revisions: Iterator[StoredRevision]) -> Iterator[Row]:
        for stored in revisions:
            row = stored.committed_row(self._strand)
            moment = row["metadata"]["txTime"]
            if self._start is not None and compare(moment, self._start) == -1:
                continue
            if self._end is not None and compare(moment, self._end) == 1:
                continue
            self._ws.read_ios += 1
            yield Row(text(row["metadata"]["id"]), row)

    def scan(self) -> Iterator[Row]:
        self._ws.reads.add(occ.table(self.table_id))
        yield from self._rows(self._ws.snapshot.history(self.table_id))

    def lookup(self, path: tuple[str, ...], values: Sequence[Any]) -> Iterator[Row]:
        for document_id in _document_ids(values):
            self._ws.reads.add(occ.document(self.table_id, document_id))
            yield from self._rows(self._ws.snapshot.history(self.table_id, document_id))

    def get(self, document_id: str) -> Row | None:
        return None  # a document has many revisions here; BY id is not meaningful


def _bound(name: str, value: Any) -> Any:
    if value is None or is_unknown(value):
        return None
    if kind(value) is not Kind.TIMESTAMP:
        raise PartiQLTypeError("history", f"{name} must be a timestamp, got {value!r}")
    return value


class UserTablesView:
    """``information_schema.user_tables``: every table, active or not, and its indexes."""

    name = CATALOG_TABLE
    table_id = CATALOG_TABLE_ID

    def __init__(self, workspace: Workspace) -> None:
        self._ws = workspace

    def indexes(self) -> Mapping[str, tuple[str, ...]]:
        return {}

    def scan(self) -> Iterator[Row]:
        self._ws.reads.add(occ.ALL_TABLES)
        for table in list(self._ws.schema.tables.values()):
            yield Row(table.table_id, table.view_row())

    def lookup(self, path: tuple[str, ...], values: Sequence[Any]) -> Iterator[Row]:
        return iter(())  # no indexes, so the planner never asks

    def get(self, document_id: str) -> Row | None:
        self._ws.reads.add(occ.ALL_TABLES)
        table = self._ws.schema.tables.get(document_id)
        return None if table is None else Row(table.table_id, table.view_row())


class TransactionCatalog:
    """The PartiQL catalog of one transaction."""

    def __init__(self, workspace: Workspace, strand_id: str) -> None:
        self._ws = workspace
        self._strand = strand_id

    def table(self, name: str) -> Any:
        if name == CATALOG_TABLE:
            return UserTablesView(self._ws)
        committed = name.startswith(COMMITTED_PREFIX)
        base = name[len(COMMITTED_PREFIX) :] if committed else name
        self._ws.reads.add(occ.catalog_name(base))
        table = self._ws.schema.active(base)
        if table is None:
            return None
        if committed:
            return CommittedTable(self._ws, table, self._strand)
        return UserTable(self._ws, table)

    def history(self, name_or_id: str, start: Any, end: Any) -> Any:
        self._ws.reads.add(occ.catalog_name(name_or_id))
        table = self._ws.schema.active(name_or_id)
        if table is None:
            self._ws.reads.add(occ.ALL_TABLES)
            table = self._ws.schema.tables.get(name_or_id)
        if table is None:
            return None
        return HistoryTable(self._ws, table, self._strand, start, end)

    def dropped_table(self, table_id: str) -> str | None:
        self._ws.reads.add(occ.ALL_TABLES)
        table = self._ws.schema.tables.get(table_id)
        return None if table is None or table.active else table.name

    def new_id(self) -> str:
        return new_id()
