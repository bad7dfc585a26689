"""The unmodified QLDB Python driver (pyqldb 3.2.x) against ledgerdb's QLDB session API.

The server runs as its own process (`consortium ledger serve --qldb-port`) on a fresh ledger;
the driver runs in `.venv-pyqldb` (pinned by `tests/conformance/pyqldb-requirements.txt`,
created by `deploy/install-deps.sh`), because pyqldb needs botocore's qldb-session model
and amazon.ion <= 0.9.3, which the project venv cannot have. The driver script prints what
it saw as JSON; this test asserts on it.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.ledger_serve import start_qldb_server, stop

ROOT = Path(__file__).resolve().parents[2]
PYQLDB_PYTHON = ROOT / ".venv-pyqldb" / "bin" / "python"
FLOW = Path(__file__).with_name("pyqldb_flow.py")
LEDGER_NAME = "vehicle-registration"

pytestmark = pytest.mark.skipif(
    not PYQLDB_PYTHON.exists(),
    reason=f"{PYQLDB_PYTHON} is missing: run `bash deploy/install-deps.sh` to create it",
)


@pytest.fixture(scope="module")
def server_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    ledger = tmp_path_factory.mktemp("qldb") / "ledger"
    arguments = ["--ledger", str(ledger), "--port", "0", "--ledger-name", LEDGER_NAME]
    process, port = start_qldb_server(arguments)
    try:
        yield port
    finally:
        stop(process)


@pytest.fixture(scope="module")
def flow(server_port: int) -> dict[str, Any]:
    completed = subprocess.run(
        [str(PYQLDB_PYTHON), str(FLOW), str(server_port), LEDGER_NAME],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout)


def test_tables_and_index_are_created_and_listed(flow: dict[str, Any]) -> None:
    assert flow["tables"] == ["Counter", "Numbers", "Vehicle"]


def test_insert_with_parameters_returns_document_ids(flow: dict[str, Any]) -> None:
    [inserted] = flow["inserted"]
    assert re.fullmatch(r"[A-Za-z0-9]{22}", inserted["documentId"])


def test_select_by_index_returns_the_document_with_its_ion_types(flow: dict[str, Any]) -> None:
    [vehicle] = flow["by_index"]
    assert vehicle["VIN"] == "1N4AL11D75C109151"
    assert vehicle["Price"] == {"decimal": "24995.50"}
    assert vehicle["Registered"]["timestamp"].startswith("2024-05-01T12:30:00")
    assert vehicle["Plate"] == {"blob": "0b0c0e00"}
    assert vehicle["Owners"] == [{"Name": "Raul", "Since": 2019}]


def test_update_delete_and_history(flow: dict[str, Any]) -> None:
    document_id = flow["inserted"][0]["documentId"]
    assert flow["updated"] == [{"documentId": document_id}]
    assert flow["deleted"] == [{"documentId": document_id}]
    assert flow["remaining"] == ["KM8SRDHF6EU074761"]
    versions = [(row["version"], row.get("color")) for row in flow["history"]]
    assert versions == [(0, "Silver"), (1, "Blue"), (2, None)]


def test_an_aborted_lambda_writes_nothing(flow: dict[str, Any]) -> None:
    assert flow["abort_error"] == "LambdaAbortedError"
    assert flow["aborted_visible"] == 0


def test_results_larger_than_a_page_are_fetched_whole(flow: dict[str, Any]) -> None:
    assert flow["paged"] == {"count": 230, "distinct": 230}


def test_occ_conflict_is_retried_to_success(flow: dict[str, Any]) -> None:
    assert flow["occ"]["failures"] == []
    attempts = flow["occ"]["attempts"]
    assert sorted(attempts.values()) == [1, 2]  # exactly one of them conflicted and retried
    assert flow["counter"] == [2]


def test_statement_errors_surface_as_the_drivers_exceptions(flow: dict[str, Any]) -> None:
    assert flow["syntax_error"]["code"] == "BadRequestException"
    assert "line 1, column" in flow["syntax_error"]["message"]
    assert flow["unknown_table_error"]["code"] == "BadRequestException"
    assert "NoSuchTable" in flow["unknown_table_error"]["message"]
