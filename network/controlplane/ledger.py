"""The control plane's state in ledgerdb tables: one table per resource, one block per change.

The state lives in a ``ledgerdb.database.LedgerDatabase`` (``DIR/ledger``): tables
networks, members, invitations, proposals, electorates, votes, nodes and requests
(idempotency tokens), each indexed on the fields the operations look up. Documents keep
AMB's shapes; their document ids are the database's (QLDB's), and every resource is
found by its own key fields (``KEYS``) through an index.

An operation works on a ``Txn``: it reads the database transaction's snapshot, stages
whole new documents (reading its own staged writes back), and ``flush`` turns the
staged documents into PartiQL statements — ``INSERT INTO t ?`` or ``UPDATE t … SET``
of the fields that changed — so the journal block of every change names what changed.
Indexed storage (LMDB) is derived from the journal and only caught up on open, so a
restart replays nothing that is already applied.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledgerdb.block import EntryKind
from ledgerdb.database import LedgerDatabase, Transaction
from ledgerdb.errors import LedgerError
from ledgerdb.journal import Journal
from network.controlplane.documents import compact, plain
from network.controlplane.errors import StoreError
from network.controlplane.events import GovernanceEvent, Transition, events_for

Document = dict[str, Any]


@dataclass(frozen=True)
class TableSpec:
    key: tuple[str, ...]  # the fields that name a document (an index on the first)
    indexes: tuple[str, ...]  # at most 5 (QLDB's limit)


TABLES: dict[str, TableSpec] = {
    "networks": TableSpec(("Id",), ("Id",)),
    "members": TableSpec(("Id",), ("Id", "NetworkId", "Owner")),
    "invitations": TableSpec(
        ("InvitationId",), ("InvitationId", "NetworkId", "Principal", "Status")
    ),
    "proposals": TableSpec(("ProposalId",), ("ProposalId", "NetworkId", "Status")),
    "electorates": TableSpec(("ProposalId",), ("ProposalId",)),
    "votes": TableSpec(("VoteId",), ("VoteId", "ProposalId")),  # VoteId: ProposalId.MemberId
    "nodes": TableSpec(("Id",), ("Id", "NetworkId", "MemberId")),
    "requests": TableSpec(("Key",), ("Key",)),
}
OLD_JOURNAL = "journal.meta"  # marks DIR/ledger as the bare journal of the first format


def key_of(table: str, document: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(document[field] for field in TABLES[table].key)


def _where(table: str, alias: str = "d") -> str:
    return " AND ".join(f'{alias}."{field}" = ?' for field in TABLES[table].key)


# ---- opening -----------------------------------------------------------------------------


def open_ledger(directory: str | Path) -> LedgerDatabase:
    """The database in ``directory`` with every table and index (created on first use).

    A directory holding the first format (a bare journal of event-sourced blocks) is
    moved aside to ``DIR.v1`` and replayed once into the database, each old block as one
    transaction; the old journal is kept, never deleted.
    """
    path = Path(directory)
    old = path.with_name(path.name + ".v1")
    migrate = (path / OLD_JOURNAL).exists()
    try:
        if migrate:
            if old.exists():
                raise StoreError(f"cannot migrate {path}: {old} is already there")
            shutil.move(path, old)
        database = LedgerDatabase.open(path)
    except (LedgerError, OSError) as exc:
        raise StoreError(f"cannot open the control-plane ledger in {path}: {exc}") from exc
    try:
        _ensure_schema(database)
        if migrate:
            _replay_first_format(database, old)
    except BaseException:
        database.close()
        raise
    return database


def _ensure_schema(database: LedgerDatabase) -> None:
    def create(transaction: Transaction) -> None:
        rows = transaction.execute("SELECT t.name, t.indexes FROM information_schema.user_tables t")
        existing = {
            str(row["name"]): {str(index["expr"]) for index in row["indexes"]}
            for row in rows.values
        }
        for table, spec in TABLES.items():
            if table not in existing:
                transaction.execute(f"CREATE TABLE {table}")
            for field in spec.indexes:
                if f"[{field}]" not in existing.get(table, ()):
                    transaction.execute(f'CREATE INDEX ON {table} ("{field}")')

    database.execute_lambda(create)


def _replay_first_format(database: LedgerDatabase, old: Path) -> None:
    """Every block of the old journal, in order, as one transaction of the database."""
    with Journal.open(old, read_only=True) as journal:
        tip = journal.tip
        for block in journal.read_range(0, 0 if tip is None else tip.sequence_no + 1):
            tables = plain(block.transaction_info_value()).get("documents", {})
            changes = []
            for entry in block.entries:
                if entry.kind is EntryKind.REVISION:
                    revision = entry.revision()
                    doc_id = str(revision.metadata["id"])
                    table = tables[doc_id]["tableName"]
                    document = plain(revision.data)
                    if table in ("requests", "votes"):  # named by their document id then
                        document = {TABLES[table].key[0]: doc_id, **document}
                    changes.append((table, document))

            def replay(transaction: Transaction, changes: list = changes) -> None:
                txn = Txn(transaction)
                for table, document in changes:
                    txn.get(table, *key_of(table, document))
                    txn.put(table, document)
                txn.flush()

            database.execute_lambda(replay)


# ---- transactions ------------------------------------------------------------------------


class Txn:
    """One operation's reads and staged writes on a database transaction."""

    def __init__(self, transaction: Transaction) -> None:
        self.transaction = transaction
        self.staged: dict[tuple[str, tuple[str, ...]], Document] = {}
        self._stored: dict[tuple[str, tuple[str, ...]], tuple[str, Document] | None] = {}

    def _committed(self, table: str, key: tuple[str, ...]) -> tuple[str, Document] | None:
        """The document as committed, with its database id (remembered for ``flush``)."""
        if (table, key) not in self._stored:
            statement = f"SELECT i, d FROM {table} AS d BY i WHERE {_where(table)}"
            rows = self.transaction.execute(statement, *key).values
            self._stored[(table, key)] = (str(rows[0]["i"]), plain(rows[0]["d"])) if rows else None
        return self._stored[(table, key)]

    def get(self, table: str, *key: str) -> Document | None:
        staged = self.staged.get((table, key))
        if staged is not None:
            return dict(staged)
        found = self._committed(table, key)
        return None if found is None else dict(found[1])

    def where(self, table: str, field: str, value: str) -> list[Document]:
        """Documents whose ``field`` (an indexed one) is ``value``, staged writes included."""
        statement = f'SELECT i, d FROM {table} AS d BY i WHERE d."{field}" = ?'
        found: dict[tuple[str, ...], Document] = {}
        for row in self.transaction.execute(statement, value).values:
            document = plain(row["d"])
            key = key_of(table, document)
            self._stored.setdefault((table, key), (str(row["i"]), document))
            found[key] = document
        for (name, key), document in self.staged.items():
            if name == table:
                found[key] = document
        return [dict(d) for d in found.values() if d.get(field) == value]

    def rows(self, table: str) -> list[Document]:
        """Every document of ``table`` (a full scan: for reads, never inside a write)."""
        rows = self.transaction.execute(f"SELECT VALUE d FROM {table} AS d").values
        return [plain(row) for row in rows]

    def put(self, table: str, document: Mapping[str, Any]) -> None:
        self.staged[(table, key_of(table, document))] = compact(document)

    def flush(self) -> list[Transition]:
        """Write the staged documents; returns (table, before, after) for the events."""
        transitions: list[Transition] = []
        for (table, key), document in self.staged.items():
            stored = self._committed(table, key)
            if stored is None:
                self.transaction.execute(f"INSERT INTO {table} ?", document)
                transitions.append((table, None, document))
                continue
            document_id, before = stored
            changed = [f for f in document if f not in before or before[f] != document[f]]
            removed = [f for f in before if f not in document]
            if not changed and not removed:
                continue
            clauses = ""
            if changed:
                clauses += " SET " + ", ".join(f'd."{f}" = ?' for f in changed)
            if removed:
                clauses += " REMOVE " + ", ".join(f'd."{f}"' for f in removed)
            statement = f"UPDATE {table} AS d BY i{clauses} WHERE i = ?"
            self.transaction.execute(statement, *(document[f] for f in changed), document_id)
            transitions.append((table, before, document))
        return transitions

    # ---- reads beyond the current revision ---------------------------------------------

    def in_order(self, table: str, field: str, value: str) -> list[tuple[str, int, Document]]:
        """(document id, block, document) of the committed rows with ``field = value``,
        in the order they were written (the block of their current revision)."""
        statement = (
            "SELECT c.metadata.id AS i, c.blockAddress.sequenceNo AS s, c.data AS d "
            f'FROM _ql_committed_{table} AS c WHERE c.data."{field}" = ?'
        )
        rows = self.transaction.execute(statement, value).values
        found = [(str(r["i"]), int(r["s"]), plain(r["d"])) for r in rows]
        return sorted(found, key=lambda row: row[1])

    def document_id(self, table: str, *key: str) -> str | None:
        found = self._committed(table, key)
        return None if found is None else found[0]

    def revisions(self, table: str, document_ids: list[str]) -> list[Revision]:
        """Every revision of these documents, by document (in the given order), then version."""
        if not document_ids:
            return []
        statement = (
            "SELECT h.metadata.id AS i, h.metadata.version AS v, "
            "h.blockAddress.sequenceNo AS s, h.data AS d "
            f"FROM history({table}) AS h WHERE h.metadata.id IN ?"
        )
        rows = self.transaction.execute(statement, document_ids).values
        order = {document_id: position for position, document_id in enumerate(document_ids)}
        found = [
            Revision(table, str(r["i"]), int(r["v"]), int(r["s"]), plain(r.get("d"))) for r in rows
        ]
        return sorted(found, key=lambda r: (order[r.document_id], r.version))


