"""SigV4 as the QLDB APIs check it: requests signed by botocore's own signer verify, and
every change a signature exists to catch is refused with the reason QLDB gives."""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials
from multidict import CIMultiDict

from ledgerdb.errors import InvalidInput
from ledgerdb.sigv4 import Credentials, SignatureProblem, SignedRequest, verify

KEYS = Credentials({"AKIDONE": "secret-one"})
NOW = datetime.datetime(2026, 12, 6, 23, 0, tzinfo=datetime.UTC)
# A control-plane path as boto3 sends it: the tag ARN percent-encoded, a query string.
PATH = "/tags/arn%3Aaws%3Aqldb%3Aeu-west-1%3A000000000000%3Aledger%2Fdmv?tagKeys=a%20b&tagKeys=c"


def _signed(
    method: str = "DELETE",
    path: str = PATH,
    body: bytes = b"",
    secret: str = "secret-one",
    at: datetime.datetime = NOW,
) -> SignedRequest:
    request = AWSRequest(method, f"http://127.0.0.1:7000{path}", data=body)
    signer = SigV4Auth(BotoCredentials("AKIDONE", secret), "qldb", "eu-west-1")
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        signer.add_auth(request)
    headers = CIMultiDict(request.headers.items())
    headers.setdefault("Host", "127.0.0.1:7000")
    return SignedRequest(method, path, headers, body)


def test_a_botocore_signature_verifies() -> None:
    assert verify(_signed(), "qldb", KEYS, NOW).access_key_id == "AKIDONE"
    posted = _signed("POST", "/ledgers/dmv/digest", b'{"x": 1}')
    assert verify(posted, "qldb", KEYS, NOW).region == "eu-west-1"


@pytest.mark.parametrize(
    ("request_", "kind", "says"),
    [
        (_signed(secret="another"), "mismatch", "does not match"),
        (
            SignedRequest("POST", "/", _signed("POST", "/", b"{}").headers, b'{"x": 2}'),
            "mismatch",
            "does not match",
        ),
        (
            SignedRequest("GET", PATH.replace("a%20b", "zz"), _signed().headers, b""),
            "mismatch",
            "does not match",
        ),
        (_signed(at=NOW - datetime.timedelta(minutes=6)), "expired", "Signature expired"),
        (_signed(at=NOW + datetime.timedelta(minutes=6)), "expired", "not yet current"),
    ],
)
def test_a_changed_request_is_refused(request_: SignedRequest, kind: str, says: str) -> None:
    with pytest.raises(SignatureProblem) as refused:
        verify(request_, "qldb", KEYS, NOW)
    assert refused.value.kind == kind and says in str(refused.value)


def test_unknown_keys_other_services_and_missing_headers_are_refused() -> None:
    signed = _signed()
    for credentials, service, kind in (
        (Credentials({"AKIDTWO": "x"}), "qldb", "unknown_key"),
        (KEYS, "s3", "scope"),
    ):
        with pytest.raises(SignatureProblem) as refused:
            verify(signed, service, credentials, NOW)
        assert refused.value.kind == kind
    with pytest.raises(SignatureProblem) as refused:
        verify(SignedRequest("GET", "/", CIMultiDict(), b""), "qldb", KEYS, NOW)
    assert refused.value.kind == "missing"
    # Without credentials the shape is checked, the signature not (the old behaviour).
    assert verify(_signed(secret="anything"), "qldb", None, NOW).access_key_id == "AKIDONE"


def test_credentials_files_are_checked(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"AKIDONE": "secret-one"}))
    assert Credentials.load(good) == KEYS
    for text in ("[1]", "{}", '{"k": ""}', "not json"):
        bad = tmp_path / "bad.json"
        bad.write_text(text)
        with pytest.raises(InvalidInput, match="--credentials"):
            Credentials.load(bad)


@pytest.mark.parametrize(
    ("files", "says"),
    [
        ({"--credentials": "{}"}, "--credentials needs --qldb-port"),
        ({"--credentials": "[]", "--qldb-port": None}, "JSON object of access key id"),
        ({"--policies": "{}", "--qldb-port": None}, "--policies needs --credentials"),
        (
            {"--credentials": '{"AK": "s"}', "--policies": '{"AK": 1}', "--qldb-port": None},
            "list of policy statements",
        ),
    ],
)
def test_ledger_serve_refuses_bad_credentials_and_policies_before_serving(
    tmp_path: Path, files: dict[str, str | None], says: str
) -> None:
    from click.testing import CliRunner

    from network.cli import cli

    arguments = ["ledger", "serve", "--ledger", str(tmp_path / "db")]
    for option, text in files.items():
        if text is None:
            arguments += [option, "0"]
            continue
        path = tmp_path / f"{option.strip('-')}.json"
        path.write_text(text)
        arguments += [option, str(path)]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code != 0 and says in result.output
