"""Read a running analytics node's database with the unmodified QLDB driver (pyqldb).

Runs in `.venv-pyqldb` (see `deploy/install-deps.sh`), as `test_analytics.py` does:

    .venv-pyqldb/bin/python tests/integration/analytics_pyqldb.py PORT LEDGER KEY

It selects the keys of `basic`, counts the transactions, reads KEY's history, and tries
one write (which the node must refuse); it prints one JSON object of what it saw.
"""

from __future__ import annotations

import json
import sys

from botocore.exceptions import ClientError
from pyqldb.config.retry_config import RetryConfig
from pyqldb.driver.qldb_driver import QldbDriver


def main(port: int, ledger: str, key: str) -> None:
    driver = QldbDriver(
        ledger,
        region_name="us-east-1",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        retry_config=RetryConfig(retry_limit=2),
    )
    seen: dict = {}
    seen["keys"] = sorted(
        str(key)
        for key in driver.execute_lambda(
            lambda txn: list(txn.execute_statement("SELECT VALUE b.fabric.key FROM basic AS b"))
        )
    )
    seen["transactions"] = driver.execute_lambda(
        lambda txn: list(txn.execute_statement("SELECT COUNT(*) AS n FROM transactions"))
    )[0]["n"]
    seen["history"] = [
        {"owner": str(row["owner"]), "txid": str(row["txid"])}
        for row in driver.execute_lambda(
            lambda txn: list(
                txn.execute_statement(
                    "SELECT h.data.Owner AS owner, h.data.fabric.txid AS txid "
                    "FROM history(basic) AS h WHERE h.data.fabric.key = ?",
                    key,
                )
            )
        )
    ]
    try:
        driver.execute_lambda(lambda txn: txn.execute_statement("DELETE FROM basic"))
        seen["write"] = "accepted"
    except ClientError as exc:
        seen["write"] = {"code": exc.response["Error"]["Code"], "message": str(exc)}
    driver.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
