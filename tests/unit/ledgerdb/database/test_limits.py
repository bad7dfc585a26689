"""QLDB's limits and closed transactions: the right error, and nothing written."""

from __future__ import annotations

import pytest

from ledgerdb import limits
from ledgerdb.database import LedgerDatabase
from ledgerdb.errors import (
    InvalidInput,
    LimitExceeded,
    TransactionClosed,
    TransactionExpired,
)
from ledgerdb.partiql import PartiQLSyntaxError


def _count(db: LedgerDatabase) -> int:
    return db.execute("SELECT COUNT(*) AS n FROM Vehicle").values[0]["n"]


def test_a_sixth_index_is_refused(vehicles: LedgerDatabase) -> None:
    for field in ("A", "B", "C", "D"):
        vehicles.execute(f"CREATE INDEX ON Vehicle ({field})")
    tip = vehicles.journal.tip
    with pytest.raises(LimitExceeded, match="indexes per table is 5, got 6") as caught:
        vehicles.execute("CREATE INDEX ON Vehicle (E)")
    assert caught.value.limit == "indexes per table" and caught.value.value == 6
    assert vehicles.journal.tip == tip
    rows = vehicles.execute("SELECT VALUE size(t.indexes) FROM information_schema.user_tables t")
    assert rows.values == [5]


def test_41_documents_in_one_transaction_are_refused(vehicles: LedgerDatabase) -> None:
    transaction = vehicles.start_transaction()
    transaction.execute("INSERT INTO Vehicle ?", [{"n": i} for i in range(40)])
    with pytest.raises(LimitExceeded, match="documents modified per transaction is 40, got 41"):
        transaction.execute("INSERT INTO Vehicle ?", {"n": 99})
    # The failed statement left the earlier ones intact: the transaction goes on.
    transaction.commit()
    assert _count(vehicles) == 3 + 40


def test_an_update_of_too_many_documents_fails_whole(vehicles: LedgerDatabase) -> None:
    vehicles.execute("INSERT INTO Vehicle ?", [{"n": i} for i in range(38)])
    tip = vehicles.journal.tip
    with pytest.raises(LimitExceeded, match="got 41"):
        vehicles.execute("UPDATE Vehicle AS v SET v.touched = true")
    assert vehicles.journal.tip == tip
    assert vehicles.execute("SELECT * FROM Vehicle v WHERE v.touched").values == []


def test_a_document_over_128_kb_is_refused(vehicles: LedgerDatabase) -> None:
    tip = vehicles.journal.tip
    with pytest.raises(LimitExceeded, match="document size") as caught:
        vehicles.execute("INSERT INTO Vehicle ?", {"VIN": "big", "blob": "x" * (129 * 1024)})
    assert caught.value.value > limits.DOCUMENT_BYTES
    assert vehicles.journal.tip == tip
    vehicles.execute("INSERT INTO Vehicle ?", {"VIN": "fits", "blob": "x" * (127 * 1024)})


def test_a_transaction_over_4_mb_is_refused(vehicles: LedgerDatabase) -> None:
    transaction = vehicles.start_transaction()
    for _ in range(32):
        transaction.execute("INSERT INTO Vehicle ?", {"blob": "y" * (127 * 1024)})
    with pytest.raises(LimitExceeded, match="transaction size"):
        transaction.execute("INSERT INTO Vehicle ?", {"blob": "y" * (127 * 1024)})
    transaction.abort()


def test_table_limits(db: LedgerDatabase) -> None:
    for number in range(limits.ACTIVE_TABLES):
        db.execute(f"CREATE TABLE T{number}")
    with pytest.raises(LimitExceeded, match="active tables per ledger is 20, got 21"):
        db.execute("CREATE TABLE Extra")
    for number in range(limits.ACTIVE_TABLES):
        db.execute(f"DROP TABLE T{number}")
    for number in range(limits.TOTAL_TABLES - limits.ACTIVE_TABLES):
        db.execute(f"CREATE TABLE U{number}")
    db.execute("DROP TABLE U0")  # 19 active, 40 in all
    with pytest.raises(LimitExceeded, match=r"tables per ledger \(active and inactive\) is 40"):
        db.execute("CREATE TABLE Extra")


def test_statements_after_commit_or_abort_are_refused(vehicles: LedgerDatabase) -> None:
    committed = vehicles.start_transaction()
    committed.commit()
    with pytest.raises(TransactionClosed, match="committed"):
        committed.execute("SELECT * FROM Vehicle")
    with pytest.raises(TransactionClosed):
        committed.commit()
    aborted = vehicles.start_transaction()
    aborted.execute("INSERT INTO Vehicle ?", {"VIN": "gone"})
    aborted.abort()
    aborted.abort()  # closing twice is harmless
    with pytest.raises(TransactionClosed, match="aborted"):
        aborted.execute("SELECT * FROM Vehicle")
    assert _count(vehicles) == 3


def test_an_expired_transaction_writes_nothing(vehicles: LedgerDatabase) -> None:
    now = [1000.0]
    vehicles.clock = lambda: now[0]
    transaction = vehicles.start_transaction()
    transaction.execute("INSERT INTO Vehicle ?", {"VIN": "late"})
    now[0] += limits.TRANSACTION_SECONDS + 0.1
    tip = vehicles.journal.tip
    with pytest.raises(TransactionExpired, match="30 seconds"):
        transaction.commit()
    with pytest.raises(TransactionExpired):
        transaction.execute("SELECT * FROM Vehicle")
    assert transaction.state == "expired"
    assert vehicles.journal.tip == tip
    assert _count(vehicles) == 3


def test_bad_input_is_named_and_writes_nothing(vehicles: LedgerDatabase) -> None:
    tip = vehicles.journal.tip
    with pytest.raises(PartiQLSyntaxError, match="line 1, column 8"):
        vehicles.execute("SELECT FROM Vehicle")
    with pytest.raises(InvalidInput, match="statement must be a string"):
        vehicles.execute(b"SELECT 1")  # type: ignore[arg-type]
    transaction = vehicles.start_transaction()
    transaction.execute("INSERT INTO Vehicle ?", {"VIN": "kept"})
    with pytest.raises(Exception, match="parameter"):
        transaction.execute("INSERT INTO Vehicle ?", object())
    transaction.commit()  # the earlier statement's write survives the failed one
    assert vehicles.journal.tip.sequence_no == tip.sequence_no + 1
    assert _count(vehicles) == 4
