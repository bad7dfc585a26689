"""QLDB's documented quotas, in one place, and the checks that raise ``LimitExceeded``.

The numbers are QLDB's ("Quotas and limits in Amazon QLDB"), so code written against
QLDB's limits behaves the same here. Limits a statement alone can know (index count)
are checked before it runs; those that need the transaction (documents modified,
document and transaction size, table counts) when its changes are added.
"""

from __future__ import annotations

from ledgerdb.errors import LimitExceeded

INDEXES_PER_TABLE = 5
ACTIVE_TABLES = 20
TOTAL_TABLES = 40
DOCUMENTS_PER_TRANSACTION = 40
DOCUMENT_BYTES = 128 * 1024
TRANSACTION_BYTES = 4 * 1024 * 1024
TRANSACTION_SECONDS = 30.0

# (limit name, value, unit) for docs/ledgerdb.md and for error messages.
ALL = (
    ("indexes per table", INDEXES_PER_TABLE, ""),
    ("active tables per ledger", ACTIVE_TABLES, ""),
    ("tables per ledger (active and inactive)", TOTAL_TABLES, ""),
    ("documents modified per transaction", DOCUMENTS_PER_TRANSACTION, ""),
    ("document size (Ion binary)", DOCUMENT_BYTES, "bytes"),
    ("transaction size (Ion binary of its revisions)", TRANSACTION_BYTES, "bytes"),
    ("transaction lifetime", int(TRANSACTION_SECONDS), "seconds"),
)


def check(limit: str, value: int, maximum: int, detail: str = "") -> None:
    """Raise ``LimitExceeded`` naming ``limit`` when ``value`` is above ``maximum``."""
    if value > maximum:
        raise LimitExceeded(limit, value, maximum, detail)


def check_indexes(table: str, existing: int) -> None:
    """One more index on ``table``, which already has ``existing``."""
    check("indexes per table", existing + 1, INDEXES_PER_TABLE, f"table {table}")


def check_tables(active: int, total: int) -> None:
    check("active tables per ledger", active, ACTIVE_TABLES)
    check("tables per ledger (active and inactive)", total, TOTAL_TABLES)


def check_documents(modified: int, maximum: int = DOCUMENTS_PER_TRANSACTION) -> None:
    """``maximum`` is QLDB's unless the database was opened with another (a bulk writer
    such as the analytics node, which writes a Fabric block as one transaction)."""
    check("documents modified per transaction", modified, maximum)


def check_document_size(document_id: str, size: int) -> None:
    check("document size (Ion binary)", size, DOCUMENT_BYTES, f"document {document_id}")


def check_transaction_size(size: int) -> None:
    check("transaction size (Ion binary of its revisions)", size, TRANSACTION_BYTES)
