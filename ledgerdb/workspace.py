"""A transaction's private state: its snapshot, its uncommitted writes, its read set.

Statements add their changes here only when they succeed, and only if the transaction
stays within QLDB's limits; a failing statement leaves the workspace as it was. At
commit the workspace turns into the journal block's contents (``build``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledgerdb import limits, occ
from ledgerdb.block import Revision, Transaction, ion_bytes, prepare
from ledgerdb.errors import InvalidInput
from ledgerdb.hashing import dot
from ledgerdb.ionhash import ion_hash, plain_ion_hash
from ledgerdb.partiql import changes as ch
from ledgerdb.partiql.catalog import indexed_value
from ledgerdb.partiql.values import MISSING
from ledgerdb.revisions import (
    RevisionWrite,
    metadata,
    tx_time,
)
from ledgerdb.schema import CATALOG_TABLE, CATALOG_TABLE_ID, DDL_CHANGES, TableInfo, apply_ddl
from ledgerdb.storage import Snapshot, value_hash


@dataclass
class PendingDocument:
    """A document this transaction wrote: its final data (None: deleted)."""

    table_id: str
    document_id: str
    data: Any
    base_version: int | None  # the committed version it replaces; None: inserted here
    base_data: Any  # the committed data (for its old index keys)
    size: int
    statements: list[int] = field(default_factory=list)
    data_hash: bytes | None = None  # IonHash of data, when known already


@dataclass(frozen=True)
class PreparedCommit:
    """A workspace turned into a journal block's contents."""

    block: Transaction  # the journal block's contents, hashed (``block.prepare``)
    revisions: tuple[RevisionWrite, ...]
    write_keys: list[occ.ReadKey]


def statement_digest(statement: str, parameters: Sequence[Any]) -> bytes:
    """QLDB's statement hash: IonHash of the text, dotted with each parameter's IonHash."""
    return _digest(statement, [plain_ion_hash(parameter) for parameter in parameters], parameters)


def _digest(statement: str, plain: Sequence[bytes | None], parameters: Sequence[Any]) -> bytes:
    """``statement_digest`` given the parameters' plain hashes (None: not plain)."""
    digest = _text_hash(statement)
    for hashed, parameter in zip(plain, parameters, strict=True):
        digest = dot(digest, hashed or ion_hash(parameter))
    return digest


@functools.lru_cache(maxsize=1024)
def _text_hash(statement: str) -> bytes:
    """A statement's own IonHash: the same parameterised texts come again and again."""
    return ion_hash(statement)


