"""The unmodified boto3 ``qldb`` client against ledgerdb's QLDB control plane (issue 25).

Three real processes: ``consortium ledger serve --ledgers DIR --qldb-port`` (both QLDB APIs
on one port), an S3-compatible server (moto's, from PyPI) for the journal export, and the
client script (``qldb_control_flow.py``) in ``.venv-pyqldb``, whose botocore still has the
``qldb`` model, pointed at the server by the standard ``AWS_ENDPOINT_URL_*`` variables
only. Proofs are checked there by a verifier written from AWS's published algorithm.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from proto.ports import free_port as _free_port
from tests.support.ledger_serve import start_qldb_server, stop

ROOT = Path(__file__).resolve().parents[2]
PYQLDB_PYTHON = ROOT / ".venv-pyqldb" / "bin" / "python"
MOTO_SERVER = shutil.which("moto_server", path=str(Path(sys.executable).parent))
FLOW = Path(__file__).with_name("qldb_control_flow.py")
LEDGER = "vehicle-registration"

pytestmark = [
    pytest.mark.skipif(
        not PYQLDB_PYTHON.exists(),
        reason=f"{PYQLDB_PYTHON} is missing: run `bash deploy/install-deps.sh` to create it",
    ),
    pytest.mark.skipif(MOTO_SERVER is None, reason="moto_server (moto[server]) is not installed"),
]


_stop = stop


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    assert MOTO_SERVER is not None
    process = subprocess.Popen(
        [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            raise AssertionError("moto_server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@pytest.fixture(scope="module")
def qldb_port(tmp_path_factory: pytest.TempPathFactory, s3_endpoint: str) -> Iterator[int]:
    folder = tmp_path_factory.mktemp("qldb-control")
    ledgers = folder / "ledgers"
    secrets = folder / "credentials.json"  # every request's SigV4 signature is verified
    secrets.write_text(json.dumps({ACCESS_KEY: SECRET_KEY, READER_KEY: READER_SECRET}))
    policies = folder / "policies.json"  # what each key may run on STANDARD-mode ledgers
    policies.write_text(json.dumps(POLICIES))
    process, port = start_qldb_server(
        [
            *("--ledgers", str(ledgers), "--s3-endpoint", s3_endpoint),
            *("--credentials", str(secrets), "--policies", str(policies)),
        ],
        _credentials(),
    )
    try:
        yield port
    finally:
        _stop(process)


def _utc_now() -> datetime.datetime:
    """botocore's clock: naive UTC."""
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


ACCESS_KEY = "AKIDLEDGERTEST"
SECRET_KEY = "ledger-secret-for-tests"
READER_KEY = "AKIDREADER"
READER_SECRET = "reader-secret-for-tests"
POLICIES = {
    ACCESS_KEY: {"Statement": [{"Effect": "Allow", "Action": "qldb:*", "Resource": "*"}]},
    READER_KEY: [
        {
            "Effect": "Allow",
            "Action": "qldb:SendCommand",
            "Resource": "arn:aws:qldb:*:*:ledger/standard",
        },
        {
            "Effect": "Allow",
            "Action": ["qldb:PartiQLSelect"],
            "Resource": "arn:aws:qldb:*:*:ledger/standard/table/Vehicle",
        },
    ],
}


def _credentials() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "eu-west-1",
    }


