"""AWS's Python DMV tutorial, unchanged, against ``consortium ledger serve`` (issue 25).

The tutorial (aws-samples/amazon-qldb-dmv-sample-python) is not in this repository and
CI cannot fetch it, so this test runs only when ``DMV_TUTORIAL`` names a checkout of it:

    git clone https://github.com/aws-samples/amazon-qldb-dmv-sample-python /tmp/dmv
    DMV_TUTORIAL=/tmp/dmv .venv/bin/pytest tests/conformance/test_dmv_tutorial.py

It runs the tutorial's own integration test (21 steps: ledger, tables, indexes, inserts,
Ion types, queries, history, redaction, deletion protection, tags, digest, GetRevision
and GetBlock verification, the S3 export and its hash-chain validation) in
``.venv-pyqldb`` with only the standard endpoint variables set: QLDB's two at the ledger
server, which verifies every SigV4 signature (``--credentials``); everything else (S3,
IAM, STS, KMS) at moto's server.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.test_qldb_control import (  # noqa: F401  (s3_endpoint: a fixture)
    MOTO_SERVER,
    PYQLDB_PYTHON,
    _stop,
    s3_endpoint,
)
from tests.support.ledger_serve import start_qldb_server

TUTORIAL = os.environ.get("DMV_TUTORIAL", "")
RUNNER = Path(__file__).with_name("dmv_tutorial_runner.py")
KEY, SECRET = "AKIDDMVTUTORIAL", "dmv-tutorial-secret"

pytestmark = [
    pytest.mark.skipif(
        not (TUTORIAL and Path(TUTORIAL, "tests", "test_integration.py").is_file()),
        reason="set DMV_TUTORIAL to a checkout of aws-samples/amazon-qldb-dmv-sample-python",
    ),
    pytest.mark.skipif(not PYQLDB_PYTHON.exists(), reason=f"{PYQLDB_PYTHON} is missing"),
    pytest.mark.skipif(MOTO_SERVER is None, reason="moto_server is not installed"),
]


@pytest.fixture
def ledger_port(tmp_path: Path, s3_endpoint: str) -> Iterator[int]:  # noqa: F811
    keys = tmp_path / "credentials.json"
    keys.write_text(json.dumps({KEY: SECRET}))
    process, port = start_qldb_server(
        [
            *("--ledgers", str(tmp_path / "ledgers")),
            *("--s3-endpoint", s3_endpoint, "--credentials", str(keys)),
        ],
        _aws(KEY, SECRET),
    )
    try:
        yield port
    finally:
        _stop(process)


def _aws(key: str, secret: str) -> dict[str, str]:
    # Not us-east-1: the tutorial's CreateBucket names its region as location constraint.
    return {
        "AWS_ACCESS_KEY_ID": key,
        "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


def test_the_dmv_tutorial_runs_unchanged(ledger_port: int, s3_endpoint: str) -> None:  # noqa: F811
    endpoint = f"http://127.0.0.1:{ledger_port}"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **_aws(KEY, SECRET),
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ENDPOINT_URL_QLDB": endpoint,
        "AWS_ENDPOINT_URL_QLDB_SESSION": endpoint,
    }
    completed = subprocess.run(
        [str(PYQLDB_PYTHON), str(RUNNER), TUTORIAL, "consortium"],
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )
    assert completed.returncode == 0, completed.stdout[-6000:] + completed.stderr[-3000:]
    assert re.search(r"^Ran 21 tests", completed.stdout, re.MULTILINE), completed.stdout[-2000:]
    assert "Validating qldb hash chain" in completed.stdout + completed.stderr
