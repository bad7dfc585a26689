"""AWS Signature Version 4: who is calling, and (in strict mode) proof that they hold the key.

The account behind an access key id comes from an AWS shared-credentials file (its
``aws_account_id`` key, as the AWS CLI v2 writes it); failing that, a 12-digit access
key id *is* the account id; failing that, the account is 123456789012. So several
local accounts need no set-up: ``AWS_ACCESS_KEY_ID=111111111111`` is account
111111111111. In strict mode the key must be in the credentials file and the signature
is recomputed with its secret, byte for byte as botocore computes it.

The same canonicalisation signs the CLI's own requests (``sign``); the algorithm itself
(canonical request, signing key, signature) is ``ledgerdb.sigv4``'s, which the QLDB
APIs verify with, so one module holds it for every side.
"""

from __future__ import annotations

import configparser
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ledgerdb.sigv4 import ALGORITHM, Authorization, canonical_request, signature
from network.controlplane.errors import AccessDeniedException
from network.controlplane.resources import DEFAULT_ACCOUNT

SERVICE = "managedblockchain"
MAX_SKEW = timedelta(minutes=15)
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class Key:
    access_key_id: str
    secret: str
    account: str


def load_credentials(path: Path) -> dict[str, Key]:
    """Keys from an AWS shared-credentials file; sections without an account id are skipped."""
    parser = configparser.ConfigParser()
    try:
        read = parser.read(path)
    except configparser.Error as exc:
        raise ValueError(f"credentials file {path} is not an INI file: {exc}") from None
    if not read:
        raise ValueError(f"credentials file {path} cannot be read")
    keys = {}
    for section in parser.sections():
        entry = parser[section]
        key_id, secret = entry.get("aws_access_key_id"), entry.get("aws_secret_access_key")
        account = entry.get("aws_account_id")
        if key_id and secret and account:
            if not (len(account) == 12 and account.isdigit()):
                raise ValueError(f"[{section}] aws_account_id {account!r} is not 12 digits")
            keys[key_id] = Key(key_id, secret, account)
    return keys


def parse_authorization(header: str | None) -> Authorization:
    if not header:
        raise AccessDeniedException("Request is not signed: the Authorization header is missing.")
    match = _AUTH.match(header.strip())
    if match is None:
        raise AccessDeniedException("Authorization header is not an AWS4-HMAC-SHA256 signature.")
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise AccessDeniedException(f"Credential scope '{match['credential']}' is malformed.")
    key_id, date, region, service, _ = parts
    headers = tuple(match["headers"].split(";"))
    return Authorization(key_id, date, region, service, headers, match["signature"])


def account_for(access_key_id: str, keys: Mapping[str, Key]) -> str:
    known = keys.get(access_key_id)
    if known is not None:
        return known.account
    if len(access_key_id) == 12 and access_key_id.isdigit():
        return access_key_id
    return DEFAULT_ACCOUNT


def payload_hash(headers: Mapping[str, str], body: bytes) -> str:
    return headers.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest()


def verify(
    auth: Authorization,
    key: Key | None,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> None:
    """Raise AccessDeniedException unless the request was signed with ``key``'s secret."""
    if key is None:
        raise AccessDeniedException(
            f"Access key {auth.access_key_id} is not in the credentials file (strict mode)."
        )
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise AccessDeniedException("X-Amz-Date header is missing or malformed.") from None
    if abs(now - signed_at) > MAX_SKEW:
        raise AccessDeniedException(
            f"Signature expired: signed at {amz_date}, now {now:%Y%m%dT%H%M%SZ}."
        )
    if "host" not in auth.signed_headers:
        raise AccessDeniedException("The Host header must be signed.")
    canonical = canonical_request(
        method, raw_path, raw_query, headers, auth.signed_headers, payload_hash(headers, body)
    )
    expected = signature(key.secret, amz_date, auth.scope, canonical)
    if not hmac.compare_digest(expected, auth.signature):
        raise AccessDeniedException(
            "The request signature we calculated does not match the signature you provided."
        )


def sign(
    method: str,
    host: str,
    raw_path: str,
    raw_query: str,
    body: bytes,
    access_key_id: str,
    secret: str,
    region: str,
    now: datetime,
) -> dict[str, str]:
    """Headers that sign a request as botocore would (host, x-amz-date, content hash)."""
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    headers = {"host": host, "x-amz-date": amz_date}
    signed = ("host", "x-amz-date")
    scope = f"{now:%Y%m%d}/{region}/{SERVICE}/aws4_request"
    canonical = canonical_request(
        method, raw_path, raw_query, headers, signed, hashlib.sha256(body).hexdigest()
    )
    headers["authorization"] = (
        f"{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={';'.join(signed)}, "
        f"Signature={signature(secret, amz_date, scope, canonical)}"
    )
    return headers
