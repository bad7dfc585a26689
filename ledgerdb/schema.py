"""The catalog: which tables exist (active or dropped) and their indexes.

The catalog is data like any other: each table is a document of the system table
``information_schema.user_tables`` (fixed id ``CATALOG_TABLE_ID``), and every DDL
statement writes a revision of it into the transaction's journal block, so the catalog
can be rebuilt from the journal alone. A ``Schema`` is one immutable version of the whole
catalog; a transaction works on its snapshot's schema plus its own DDL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ledgerdb.partiql import changes as ch
from ledgerdb.partiql.values import text

CATALOG_TABLE = "information_schema.user_tables"
CATALOG_TABLE_ID = "informationSchemaTable"  # 22 alphanumeric characters, like every id
ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
ONLINE = "ONLINE"


@dataclass(frozen=True)
class IndexInfo:
    index_id: str
    path: tuple[str, ...]
    status: str = ONLINE

    @property
    def expr(self) -> str:
        """QLDB's way of showing an index's field: ``[VIN]``."""
        return "[" + ".".join(self.path) + "]"


@dataclass(frozen=True)
class TableInfo:
    table_id: str
    name: str
    status: str = ACTIVE
    indexes: tuple[IndexInfo, ...] = ()
    version: int = -1  # of its committed catalog revision (-1: not committed yet)

    @property
    def active(self) -> bool:
        return self.status == ACTIVE

    def index_paths(self) -> dict[str, tuple[str, ...]]:
        return {index.index_id: index.path for index in self.indexes}

    def view_row(self) -> dict[str, Any]:
        """The table's row in ``information_schema.user_tables`` (QLDB's columns)."""
        return {
            "name": self.name,
            "tableId": self.table_id,
            "status": self.status,
            "indexes": [
                {"indexId": i.index_id, "expr": i.expr, "status": i.status} for i in self.indexes
            ],
        }

    def document(self) -> dict[str, Any]:
        """The catalog document written to the journal: the view row plus index paths."""
        row = self.view_row()
        for shown, index in zip(row["indexes"], self.indexes, strict=True):
            shown["path"] = list(index.path)
        return row

    @classmethod
    def from_document(cls, document: Any, version: int) -> TableInfo:
        indexes = tuple(
            IndexInfo(
                text(index["indexId"]),
                tuple(text(step) for step in index["path"]),
                text(index["status"]),
            )
            for index in document["indexes"]
        )
        return cls(
            text(document["tableId"]),
            text(document["name"]),
            text(document["status"]),
            indexes,
            version,
        )


@dataclass(frozen=True)
class Schema:
    """Every table by id, as of journal block ``version`` (-1: no DDL yet)."""

    tables: Mapping[str, TableInfo] = field(default_factory=dict)
    version: int = -1
    _by_name: dict[str, TableInfo] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_name.update({t.name: t for t in self.tables.values() if t.active})

    def active(self, name: str) -> TableInfo | None:
        return self._by_name.get(name)

    def find(self, name_or_id: str) -> TableInfo | None:
        """An active table by name, else any table (dropped ones too) by id."""
        return self._by_name.get(name_or_id) or self.tables.get(name_or_id)

    @property
    def active_count(self) -> int:
        return len(self._by_name)

    def replace(self, table: TableInfo) -> Schema:
        return Schema({**self.tables, table.table_id: table}, self.version)


def apply_ddl(schema: Schema, change: ch.Change) -> TableInfo:
    """The table's new catalog entry after a DDL change the evaluator produced."""
    if isinstance(change, ch.CreateTable):
        return TableInfo(change.table_id, change.table)
    table = schema.tables[change.table_id]
    if isinstance(change, ch.DropTable):
        return replace(table, status=INACTIVE)
    if isinstance(change, ch.UndropTable):
        return replace(table, status=ACTIVE)
    if isinstance(change, ch.CreateIndex):
        return replace(table, indexes=(*table.indexes, IndexInfo(change.index_id, change.path)))
    if isinstance(change, ch.DropIndex):
        kept = tuple(i for i in table.indexes if i.index_id != change.index_id)
        return replace(table, indexes=kept)
    raise TypeError(f"not a DDL change: {change!r}")


DDL_CHANGES = (ch.CreateTable, ch.DropTable, ch.UndropTable, ch.CreateIndex, ch.DropIndex)
