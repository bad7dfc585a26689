"""Optimistic concurrency: conflicting transactions, phantoms, retries, real threads."""

from __future__ import annotations

import threading

import pytest

from ledgerdb.database import LedgerDatabase
from ledgerdb.errors import OccConflict
from ledgerdb.transaction import Transaction


def _year(db: LedgerDatabase, vin: str) -> int:
    return db.execute("SELECT VALUE v.Year FROM Vehicle v WHERE v.VIN = ?", vin).values[0]


def _bump(transaction: Transaction, vin: str) -> None:
    year = transaction.execute("SELECT VALUE v.Year FROM Vehicle v WHERE v.VIN = ?", vin).values[0]
    transaction.execute("UPDATE Vehicle AS v SET v.Year = ? WHERE v.VIN = ?", year + 1, vin)


def test_read_modify_write_of_one_document_commits_once(vehicles: LedgerDatabase) -> None:
    first, second = vehicles.start_transaction(), vehicles.start_transaction()
    _bump(first, "V1")
    _bump(second, "V1")
    tip = vehicles.journal.tip
    assert first.commit().block_address is not None
    after_first = vehicles.journal.tip
    with pytest.raises(OccConflict, match="nothing was written"):
        second.commit()
    assert vehicles.journal.tip == after_first != tip  # the loser wrote no block
    assert _year(vehicles, "V1") == 2021
    assert second.state == "aborted"


def test_disjoint_documents_both_commit(vehicles: LedgerDatabase) -> None:
    first, second = vehicles.start_transaction(), vehicles.start_transaction()
    _bump(first, "V1")
    _bump(second, "V2")
    first.commit()
    second.commit()
    assert (_year(vehicles, "V1"), _year(vehicles, "V2")) == (2021, 2012)


def test_phantom_in_an_index_lookup_conflicts(vehicles: LedgerDatabase) -> None:
    reader = vehicles.start_transaction()
    found = reader.execute("SELECT * FROM Vehicle WHERE VIN IN ('V9', 'V8')")
    assert found.values == [] and found.plan.uses_index
    reader.execute("INSERT INTO Vehicle ?", {"VIN": "V7"})  # so that it has a write to commit
    vehicles.execute("INSERT INTO Vehicle ?", {"VIN": "V9"})
    with pytest.raises(OccConflict, match="index lookup"):
        reader.commit()
    assert vehicles.execute("SELECT COUNT(*) AS n FROM Vehicle WHERE VIN = 'V7'").values == [
        {"n": 0}
    ]


def test_phantom_in_a_scanned_range_conflicts(vehicles: LedgerDatabase) -> None:
    reader = vehicles.start_transaction()
    count = reader.execute("SELECT COUNT(*) AS n FROM Vehicle v WHERE v.Year > 2012").values
    assert count == [{"n": 2}]
    vehicles.execute("INSERT INTO Vehicle ?", {"VIN": "V4", "Year": 2022})
    with pytest.raises(OccConflict, match="whole table"):
        reader.commit()  # even a read-only transaction: its reads are no longer current


def test_lookup_of_another_key_does_not_conflict(vehicles: LedgerDatabase) -> None:
    reader = vehicles.start_transaction()
    reader.execute("SELECT * FROM Vehicle WHERE VIN = 'V2'")
    reader.execute("INSERT INTO Vehicle ?", {"VIN": "V5"})
    vehicles.execute("INSERT INTO Vehicle ?", {"VIN": "V6"})
    assert reader.commit().block_address is not None


def test_update_that_moves_a_document_out_of_a_looked_up_key_conflicts(
    vehicles: LedgerDatabase,
) -> None:
    reader = vehicles.start_transaction()
    reader.execute("SELECT * FROM Vehicle WHERE VIN = 'V2'")
    vehicles.execute("UPDATE Vehicle AS v SET v.VIN = 'V2b' WHERE v.VIN = 'V2'")
    with pytest.raises(OccConflict):
        reader.commit()


def test_ddl_conflicts_with_readers_of_that_table(vehicles: LedgerDatabase) -> None:
    reader = vehicles.start_transaction()
    reader.execute("SELECT * FROM Vehicle WHERE Make = 'Ford'")
    vehicles.execute("CREATE INDEX ON Vehicle (Make)")
    with pytest.raises(OccConflict, match="catalog"):
        reader.commit()


def test_reads_see_the_snapshot_and_own_writes(vehicles: LedgerDatabase) -> None:
    transaction = vehicles.start_transaction()
    transaction.execute("INSERT INTO Vehicle ?", {"VIN": "V4", "Year": 1999})
    vehicles.execute("INSERT INTO Vehicle ?", {"VIN": "V5", "Year": 1998})
    seen = transaction.execute("SELECT VALUE v.VIN FROM Vehicle v WHERE v.Year < 2000").values
    assert seen == ["V4"]  # its own write, not the later commit
    by_index = transaction.execute("SELECT VALUE v.Year FROM Vehicle v WHERE v.VIN = 'V4'")
    assert by_index.values == [1999] and by_index.plan.uses_index
    transaction.abort()
    assert vehicles.execute("SELECT VALUE v.VIN FROM Vehicle v WHERE v.Year < 2000").values == [
        "V5"
    ]


def test_execute_lambda_retries_concurrent_increments_to_success(
    vehicles: LedgerDatabase,
) -> None:
    threads, rounds = 4, 5
    failures: list[BaseException] = []
    attempts: list[int] = []

    def increment(transaction: Transaction) -> None:
        attempts.append(1)
        _bump(transaction, "V3")

    def worker() -> None:
        try:
            for _ in range(rounds):
                vehicles.execute_lambda(increment, retry_limit=50)
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert not failures, failures
    assert _year(vehicles, "V3") == 2015 + threads * rounds  # no increment was lost
    assert len(attempts) >= threads * rounds


def test_execute_lambda_gives_up_after_the_retry_limit(vehicles: LedgerDatabase) -> None:
    calls = []

    def always_conflicts(transaction: Transaction) -> None:
        calls.append(1)
        _bump(transaction, "V1")
        vehicles.execute("UPDATE Vehicle AS v SET v.Make = 'X' WHERE v.VIN = 'V1'")

    with pytest.raises(OccConflict):
        vehicles.execute_lambda(always_conflicts, retry_limit=2)
    assert len(calls) == 3


def test_execute_lambda_aborts_on_other_errors(vehicles: LedgerDatabase) -> None:
    def fails(transaction: Transaction) -> None:
        transaction.execute("INSERT INTO Vehicle ?", {"VIN": "V9"})
        raise ValueError("the caller's own error")

    tip = vehicles.journal.tip
    with pytest.raises(ValueError):
        vehicles.execute_lambda(fails)
    assert vehicles.journal.tip == tip


def test_pruned_conflict_table_still_catches_an_old_open_transaction(
    vehicles: LedgerDatabase,
) -> None:
    vehicles._tracker.PRUNE_AT = 10  # type: ignore[misc]  # prune after every few commits
    reader = vehicles.start_transaction()
    _bump(reader, "V1")
    vehicles.execute("UPDATE Vehicle AS v SET v.Make = 'X' WHERE v.VIN = 'V1'")
    for number in range(30):
        vehicles.execute("INSERT INTO Vehicle ?", {"VIN": f"N{number}"})
    with pytest.raises(OccConflict):
        reader.commit()
    vehicles.execute("INSERT INTO Vehicle ?", {"VIN": "last"})
    assert len(vehicles._tracker) < 10  # with no transaction open, old writes are forgotten