@pytest.fixture(scope="module")
def flow(qldb_port: int, s3_endpoint: str) -> dict[str, Any]:
    endpoint = f"http://127.0.0.1:{qldb_port}"
    environment = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **_credentials(),
        "AWS_ENDPOINT_URL_QLDB": endpoint,
        "AWS_ENDPOINT_URL_QLDB_SESSION": endpoint,
        "AWS_ENDPOINT_URL_S3": s3_endpoint,
        "READER_ACCESS_KEY_ID": READER_KEY,
        "READER_SECRET_ACCESS_KEY": READER_SECRET,
    }
    completed = subprocess.run(
        [str(PYQLDB_PYTHON), str(FLOW), LEDGER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env=environment,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    return json.loads(completed.stdout)


def test_ledgers_are_created_listed_and_described(flow: dict[str, Any]) -> None:
    assert flow["created"] == {"Name": LEDGER, "State": "ACTIVE", "DeletionProtection": True}
    assert flow["arn"] == f"arn:aws:qldb:eu-west-1:000000000000:ledger/{LEDGER}"
    assert flow["listed"] == ["scratch", LEDGER]
    assert flow["first_page"] == [1, True]
    assert flow["described"] == "ALLOW_ALL"


def test_errors_carry_qldb_codes(flow: dict[str, Any]) -> None:
    errors = flow["errors"]
    assert (errors["missing"]["code"], errors["missing"]["status"]) == (
        "ResourceNotFoundException",
        404,
    )
    assert errors["duplicate"]["code"] == "ResourceAlreadyExistsException"
    assert errors["bad_name"]["code"] == "InvalidParameterException"
    assert "Name" in errors["bad_name"]["message"]
    assert errors["protected"]["code"] == "ResourcePreconditionNotMetException"
    assert "deletion protection" in errors["protected"]["message"]
    assert errors["kinesis"]["code"] == "InvalidParameterException"
    assert "not supported" in errors["kinesis"]["message"]
    assert errors["other_strand"]["code"] == "InvalidParameterException"
    assert "strandId" in errors["other_strand"]["message"]
    assert errors["past_tip"]["code"] == "InvalidParameterException"
    assert errors["deleted"]["code"] == "ResourceNotFoundException"


def test_revision_proofs_fold_from_the_revision_hash_to_the_digest(flow: dict[str, Any]) -> None:
    revisions = flow["revisions"]
    assert len(revisions) == 3
    assert all(
        item == {"verified": True, "tampered": False, "same_hash": True} for item in revisions
    )


def test_block_proofs_fold_from_the_block_hash_and_blocks_chain(flow: dict[str, Any]) -> None:
    assert len(flow["blocks"]) >= 3
    assert all(item == {"verified": True, "chained": True} for item in flow["blocks"])


def test_a_redacted_revision_keeps_its_hash_and_proof(flow: dict[str, Any]) -> None:
    redaction = flow["redaction"]
    assert redaction["answer_version"] == 0
    assert redaction["history"] == [[False, True], [True, False]]  # dataHash, not data
    assert "latest revision" in redaction["latest_refused"]
    assert flow["redacted_revision"] == {"has_data": False, "has_data_hash": True, "verified": True}


def test_standard_mode_runs_only_what_a_policy_allows(flow: dict[str, Any]) -> None:
    seen = flow["permissions"]
    assert seen["select"] == 1
    for denied, action in (
        ("insert", "PartiQLInsert"),
        ("other_table", "PartiQLSelect"),
        ("history", "PartiQLHistoryFunction"),
    ):
        code, message = seen[denied]
        assert code == "AccessDeniedException"
        assert f"not authorized to perform: qldb:{action} on resource: arn:aws:qldb:" in message
        assert "ledger/standard/table/" in message
    # ALLOW_ALL keeps running everything; the switch applies to an open driver at once.
    assert seen["insert_allow_all"] == 1 and seen["count_allow_all"] == 2


def test_tags_are_added_and_removed(flow: dict[str, Any]) -> None:
    assert flow["tags"] == {"team": "dmv", "stage": "test"}


def test_export_to_s3_validates_block_by_block(flow: dict[str, Any]) -> None:
    export = flow["export"]
    assert export["status"] == "COMPLETED"
    assert export["started_manifest"]
    assert export["blocks"] >= 3 and export["broken"] == []
    # AWS's Java tutorial's block check, on blocks of one and of several revisions.
    assert export["java_block_check"] == {}
    assert export["multi_revision_blocks"] >= 1
    assert export["tutorial_split"]
    assert export["last_is_digest_tip"]
    assert export["listed"] and export["listed_for_ledger"] == 1
    assert export["missing"]["code"] == "ResourceNotFoundException"


def test_protection_off_then_delete(flow: dict[str, Any]) -> None:
    assert flow["unprotected"] is False
    assert flow["mode"] == "STANDARD"
    assert flow["listed_after"] == ["scratch"]


# --- bad input at the HTTP level: one clear error, nothing written, the server keeps serving


def _raw(
    port: int,
    method: str,
    path: str,
    body: bytes = b"{}",
    signed: bool = True,
    headers: dict[str, str] | None = None,
    **change: Any,
) -> tuple:
    """One request, signed by botocore's own SigV4 signer unless ``signed`` is False;
    ``change`` signs it wrongly: another ``secret`` or ``access_key``, or ``signed_at``."""
    import http.client

    sent = dict(headers or {"Content-Type": "application/json"})
    if signed:
        sent = _signed(method, f"http://127.0.0.1:{port}{path}", body, sent, **change)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, body, sent)
    response = connection.getresponse()
    answer = json.loads(response.read())
    connection.close()
    return response.status, response.getheader("x-amzn-ErrorType"), answer


def _signed(
    method: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    secret: str = SECRET_KEY,
    access_key: str = ACCESS_KEY,
    signed_at: datetime.datetime | None = None,
) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method, url, data=body, headers=headers)
    signer = SigV4Auth(Credentials(access_key, secret), "qldb", "eu-west-1")
    moment = signed_at or _utc_now()
    with mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        signer.add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "names"),
    [
        ("GET", "/no/such/path", b"", 404, "UnknownOperationException", "/no/such/path"),
        ("POST", "/ledgers", b"{not json", 400, "InvalidParameterException", "JSON"),
        ("POST", "/ledgers", b'{"Name": "raw"}', 400, "InvalidParameterException", "Mode"),
        (
            "POST",
            "/ledgers",
            b'{"Name": "raw", "PermissionsMode": "ALLOW_ALL", "DeletionProtection": "no"}',
            400,
            "InvalidParameterException",
            "DeletionProtection",
        ),
        (
            "POST",
            "/ledgers/scratch/journal-s3-exports",
            b'{"InclusiveStartTime": 0, "ExclusiveEndTime": 1, "RoleArn": "arn:aws:iam::0:role/r",'
            b' "S3ExportConfiguration": {"Bucket": "a b", "Prefix": ""}}',
            400,
            "InvalidParameterException",
            "Bucket",
        ),
        (
            "POST",
            "/ledgers/scratch/revision",
            b'{"BlockAddress": {"IonText": "{strandId: "}, "DocumentId": "x"}',
            400,
            "InvalidParameterException",
            "BlockAddress",
        ),
        ("PATCH", "/ledgers/nothing-here", b"{}", 404, "ResourceNotFoundException", "nothing"),
    ],
)
def test_bad_requests_get_one_qldb_error_and_change_nothing(
    flow: dict[str, Any],
    qldb_port: int,
    method: str,
    path: str,
    body: bytes,
    status: int,
    code: str,
    names: str,
) -> None:
    answer = _raw(qldb_port, method, path, body)
    assert answer[:2] == (status, code)
    assert answer[2]["__type"] == code and names in answer[2]["Message"]
    listed = _raw(qldb_port, "GET", "/ledgers", b"")
    assert [item["Name"] for item in listed[2]["Ledgers"]] == ["scratch"]
    exports = _raw(qldb_port, "GET", "/ledgers/scratch/journal-s3-exports", b"")
    assert exports[2]["JournalS3Exports"] == []


