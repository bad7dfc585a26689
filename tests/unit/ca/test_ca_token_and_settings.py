"""Fabric CA tokens and ca.yaml settings."""

from __future__ import annotations

import base64

import pytest

from ca.errors import SettingsError, SignatureError, TokenError
from ca.settings import CaSettings
from ca.token import make_token, signed_payload, verify_token


def test_token_round_trip_and_what_it_covers(signer) -> None:
    body = b'{"id":"user1"}'
    token = make_token(signer, signer.certificate_pem, "POST", "/api/v1/register", body)
    cert_b64, _signature = token.split(".")
    assert base64.b64decode(cert_b64) == signer.certificate_pem
    payload = signed_payload("POST", "/api/v1/register", body, signer.certificate_pem)
    assert payload.startswith(b"POST." + base64.b64encode(b"/api/v1/register") + b".")
    assert verify_token(token, "POST", "/api/v1/register", body).public_key()
    for method, uri, other_body in [
        ("PUT", "/api/v1/register", body),
        ("POST", "/api/v1/register?ca=x", body),
        ("POST", "/api/v1/register", b'{"id":"user2"}'),
    ]:
        with pytest.raises(SignatureError):
            verify_token(token, method, uri, other_body)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("nodot", "not '<b64 certificate>.<b64 signature>'"),
        ("!!.!!", "not base64"),
        (base64.b64encode(b"junk").decode() + ".AAAA", "token certificate is not a PEM"),
    ],
)
def test_malformed_tokens(token: str, message: str) -> None:
    with pytest.raises(TokenError, match=message):
        verify_token(token, "POST", "/api/v1/register", b"")


def test_settings_round_trip_and_validation(tmp_path) -> None:
    path = tmp_path / "ca.yaml"
    CaSettings(mspid="Org2MSP", max_enrollments=3, affiliations=("org2",)).save(path)
    loaded = CaSettings.load(path)
    assert loaded.mspid == "Org2MSP" and loaded.affiliations == ("org2",)
    with pytest.raises(SettingsError, match="max_enrollments"):
        CaSettings(max_enrollments=-2)
    with pytest.raises(SettingsError, match="must differ"):
        CaSettings(name="x", tls_name="x")
    path.write_text("surprise: 1\n")
    with pytest.raises(SettingsError, match="unknown field"):
        CaSettings.load(path)
    path.write_text("cert_expiry_days: soon\n")
    with pytest.raises(SettingsError, match="whole number"):
        CaSettings.load(path)
