"""SigV4 as botocore computes it: botocore signs, we verify; we sign, botocore agrees."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from network.controlplane import sigv4
from network.controlplane.errors import AccessDeniedException

KEY = sigv4.Key("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "444455556666")
URL = (
    "http://127.0.0.1:7100/tags/arn%3Aaws%3Amanagedblockchain%3Aus-east-1%3A1%3Anetworks%2Fn-1"
    "?tagKeys=b&tagKeys=a%20b"
)


def botocore_signed(method: str, url: str, body: bytes, secret: str = KEY.secret) -> AWSRequest:
    request = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "x"})
    credentials = Credentials(KEY.access_key_id, secret)
    SigV4Auth(credentials, "managedblockchain", "us-east-1").add_auth(request)
    return request


def check(request: AWSRequest, key: sigv4.Key | None = KEY) -> None:
    parts = urlsplit(request.url)
    headers = {name.lower(): value for name, value in request.headers.items()}
    headers["host"] = parts.netloc
    auth = sigv4.parse_authorization(headers["authorization"])
    body = request.data or b""
    now = dt.datetime.now(dt.UTC)
    sigv4.verify(auth, key, request.method, parts.path, parts.query, headers, body, now)


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "PATCH"])
def test_botocore_signatures_verify(method: str) -> None:
    check(botocore_signed(method, URL, b'{"Tags": {"k": "v"}}'))


def test_a_wrong_secret_or_a_changed_body_fails() -> None:
    with pytest.raises(AccessDeniedException, match="does not match"):
        check(botocore_signed("POST", URL, b"{}", secret="wrong"))
    request = botocore_signed("POST", URL, b"{}")
    request.data = b'{"x": 1}'
    with pytest.raises(AccessDeniedException, match="does not match"):
        check(request)
    with pytest.raises(AccessDeniedException, match="credentials file"):
        check(botocore_signed("GET", URL, b""), key=None)


def test_our_signature_is_botocores() -> None:
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    parts = urlsplit(URL)
    ours = sigv4.sign(
        "GET",
        parts.netloc,
        parts.path,
        parts.query,
        b"",
        KEY.access_key_id,
        KEY.secret,
        "us-east-1",
        now,
    )
    request = AWSRequest(method="GET", url=URL, data=b"")
    request.context["timestamp"] = now.strftime("%Y%m%dT%H%M%SZ")
    signer = SigV4Auth(Credentials(KEY.access_key_id, KEY.secret), "managedblockchain", "us-east-1")
    request.headers["X-Amz-Date"] = now.strftime("%Y%m%dT%H%M%SZ")
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    assert ours["authorization"].endswith(f"Signature={expected}")


def test_accounts() -> None:
    keys = {KEY.access_key_id: KEY}
    assert sigv4.account_for("AKIDEXAMPLE", keys) == "444455556666"
    assert sigv4.account_for("222222222222", keys) == "222222222222"
    assert sigv4.account_for("AKIASOMEONE", keys) == "123456789012"


def test_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "credentials"
    path.write_text(
        "[a]\naws_access_key_id = AK1\naws_secret_access_key = s1\naws_account_id = 111122223333\n"
        "[no-account]\naws_access_key_id = AK2\naws_secret_access_key = s2\n"
    )
    assert sigv4.load_credentials(path) == {"AK1": sigv4.Key("AK1", "s1", "111122223333")}
    path.write_text(
        "[a]\naws_access_key_id = AK1\naws_secret_access_key = s\naws_account_id = 12\n"
    )
    with pytest.raises(ValueError, match="12 digits"):
        sigv4.load_credentials(path)


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic abc", "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/x, Signature=ab"],
)
def test_malformed_authorization(header: str | None) -> None:
    with pytest.raises(AccessDeniedException):
        sigv4.parse_authorization(header)
