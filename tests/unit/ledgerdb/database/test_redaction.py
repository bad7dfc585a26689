"""QLDB's revision redaction: rules, history, proofs, the bytes on disk, crash recovery."""

from __future__ import annotations

import threading
from functools import reduce
from pathlib import Path
from typing import Any

import pytest

from ledgerdb.audit import audit
from ledgerdb.database import LedgerDatabase
from ledgerdb.hashing import dot
from ledgerdb.redaction import PendingRedactions, RedactionRefused, RedactionRequest

SECRET = "4111-1111-1111-1111-SECRET"


def _history(database: LedgerDatabase, document_id: str) -> list[dict[str, Any]]:
    query = "SELECT * FROM history(Card) AS h WHERE h.metadata.id = ?"
    return database.execute(query, document_id).values


def _setup(database: LedgerDatabase) -> tuple[str, str]:
    database.execute("CREATE TABLE Card")
    inserted = database.execute("INSERT INTO Card ?", {"Owner": "Raul", "Number": SECRET})
    document_id = inserted.values[0]["documentId"]
    database.execute("UPDATE Card SET Number = 'masked' WHERE Owner = 'Raul'")
    table = "SELECT tableId FROM information_schema.user_tables WHERE name = 'Card'"
    return database.execute(table).values[0]["tableId"], document_id


def _redact(database: LedgerDatabase, row: dict, table_id: str, document_id: str) -> Any:
    return database.execute(
        "EXEC redact_revision ?, ?, ?", row["blockAddress"], table_id, document_id
    )


def test_an_old_revision_is_redacted_and_everything_still_verifies(tmp_path: Path) -> None:
    with LedgerDatabase.open(tmp_path / "db") as database:
        table_id, document_id = _setup(database)
        first = _history(database, document_id)[0]
        answer = _redact(database, first, table_id, document_id)
        assert answer.values == [
            {
                "blockAddress": first["blockAddress"],
                "tableId": table_id,
                "documentId": document_id,
                "version": 0,
            }
        ]
        redacted, latest = _history(database, document_id)
        assert "data" not in redacted and len(redacted["dataHash"]) == 32
        assert redacted["hash"] == first["hash"]  # the revision's hash is unchanged
        assert latest["data"]["Number"] == "masked"
        proof = database.get_revision(document_id, first["blockAddress"]["sequenceNo"])
        proof.verify()
        assert reduce(dot, proof.qldb_proof(), bytes(first["hash"])) == proof.digest.digest
    assert audit(tmp_path / "db" / "journal").problem is None
    segments = (tmp_path / "db" / "journal" / "segments").iterdir()
    assert not any(SECRET.encode() in path.read_bytes() for path in segments)


def test_history_stays_redacted_after_a_rebuild(tmp_path: Path) -> None:
    with LedgerDatabase.open(tmp_path / "db") as database:
        table_id, document_id = _setup(database)
        _redact(database, _history(database, document_id)[0], table_id, document_id)
        database.rebuild()
        assert "dataHash" in _history(database, document_id)[0]


@pytest.mark.parametrize(
    ("pick", "message"),
    [
        (lambda rows: rows[1], "latest revision"),
        (lambda rows: {**rows[0], "blockAddress": {"strandId": "x", "sequenceNo": 1}}, "strandId"),
    ],
)
def test_qldb_rules_refuse_and_change_nothing(tmp_path: Path, pick: Any, message: str) -> None:
    with LedgerDatabase.open(tmp_path / "db") as database:
        table_id, document_id = _setup(database)
        rows = _history(database, document_id)
        with pytest.raises(RedactionRefused, match=message):
            _redact(database, pick(rows), table_id, document_id)
        assert _history(database, document_id) == rows


def test_a_deletion_has_nothing_to_redact_and_a_second_request_is_refused(
    tmp_path: Path,
) -> None:
    with LedgerDatabase.open(tmp_path / "db") as database:
        table_id, document_id = _setup(database)
        database.execute("DELETE FROM Card WHERE Owner = 'Raul'")
        first, updated, deleted = _history(database, document_id)
        with pytest.raises(RedactionRefused, match="no data"):
            _redact(database, deleted, table_id, document_id)
        _redact(database, updated, table_id, document_id)  # no longer the latest
        with pytest.raises(RedactionRefused, match="already redacted"):
            _redact(database, updated, table_id, document_id)
        with pytest.raises(RedactionRefused, match="not in table"):
            _redact(database, first, "NoSuchTable", document_id)


def test_an_aborted_transaction_redacts_nothing(tmp_path: Path) -> None:
    with LedgerDatabase.open(tmp_path / "db") as database:
        table_id, document_id = _setup(database)
        first = _history(database, document_id)[0]
        transaction = database.start_transaction()
        transaction.execute(
            "EXEC redact_revision ?, ?, ?", first["blockAddress"], table_id, document_id
        )
        transaction.abort()
        assert _history(database, document_id)[0]["data"]["Number"] == SECRET


def test_a_request_left_pending_by_a_crash_is_finished_on_open(tmp_path: Path) -> None:
    with LedgerDatabase.open(tmp_path / "db") as database:
        table_id, document_id = _setup(database)
        first = _history(database, document_id)[0]
    number = first["blockAddress"]["sequenceNo"]
    PendingRedactions(tmp_path / "db").store([RedactionRequest(number, table_id, document_id, 0)])
    with LedgerDatabase.open(tmp_path / "db") as database:
        assert "dataHash" in _history(database, document_id)[0]
    assert not (tmp_path / "db" / "redactions.pending").exists()


def test_redactions_beside_live_commits_and_reads_lose_nothing(tmp_path: Path) -> None:
    with LedgerDatabase.open(tmp_path / "db") as database:
        table_id, _ = _setup(database)
        documents = []
        for n in range(20):
            inserted = database.execute("INSERT INTO Card ?", {"Owner": f"o{n}", "Number": SECRET})
            documents.append(inserted.values[0]["documentId"])
            database.execute("UPDATE Card SET Number = 'masked' WHERE Owner = ?", f"o{n}")
        stop, failures = threading.Event(), []

        def commit_and_read() -> None:
            n = 0
            while not stop.is_set():
                try:
                    database.execute("INSERT INTO Card ?", {"Owner": f"live{n}"})
                    database.get_block(n % 40)  # reads while segments are rewritten
                except Exception as exc:  # any failure here is the test's finding
                    failures.append(exc)
                n += 1

        worker = threading.Thread(target=commit_and_read)
        worker.start()
        try:
            for document_id in documents:
                _redact(database, _history(database, document_id)[0], table_id, document_id)
        finally:
            stop.set()
            worker.join()
        assert failures == []
        assert all("dataHash" in _history(database, d)[0] for d in documents)
    assert audit(tmp_path / "db" / "journal").problem is None