@dataclass(frozen=True)
class Revision:
    table: str
    document_id: str
    version: int
    sequence_no: int
    document: Document | None  # None: the revision that deleted the document


# ---- governance events of blocks written before this process started -------------------


def journal_events(
    database: LedgerDatabase, first: int, last: int, limit: int
) -> list[tuple[int, GovernanceEvent]]:
    """The events of blocks ``first``..``last``, whole blocks until ``limit`` is reached.

    Derived from each block's revisions exactly as live commits derive them, the
    revision before each one read from the table's history.
    """
    found: list[tuple[int, GovernanceEvent]] = []
    with database.start_transaction() as transaction:
        txn = Txn(transaction)
        for block in _blocks(database, first, last):
            tables = plain(block.transaction_info_value()).get("documents", {})
            transitions: list[Transition] = []
            for entry in block.entries:
                if entry.kind is not EntryKind.REVISION:
                    continue
                revision = entry.revision()
                doc_id = str(revision.metadata["id"])
                table = tables.get(doc_id, {}).get("tableName")
                after = plain(revision.data)
                if table not in TABLES or after is None:
                    continue
                version = int(revision.metadata["version"])
                before = None
                if version > 0:
                    earlier = txn.revisions(table, [doc_id])
                    before = next(r.document for r in earlier if r.version == version - 1)
                transitions.append((table, before, after))
            found += [(block.sequence_no, event) for event in events_for(transitions)]
            if len(found) >= limit:
                break
    return found


def _blocks(database: LedgerDatabase, first: int, last: int) -> Iterator[Any]:
    for start in range(first, last + 1, 256):
        yield from database.journal.read_range(start, min(start + 256, last + 1))
