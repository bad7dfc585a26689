"""Fixtures for the database's tests: a fresh database in a temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerdb.database import LedgerDatabase


@pytest.fixture
def db(tmp_path: Path) -> Iterator[LedgerDatabase]:
    database = LedgerDatabase.open(tmp_path / "db")
    yield database
    database.close()


@pytest.fixture
def vehicles(db: LedgerDatabase) -> LedgerDatabase:
    """A database with an indexed ``Vehicle`` table of three documents."""
    db.execute("CREATE TABLE Vehicle")
    db.execute("CREATE INDEX ON Vehicle (VIN)")
    db.execute(
        "INSERT INTO Vehicle ?",
        [
            {"VIN": "V1", "Make": "Tesla", "Year": 2020},
            {"VIN": "V2", "Make": "Ford", "Year": 2011},
            {"VIN": "V3", "Make": "Honda", "Year": 2015},
        ],
    )
    return db
