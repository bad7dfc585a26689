"""Committing threads write their own journal groups and apply them: every commit is
durable and visible when it returns, in order, and a block nobody staged stops the
database."""

from __future__ import annotations

import os
import threading

import pytest

import ledgerdb.segments
from ledgerdb.audit import audit
from ledgerdb.block import Payload
from ledgerdb.database import LedgerDatabase
from ledgerdb.errors import LedgerClosed, StorageFailure


def test_eight_committing_threads_each_see_their_document_the_moment_commit_returns(
    db: LedgerDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.execute("CREATE TABLE Car")
    db.execute("CREATE INDEX ON Car (VIN)")  # point reads: no conflict with other inserts
    fsyncs = []
    real = os.fdatasync

    def counted(fd: int) -> None:
        fsyncs.append(fd)
        real(fd)

    monkeypatch.setattr(ledgerdb.segments.os, "fdatasync", counted)
    missing: list[str] = []

    def committer(number: int) -> None:
        for index in range(40):
            vin = f"{number}-{index}"
            db.execute("INSERT INTO Car ?", {"VIN": vin})
            # applied before commit returned, without waiting for anyone else
            if not db.execute("SELECT * FROM Car WHERE VIN = ?", vin).values:
                missing.append(vin)

    threads = [threading.Thread(target=committer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert missing == []
    assert db.execute("SELECT COUNT(*) AS n FROM Car").values == [{"n": 320}]
    assert db.journal.tip.sequence_no == 321  # CREATE TABLE and INDEX are blocks 0 and 1
    assert len(fsyncs) < 320  # groups shared fsyncs
    db.close()
    assert audit(db.directory / "journal").ok


def test_a_block_the_database_did_not_stage_stops_it_naming_the_block(
    db: LedgerDatabase,
) -> None:
    db.execute("CREATE TABLE Car")
    db.journal.append([Payload(b"appended behind the database's back")])
    with pytest.raises(LedgerClosed, match="block 1 is durable but no commit of this database"):
        db.execute("INSERT INTO Car ?", {"VIN": "late"})


def test_a_failed_fsync_fails_every_committer_of_the_group(
    db: LedgerDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    db.execute("CREATE TABLE Car")

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ledgerdb.segments.os, "fdatasync", broken)
    errors: list[BaseException] = []

    def committer(number: int) -> None:
        try:
            db.execute("INSERT INTO Car ?", {"VIN": str(number)})
        except (StorageFailure, LedgerClosed) as exc:
            errors.append(exc)

    threads = [threading.Thread(target=committer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert len(errors) == 4
    assert any("Input/output error" in str(exc) for exc in errors)