class Workspace:
    def __init__(
        self, snapshot: Snapshot, max_documents: int = limits.DOCUMENTS_PER_TRANSACTION
    ) -> None:
        self.snapshot = snapshot
        self.max_documents = max_documents
        self.schema = snapshot.schema
        self.tables: dict[str, TableInfo] = {}  # table id → entry changed by DDL here
        self.table_statements: dict[str, list[int]] = {}
        self.documents: dict[str, dict[str, PendingDocument]] = {}  # table id → id → doc
        self.reads: set[occ.ReadKey] = set()
        self.read_ios = 0
        self.statements: list[dict[str, Any]] = []
        self.redactions: list[Any] = []  # redaction.RedactionRequest, carried out at commit
        self.size = 0
        self.modified = 0

    @property
    def height(self) -> int:
        return self.snapshot.height

    @property
    def has_writes(self) -> bool:
        return bool(self.tables) or self.modified > 0

    def pending(self, table_id: str) -> dict[str, PendingDocument]:
        return self.documents.get(table_id, {})

    # ---- statements ----------------------------------------------------------------------

    def add_statement(
        self, statement: str, parameters: Sequence[Any], changes: Sequence[ch.Change], at: datetime
    ) -> None:
        """Record a successful statement and its changes, all or nothing."""
        number = len(self.statements)
        plain = [plain_ion_hash(parameter) for parameter in parameters]
        if changes:
            # a plain parameter's copy hashes as the parameter did: hashed once, here
            known = {id(p): h for p, h in zip(parameters, plain, strict=True) if h is not None}
            self._apply(changes, number, known)
        self.statements.append(
            {
                "statement": statement,
                "startTime": at,  # a datetime: µs precision, cheaper than a Timestamp
                "statementDigest": _digest(statement, plain, parameters),
            }
        )

    def _apply(
        self, changes: Sequence[ch.Change], number: int, known: dict[int, bytes] | None = None
    ) -> None:
        schema = self.schema
        tables = dict(self.tables)
        table_statements = {table: list(n) for table, n in self.table_statements.items()}
        documents = {table: dict(docs) for table, docs in self.documents.items()}
        for change in changes:
            if isinstance(change, DDL_CHANGES):
                table = apply_ddl(schema, change)
                schema = schema.replace(table)
                tables[table.table_id] = table
                numbers = table_statements.setdefault(table.table_id, [])
                if number not in numbers:
                    numbers.append(number)
                if isinstance(change, ch.CreateTable | ch.UndropTable):
                    self.reads.add(occ.ALL_TABLES)
                    limits.check_tables(schema.active_count, len(schema.tables))
            else:
                self._apply_document(schema, documents, change, number, known or {})
        modified = sum(len(docs) for docs in documents.values())
        limits.check_documents(modified, self.max_documents)
        size = sum(doc.size for docs in documents.values() for doc in docs.values())
        limits.check_transaction_size(size)
        self.schema, self.tables, self.documents = schema, tables, documents
        self.table_statements = table_statements
        self.modified, self.size = modified, size

    def _apply_document(
        self,
        schema: Any,
        documents: dict[str, dict[str, PendingDocument]],
        change: ch.Change,
        number: int,
        known: dict[int, bytes],
    ) -> None:
        table = schema.active(change.table)  # type: ignore[union-attr]
        if table is None:  # the evaluator resolved it, so this is a bug, not input
            raise InvalidInput(f"table {change.table} is not active")  # type: ignore[union-attr]
        docs = documents.setdefault(table.table_id, {})
        document_id = change.document_id  # type: ignore[union-attr]
        current = docs.get(document_id)
        if current is None:
            if isinstance(change, ch.InsertDocument):
                base_version, base_data = None, None
            else:
                stored = self.snapshot.document(table.table_id, document_id)
                if stored is None:
                    raise InvalidInput(f"document {document_id} is not in table {table.name}")
                value = stored.value
                base_version, base_data = int(value["metadata"]["version"]), value["data"]
        else:
            base_version, base_data = current.base_version, current.base_data
        statements = [*(current.statements if current else ()), number]
        if isinstance(change, ch.DeleteDocument):
            if base_version is None:
                docs.pop(document_id, None)  # inserted and deleted here: nothing to write
                return
            docs[document_id] = PendingDocument(
                table.table_id, document_id, None, base_version, base_data, 0, statements
            )
            return
        data = change.document  # type: ignore[union-attr]
        size = len(ion_bytes(data, f"document {document_id}"))
        limits.check_document_size(document_id, size)
        source = getattr(change, "source", None)
        data_hash = None if source is None else known.get(id(source))
        docs[document_id] = PendingDocument(
            table.table_id, document_id, data, base_version, base_data, size, statements, data_hash
        )

    # ---- commit --------------------------------------------------------------------------

    def build(self, transaction_id: str, at: datetime) -> PreparedCommit:
        """The block's entries and transactionInfo, and the keys OCC marks as written."""
        time = tx_time(at)
        places: dict[str, dict[str, Any]] = {}
        entries: list[Revision] = []
        written: list[tuple[str, str, int, Any]] = []
        keys: list[occ.ReadKey] = []

        def add(
            table_id: str,
            name: str,
            document_id: str,
            version: int,
            data: Any,
            where: list[int],
            data_hash: bytes | None = None,
        ) -> None:
            meta = metadata(document_id, version, time, transaction_id)
            entries.append(Revision(meta, data, data_hash))
            written.append((table_id, document_id, version, data))
            places[document_id] = {"tableName": name, "tableId": table_id, "statements": where}

        if self.tables:
            keys.append(occ.ALL_TABLES)
        for table_id, table in self.tables.items():
            before = self.snapshot.schema.tables.get(table_id)
            version = 0 if before is None else before.version + 1
            add(
                CATALOG_TABLE_ID,
                CATALOG_TABLE,
                table_id,
                version,
                table.document(),
                self.table_statements.get(table_id, []),
            )
            keys.append(occ.catalog_name(table.name))
        for table_id, docs in self.documents.items():
            if not docs:
                continue
            table = self.schema.tables[table_id]
            old_table = self.snapshot.schema.tables.get(table_id)
            indexes = {**(old_table.index_paths() if old_table else {}), **table.index_paths()}
            keys.append(occ.table(table_id))
            for document_id, doc in docs.items():
                version = 0 if doc.base_version is None else doc.base_version + 1
                add(
                    table_id,
                    table.name,
                    document_id,
                    version,
                    doc.data,
                    doc.statements,
                    doc.data_hash,
                )
                keys.append(occ.document(table_id, document_id))
                keys += _index_read_keys(indexes, doc.base_data)
                keys += _index_read_keys(indexes, doc.data)
        info = {"statements": self.statements, "documents": places}
        block = prepare(entries, info, transaction_id)  # Ion and hashes, in this thread
        revisions = tuple(
            RevisionWrite(table_id, document_id, version, data, entry.body, entry.hash)
            for (table_id, document_id, version, data), entry in zip(
                written, block.entries, strict=True
            )
        )
        return PreparedCommit(block, revisions, keys)


def _index_read_keys(indexes: dict[str, tuple[str, ...]], data: Any) -> list[occ.ReadKey]:
    if data is None:
        return []
    keys = []
    for index_id, path in indexes.items():
        value = indexed_value(data, path)
        if value is not MISSING:
            keys.append(occ.index_key(index_id, value_hash(value)))
    return keys
