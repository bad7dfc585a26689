"""A commit hashes a document once: the plain parameter it was copied from gives the
revision's data hash (``workspace``). Whatever the statement's shape, the hashes in the
block must be the ones verification computes from the stored bytes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from amazon.ion import simpleion

from ledgerdb.block import EntryKind, entry_hash
from ledgerdb.database import LedgerDatabase
from ledgerdb.errors import InvalidInput
from ledgerdb.ionhash import ion_hash
from ledgerdb.verify import verify_block
from ledgerdb.workspace import statement_digest

PLAIN = {"VIN": "V1", "Owners": {"Primary": {"Id": "P1"}, "Others": []}, "Year": 2020}
NOT_PLAIN = {"VIN": "V2", "Price": Decimal("1.50"), "Ratio": 0.5, "Tag": simpleion.loads("a::1")}
WHEN = datetime(2026, 12, 7, 2, 30, 1, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("statement", "parameters"),
    [
        ("INSERT INTO Vehicle ?", (PLAIN,)),
        ("INSERT INTO Vehicle ?", (NOT_PLAIN,)),
        ("INSERT INTO Vehicle ?", ([PLAIN, NOT_PLAIN, {"When": WHEN}],)),
        ("INSERT INTO Vehicle << ?, ? >>", (PLAIN, {"VIN": "V3", "Blob": b"\x0b\x0e"})),
        ("INSERT INTO Vehicle {'VIN': ?, 'Copy': ?}", ("V4", PLAIN)),
        ("INSERT INTO Vehicle ?", ({"VIN": True, "Other": 1},)),
    ],
)
def test_block_hashes_match_the_stored_bytes(
    db: LedgerDatabase, statement: str, parameters: tuple
) -> None:
    db.execute("CREATE TABLE Vehicle")
    result = db.execute_lambda(lambda txn: (txn.execute(statement, *parameters), txn.commit()))
    block, _ = db.get_block(result[1].block_address.sequence_no)
    verify_block(block)
    for entry in block.entries:
        assert entry.hash == entry_hash(EntryKind.REVISION, entry.body)
    info = simpleion.loads(block.transaction_info)
    assert block.entries_hash_list[0] == ion_hash(info)
    assert bytes(info["statements"][0]["statementDigest"]) == statement_digest(
        statement, parameters
    )


def test_a_parameter_changed_after_the_statement_changes_nothing(db: LedgerDatabase) -> None:
    """The document (and its hash) is taken when the statement runs, not at commit."""
    db.execute("CREATE TABLE Vehicle")
    document = {"VIN": "V1", "Year": 2020}
    transaction = db.start_transaction()
    transaction.execute("INSERT INTO Vehicle ?", document)
    document["Year"] = 1999
    address = transaction.commit().block_address
    block, _ = db.get_block(address.sequence_no)
    verify_block(block)
    (entry,) = block.entries
    assert entry.hash == entry_hash(EntryKind.REVISION, entry.body)
    assert simpleion.loads(entry.body)["data"]["Year"] == 2020


def test_a_field_name_that_is_not_unicode_is_refused(db: LedgerDatabase) -> None:
    """amazon.ion 0.15 hangs writing such a name; the statement fails, nothing is written,
    and the database goes on serving."""
    db.execute("CREATE TABLE Vehicle")
    with pytest.raises(InvalidInput, match="is not an Ion value"):
        db.execute("INSERT INTO Vehicle ?", {"\ud800": 1})
    db.execute("INSERT INTO Vehicle ?", PLAIN)
    assert db.execute("SELECT COUNT(*) AS n FROM Vehicle").values == [{"n": 1}]
