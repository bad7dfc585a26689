"""Drive ledgerdb's QLDB session API with the unmodified QLDB Python driver (pyqldb 3.2.x).

Runs in `.venv-pyqldb` (see `deploy/install-deps.sh`), never in the project venv:

    .venv-pyqldb/bin/python tests/conformance/pyqldb_flow.py PORT [LEDGER_NAME]

It does what a QLDB application does, with QldbDriver pointed at http://127.0.0.1:PORT,
dummy credentials and region us-east-1, and prints one JSON object of what it saw for
`test_pyqldb.py` to assert on. Nothing here knows it is not talking to QLDB.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from amazon.ion.simple_types import IonPyNull
from botocore.exceptions import ClientError
from pyqldb.config.retry_config import RetryConfig
from pyqldb.driver.qldb_driver import QldbDriver

PAGED_DOCUMENTS = 230  # more than one 200-value page
PER_TRANSACTION = 40  # QLDB's documents-per-transaction limit


def make_driver(port: int, ledger: str) -> QldbDriver:
    return QldbDriver(
        ledger,
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        retry_config=RetryConfig(retry_limit=8, base=5),
    )


def plain(value):
    """A JSON-friendly copy of an Ion value, keeping the type visible where JSON has none."""
    if value is None or isinstance(value, IonPyNull):
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime):
        return {"timestamp": value.isoformat()}
    if isinstance(value, bytes):
        return {"blob": value.hex()}
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    return repr(value)


def statement_error(driver: QldbDriver, statement: str) -> dict:
    try:
        driver.execute_lambda(lambda txn: list(txn.execute_statement(statement)))
    except ClientError as exc:
        error = exc.response["Error"]
        return {"code": error["Code"], "message": error["Message"]}
    return {"code": None}


def occ_conflict(port: int, ledger: str) -> dict:
    """Two drivers read the same counter, both wait until the other has read, then both
    write it: one commit wins, the other gets OccConflictException and pyqldb retries."""
    both_read = threading.Barrier(2, timeout=20)
    attempts = {"first": 0, "second": 0}
    failures: list[str] = []

    def increment(txn, name):
        attempts[name] += 1
        rows = list(txn.execute_statement("SELECT c.n FROM Counter AS c WHERE c.name = 'hits'"))
        if attempts[name] == 1:
            both_read.wait()
        txn.execute_statement(
            "UPDATE Counter AS c SET c.n = ? WHERE c.name = 'hits'", rows[0]["n"] + 1
        )

    def run(name):
        try:
            with make_driver(port, ledger) as driver:
                driver.execute_lambda(lambda txn: increment(txn, name))
        except Exception as exc:  # reported, asserted on by the test
            failures.append(f"{name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(name,)) for name in attempts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return {"attempts": attempts, "failures": failures}


def main() -> int:
    port = int(sys.argv[1])
    ledger = sys.argv[2] if len(sys.argv) > 2 else "consortium-ledger"
    out: dict = {}
    with make_driver(port, ledger) as driver:
        driver.execute_lambda(lambda txn: txn.execute_statement("CREATE TABLE Vehicle"))
        driver.execute_lambda(lambda txn: txn.execute_statement("CREATE INDEX ON Vehicle (VIN)"))
        driver.execute_lambda(lambda txn: txn.execute_statement("CREATE TABLE Counter"))
        driver.execute_lambda(lambda txn: txn.execute_statement("CREATE TABLE Numbers"))
        out["tables"] = sorted(driver.list_tables())

        vehicle = {
            "VIN": "1N4AL11D75C109151",
            "Make": "Volkswagen",
            "Year": 2011,
            "Price": Decimal("24995.50"),
            "Registered": datetime(2024, 5, 1, 12, 30, 0),
            "Plate": b"\x0b\x0c\x0e\x00",
            "Owners": [{"Name": "Raul", "Since": 2019}],
            "Color": "Silver",
        }
        inserted = driver.execute_lambda(
            lambda txn: list(txn.execute_statement("INSERT INTO Vehicle ?", vehicle))
        )
        out["inserted"] = [plain(row) for row in inserted]
        document_id = inserted[0]["documentId"]
        driver.execute_lambda(
            lambda txn: txn.execute_statement(
                "INSERT INTO Vehicle ?", {"VIN": "KM8SRDHF6EU074761", "Color": "Red"}
            )
        )
        out["by_index"] = [
            plain(row)
            for row in driver.execute_lambda(
                lambda txn: list(
                    txn.execute_statement("SELECT * FROM Vehicle WHERE VIN = ?", vehicle["VIN"])
                )
            )
        ]
        out["updated"] = [
            plain(row)
            for row in driver.execute_lambda(
                lambda txn: list(
                    txn.execute_statement(
                        "UPDATE Vehicle AS v SET v.Color = ? WHERE v.VIN = ?",
                        "Blue",
                        vehicle["VIN"],
                    )
                )
            )
        ]
        out["deleted"] = [
            plain(row)
            for row in driver.execute_lambda(
                lambda txn: list(
                    txn.execute_statement(
                        "DELETE FROM Vehicle AS v WHERE v.VIN = ?", vehicle["VIN"]
                    )
                )
            )
        ]
        out["remaining"] = sorted(
            row["VIN"]
            for row in driver.execute_lambda(
                lambda txn: list(txn.execute_statement("SELECT v.VIN FROM Vehicle AS v"))
            )
        )
        history = driver.execute_lambda(
            lambda txn: list(
                txn.execute_statement(
                    "SELECT h.metadata.version AS version, h.data.Color AS color "
                    "FROM history(Vehicle) AS h WHERE h.metadata.id = ?",
                    document_id,
                )
            )
        )
        out["history"] = sorted((plain(row) for row in history), key=lambda r: r["version"])

        # A lambda that aborts writes nothing.
        try:
            driver.execute_lambda(
                lambda txn: (
                    txn.execute_statement("INSERT INTO Vehicle ?", {"VIN": "ABORTED"}),
                    txn.abort(),
                )
            )
        except Exception as exc:  # pyqldb raises LambdaAbortedError
            out["abort_error"] = type(exc).__name__
        out["aborted_visible"] = len(
            driver.execute_lambda(
                lambda txn: list(
                    txn.execute_statement("SELECT * FROM Vehicle WHERE VIN = 'ABORTED'")
                )
            )
        )

        # Paging: more values than one page; the cursor fetches the rest with FetchPage.
        for first in range(0, PAGED_DOCUMENTS, PER_TRANSACTION):
            numbers = range(first, min(first + PER_TRANSACTION, PAGED_DOCUMENTS))
            driver.execute_lambda(
                lambda txn, numbers=numbers: [
                    txn.execute_statement("INSERT INTO Numbers ?", {"n": n}) for n in numbers
                ]
            )
        numbers = driver.execute_lambda(
            lambda txn: [row["n"] for row in txn.execute_statement("SELECT n FROM Numbers")]
        )
        out["paged"] = {"count": len(numbers), "distinct": len(set(numbers))}

        driver.execute_lambda(
            lambda txn: txn.execute_statement("INSERT INTO Counter ?", {"name": "hits", "n": 0})
        )
        out["occ"] = occ_conflict(port, ledger)
        out["counter"] = driver.execute_lambda(
            lambda txn: [
                row["n"]
                for row in txn.execute_statement(
                    "SELECT c.n FROM Counter AS c WHERE c.name = 'hits'"
                )
            ]
        )

        out["syntax_error"] = statement_error(driver, "SELEC * FROM Vehicle")
        out["unknown_table_error"] = statement_error(driver, "SELECT * FROM NoSuchTable")
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
