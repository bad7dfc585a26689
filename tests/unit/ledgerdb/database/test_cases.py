"""The PartiQL case table, run against the real embedded database.

Cases that only read share one database loaded with the fixtures (and the test checks
that none of them wrote a block: failing statements write nothing); cases that write
each get a copy of it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerdb.database import LedgerDatabase
from tests.support.case_runner import (
    ALL_CASES,
    CASES,
    load_fixtures,
    mutates,
    run_case,
)
from tests.support.case_table import Case

READING = [c for c in CASES if not mutates(c)]
WRITING = [c for c in CASES if mutates(c)]


def _executor(db: LedgerDatabase) -> Any:
    return lambda statement, params: db.execute(statement, *params)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cases") / "template"
    with LedgerDatabase.open(path) as db:
        load_fixtures(_executor(db))
    return path


@pytest.fixture(scope="module")
def shared(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerDatabase]:
    path = tmp_path_factory.mktemp("cases") / "shared"
    shutil.copytree(template, path)
    with LedgerDatabase.open(path) as db:
        tip = db.journal.tip
        yield db
        assert db.journal.tip == tip, "a case that should only read wrote a block"


@pytest.mark.parametrize("case", READING, ids=[c.name for c in READING])
def test_reading_case(case: Case, shared: LedgerDatabase) -> None:
    run_case(case, _executor(shared))


@pytest.mark.parametrize("case", WRITING, ids=[c.name for c in WRITING])
def test_writing_case(case: Case, template: Path, tmp_path: Path) -> None:
    shutil.copytree(template, tmp_path / "db")
    with LedgerDatabase.open(tmp_path / "db") as db:
        run_case(case, _executor(db))


def test_every_case_runs() -> None:
    assert len(READING) + len(WRITING) == len(CASES) == len(ALL_CASES) - 1 >= 100


def test_txid_is_the_committed_transaction(db: LedgerDatabase) -> None:
    transaction = db.start_transaction()
    values = transaction.execute("SELECT VALUE txid() FROM <<0>>").values
    assert values == [transaction.transaction_id]
    transaction.commit()