def test_an_unsigned_request_is_refused(qldb_port: int) -> None:
    status, code, body = _raw(qldb_port, "GET", "/ledgers", b"", signed=False)
    assert (status, code, body["__type"]) == (
        403,
        "MissingAuthenticationTokenException",
        "MissingAuthenticationTokenException",
    )


@pytest.mark.parametrize(
    ("change", "code", "says"),
    [
        ({"secret": "not-the-secret"}, "InvalidSignatureException", "does not match"),
        ({"access_key": "AKIDSTRANGER"}, "UnrecognizedClientException", "invalid"),
        (
            {"signed_at": _utc_now() - datetime.timedelta(minutes=20)},
            "InvalidSignatureException",
            "Signature expired",
        ),
    ],
)
def test_sigv4_is_verified(qldb_port: int, change: dict[str, Any], code: str, says: str) -> None:
    """A wrong secret, an unknown key or an old date is refused with QLDB's error code on
    both APIs; the same request signed right is answered."""
    for path, body, target in (
        ("/ledgers", b"", None),
        ("/", b'{"StartSession": {"LedgerName": "scratch"}}', "QLDBSession.SendCommand"),
    ):
        headers = {"Content-Type": "application/json"}
        if target is not None:
            headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": target}
        method = "GET" if target is None else "POST"
        status, _, answer = _raw(qldb_port, method, path, body, headers=headers, **change)
        assert status == 403
        assert answer["__type"] == code and says in (answer.get("message") or answer["Message"])
    assert _raw(qldb_port, "GET", "/ledgers", b"")[0] == 200
