"""History, the committed view, revision proofs, and storage rebuilt from the journal."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest
from amazon.ion.core import Timestamp

from ledgerdb.audit import audit
from ledgerdb.block import EntryKind
from ledgerdb.database import INDEX_DIRECTORY, JOURNAL_DIRECTORY, LedgerDatabase
from ledgerdb.errors import InvalidInput, VerificationError
from ledgerdb.revision_proof import verify_revision_proof
from tests.support.case_table import dump


def _document(db: LedgerDatabase) -> str:
    """Insert, update twice, delete: four revisions of one document."""
    db.execute("CREATE TABLE Person")
    db.execute("CREATE INDEX ON Person (GovId)")
    (inserted,) = db.execute("INSERT INTO Person ?", {"GovId": "G1", "Name": "Ann"}).values
    db.execute("UPDATE Person AS p SET p.Name = 'Anne' WHERE p.GovId = 'G1'")
    db.execute("UPDATE Person AS p SET p.GovId = 'G2' WHERE p.GovId = 'G1'")
    db.execute("INSERT INTO Person ?", {"GovId": "G3", "Name": "Bob"})
    db.execute("DELETE FROM Person AS p WHERE p.GovId = 'G2'")
    return inserted["documentId"]


def _history(db: LedgerDatabase, document_id: str) -> list[Any]:
    outcome = db.execute("SELECT * FROM history(Person) AS h WHERE h.metadata.id = ?", document_id)
    assert outcome.plan.uses_index
    return sorted(outcome.values, key=lambda row: row["metadata"]["version"])


def test_history_holds_every_revision_and_a_final_one_without_data(db: LedgerDatabase) -> None:
    document_id = _document(db)
    revisions = _history(db, document_id)
    assert [r["metadata"]["version"] for r in revisions] == [0, 1, 2, 3]
    assert [r.get("data") for r in revisions] == [
        {"GovId": "G1", "Name": "Ann"},
        {"GovId": "G1", "Name": "Anne"},
        {"GovId": "G2", "Name": "Anne"},
        None,
    ]
    assert "data" not in revisions[3]
    for row in revisions:
        assert set(row) >= {"blockAddress", "hash", "metadata"}
        assert set(row["metadata"]) == {"id", "version", "txTime", "txId"}
        assert len(row["metadata"]["txId"]) == 22
    sequence = [r["blockAddress"]["sequenceNo"] for r in revisions]
    assert sequence == sorted(sequence) and len(set(sequence)) == 4


def test_history_time_bounds_are_inclusive(db: LedgerDatabase) -> None:
    document_id = _document(db)
    revisions = _history(db, document_id)
    second = revisions[1]["metadata"]["txTime"]
    query = (
        "SELECT VALUE h.metadata.version FROM history(Person, ?, ?) AS h WHERE h.metadata.id = ?"
    )
    bounded = db.execute(query, second, second, document_id).values
    same_time = [r["metadata"]["version"] for r in revisions if r["metadata"]["txTime"] == second]
    assert sorted(bounded) == same_time and 1 in same_time
    everything = db.execute(
        "SELECT VALUE h.metadata.version FROM history(Person, `2000-01-01T`) AS h"
        " WHERE h.metadata.id = ?",
        document_id,
    )
    assert sorted(everything.values) == [0, 1, 2, 3]
    future = "SELECT * FROM history(Person, `2999-01-01T`)"
    assert db.execute(future).values == []
    table_id = db.execute("SELECT VALUE t.tableId FROM information_schema.user_tables t").values[0]
    assert len(db.execute(f"SELECT * FROM history('{table_id}')").values) == 5


def test_committed_view_shows_live_documents_with_their_block(db: LedgerDatabase) -> None:
    _document(db)
    rows = db.execute("SELECT * FROM _ql_committed_Person").values
    assert len(rows) == 1
    (row,) = rows
    assert row["data"] == {"GovId": "G3", "Name": "Bob"}
    assert row["metadata"]["version"] == 0
    block = db.journal.read(row["blockAddress"]["sequenceNo"])
    assert bytes(row["hash"]) in {entry.hash for entry in block.entries}
    by_data = db.execute(
        "SELECT VALUE c.metadata.id FROM _ql_committed_Person c WHERE c.data.GovId = 'G3'"
    )
    assert by_data.plan.uses_index and by_data.values == [row["metadata"]["id"]]
    by_id = db.execute(
        "SELECT VALUE c.data.Name FROM _ql_committed_Person c WHERE c.metadata.id = ?",
        row["metadata"]["id"],
    )
    assert by_id.values == ["Bob"] and by_id.plan.uses_index
    user = db.execute(
        "SELECT p.Name, id FROM Person AS p BY id WHERE id = ?", row["metadata"]["id"]
    )
    assert user.values == [{"Name": "Bob", "id": row["metadata"]["id"]}]


def test_one_transaction_is_one_block_with_statements_and_document_map(
    db: LedgerDatabase,
) -> None:
    db.execute("CREATE TABLE Person")
    transaction = db.start_transaction()
    transaction.execute("INSERT INTO Person ?", {"n": 1})
    (second,) = transaction.execute("INSERT INTO Person << ?, ? >>", {"n": 2}, {"n": 3}).values[:1]
    result = transaction.commit()
    block = db.journal.read(result.block_address.sequence_no)
    assert block.transaction_id == transaction.transaction_id == result.transaction_id
    assert [e.kind for e in block.entries] == [EntryKind.REVISION] * 3
    info = block.transaction_info_value()
    assert [s["statement"] for s in info["statements"]] == [
        "INSERT INTO Person ?",
        "INSERT INTO Person << ?, ? >>",
    ]
    assert all(len(bytes(s["statementDigest"])) == 32 for s in info["statements"])
    place = info["documents"][second["documentId"]]
    assert place["tableName"] == "Person" and list(place["statements"]) == [1]


def test_every_revision_proof_verifies_and_tampering_fails(db: LedgerDatabase) -> None:
    document_id = _document(db)
    digest = db.digest()
    for row in _history(db, document_id):
        proof = db.get_revision(document_id, row["blockAddress"]["sequenceNo"])
        verify_revision_proof(proof, trusted_digest=digest.digest)
        assert proof.revision["hash"] == row["hash"]
        assert proof.digest == digest
    first = db.get_revision(
        document_id, _history(db, document_id)[0]["blockAddress"]["sequenceNo"], 2
    )
    first.verify()  # against an earlier digest tip too
    assert first.digest.tip.sequence_no == 2

    tampered = dict(first.revision, data={"GovId": "G1", "Name": "Eve"})
    with pytest.raises(VerificationError, match="revision hash"):
        verify_revision_proof(dataclasses.replace(first, revision=tampered))
    bad_path = [bytes(32), *first.block_proof[1:]]
    with pytest.raises(VerificationError):
        verify_revision_proof(dataclasses.replace(first, block_proof=bad_path))
    with pytest.raises(VerificationError, match="trusted digest"):
        verify_revision_proof(first, trusted_digest=bytes(32))
    other = db.get_block(first.block.sequence_no + 1)[0]
    with pytest.raises(VerificationError):
        verify_revision_proof(dataclasses.replace(first, block=other))
    with pytest.raises(InvalidInput, match="no revision of document"):
        db.get_revision("nope", first.block.sequence_no)


QUERIES = [
    ("SELECT * FROM Person", ()),
    ("SELECT * FROM Person WHERE GovId = ?", ("G3",)),
    ("SELECT * FROM _ql_committed_Person", ()),
    ("SELECT * FROM history(Person)", ()),
    ("SELECT * FROM information_schema.user_tables", ()),
    ("SELECT VALUE p.GovId FROM Vehicle p WHERE p.GovId IN ?", (["A", "B", "C"],)),
]


def _answers(db: LedgerDatabase) -> list[str]:
    return sorted(dump(sorted(map(dump, db.execute(q, *p).values))) for q, p in QUERIES)


def _populate(db: LedgerDatabase) -> None:
    _document(db)
    db.execute("CREATE TABLE Vehicle")
    db.execute("INSERT INTO Vehicle ?", [{"GovId": g, "at": Timestamp(2020, 1, 1)} for g in "ABCD"])
    db.execute("CREATE INDEX ON Vehicle (GovId)")  # indexes existing documents
    (table_id,) = db.execute("DROP TABLE Vehicle").values
    db.execute(f"UNDROP TABLE '{table_id['tableId']}'")


def test_deleted_storage_is_rebuilt_with_the_same_answers(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with LedgerDatabase.open(path) as db:
        _populate(db)
        before = _answers(db)
        tip = db.journal.tip
    shutil.rmtree(path / INDEX_DIRECTORY)
    with LedgerDatabase.open(path) as db:
        assert _answers(db) == before
        assert db.journal.tip == tip  # rebuilding wrote nothing to the journal
        db.rebuild()
        assert _answers(db) == before
        db.execute("INSERT INTO Person ?", {"GovId": "G9"})
    assert audit(path / JOURNAL_DIRECTORY).ok


def test_storage_behind_the_journal_catches_up(tmp_path: Path) -> None:
    path = tmp_path / "db"
    with LedgerDatabase.open(path) as db:
        _document(db)
    saved = tmp_path / "saved-index"
    shutil.copytree(path / INDEX_DIRECTORY, saved)
    with LedgerDatabase.open(path) as db:
        db.execute("INSERT INTO Person ?", [{"GovId": f"N{i}"} for i in range(5)])
        db.execute("UPDATE Person AS p SET p.Name = 'Bobby' WHERE p.GovId = 'G3'")
        expected = _answers_person(db)
    shutil.rmtree(path / INDEX_DIRECTORY)
    shutil.copytree(saved, path / INDEX_DIRECTORY)  # storage as it was two blocks ago
    with LedgerDatabase.open(path) as db:
        assert _answers_person(db) == expected


def _answers_person(db: LedgerDatabase) -> list[str]:
    return sorted(map(dump, db.execute("SELECT * FROM history(Person)").values))


def test_rebuild_closes_open_transactions(vehicles: LedgerDatabase) -> None:
    transaction = vehicles.start_transaction()
    transaction.execute("SELECT * FROM Vehicle")
    vehicles.rebuild()
    with pytest.raises(Exception, match="rebuilt"):
        transaction.execute("SELECT * FROM Vehicle")
    assert len(vehicles.execute("SELECT * FROM Vehicle").values) == 3


def test_storage_left_unsynced_by_another_boot_is_rebuilt(tmp_path: Path) -> None:
    """A marker from another boot means the OS went down with unsynced LMDB pages."""
    path = tmp_path / "db"
    db = LedgerDatabase.open(path)
    _document(db)
    expected = _answers_person(db)
    db.journal.close()  # a crash: storage is not closed, so its marker stays behind
    marker = path / INDEX_DIRECTORY / "unsynced"
    assert marker.exists()
    marker.write_text("another-boot")
    sentinel = path / INDEX_DIRECTORY / "sentinel"
    sentinel.write_text("")
    with LedgerDatabase.open(path) as reopened:
        assert not sentinel.exists()  # the whole directory was thrown away
        assert _answers_person(reopened) == expected
    assert not marker.exists()  # a clean close synced storage and removed the marker
