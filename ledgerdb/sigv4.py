"""AWS Signature Version 4, checked on the server side of QLDB's two APIs.

QLDB's clients (pyqldb, boto3, the Java and Node SDKs) sign every request with SigV4; AWS
refused a request whose signature was made with another secret, or whose ``X-Amz-Date``
was more than five minutes from its clock. ``consortium ledger serve`` does the same once
it is given credentials (``--credentials``, docs/ledgerdb.md): the signature is recomputed
from the request exactly as the signer computed it (the canonical request of AWS's
SigV4 specification, path double-encoded as for every service but S3) and compared in
constant time. Without credentials the header's shape is checked and the signature is
not (the behaviour before credentials existed), which the server logs at start.

Nothing here reads a socket: ``verify`` takes the request's parts, so the same function
serves the session API and the control plane, and tests call it directly.
"""

from __future__ import annotations

import hashlib
import hmac
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

from ledgerdb.errors import LedgerError
from ledgerdb.json_files import load_json_object

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=5)  # AWS's limit between X-Amz-Date and its clock
_HEADER = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Authorization:
    """The parts of a SigV4 ``Authorization`` header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


class SignatureProblem(LedgerError):
    """Why a request's signature is refused; ``kind`` picks QLDB's error code for it.

    Kinds: ``missing`` (no header), ``incomplete`` (not a SigV4 header, or no date),
    ``scope`` (another service), ``unknown_key`` (an access key not configured),
    ``mismatch`` (another secret, or the request changed), ``expired`` (date too far off).
    The APIs translate it to their wire errors at once (``qldb_session.authenticate``).
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def parse_authorization(header: str | None) -> Authorization:
    if not header:
        raise SignatureProblem("missing", "Missing Authentication Token")
    match = _HEADER.match(header.strip())
    if match is None:
        raise SignatureProblem(
            "incomplete",
            "Authorization header is not an AWS Signature Version 4 (AWS4-HMAC-SHA256) header",
        )
    return Authorization(
        match["key"],
        match["date"],
        match["region"],
        match["service"],
        tuple(match["signed"].split(";")),
        match["signature"],
    )


@dataclass(frozen=True)
class Credentials:
    """Access key id → secret access key: the callers this server lets in."""

    secrets: Mapping[str, str]

    @classmethod
    def load(cls, path: Path) -> Credentials:
        """A JSON file ``{"AKID": "secret", …}`` (kept out of the command line and ps)."""
        value = load_json_object(
            path,
            "--credentials",
            "a JSON object of access key id → secret access key (non-empty strings)",
            _all_named_secrets,
        )
        return cls(dict(value))


def _all_named_secrets(value: dict[str, object]) -> bool:
    return bool(value) and all(
        isinstance(key, str) and key and isinstance(secret, str) and secret
        for key, secret in value.items()
    )


@dataclass(frozen=True)
class SignedRequest:
    """What SigV4 covers of one HTTP request."""

    method: str
    raw_path: str  # as sent: percent-encoded, with the query string
    headers: Mapping[str, str]  # case-insensitive (aiohttp's CIMultiDict)
    body: bytes


def verify(
    request: SignedRequest,
    service: str,
    credentials: Credentials | None,
    now: datetime | None = None,
) -> Authorization:
    """Check the request's SigV4 signature; raise ``SignatureProblem`` saying why not.

    With ``credentials`` None only the header's shape and scope are checked.
    """
    auth = parse_authorization(request.headers.get("Authorization"))
    if auth.service != service:
        raise SignatureProblem(
            "scope",
            f"Credential should be scoped to correct service: '{service}', not {auth.service!r}",
        )
    if credentials is None:
        return auth
    secret = credentials.secrets.get(auth.access_key_id)
    if secret is None:
        raise SignatureProblem(
            "unknown_key", "The security token included in the request is invalid."
        )
    stamp = request.headers.get("X-Amz-Date", "")
    try:
        signed_at = datetime.strptime(stamp, _AMZ_DATE).replace(tzinfo=UTC)
    except ValueError:
        raise SignatureProblem(
            "incomplete", f"X-Amz-Date {stamp!r} is missing or not in the form YYYYMMDDTHHMMSSZ"
        ) from None
    now = now or datetime.now(UTC)
    if signed_at < now - MAX_SKEW:
        raise SignatureProblem(
            "expired",
            f"Signature expired: {stamp} is now earlier than "
            f"{(now - MAX_SKEW).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} - 5 min.)",
        )
    if signed_at > now + MAX_SKEW:
        raise SignatureProblem(
            "expired",
            f"Signature not yet current: {stamp} is still later than "
            f"{(now + MAX_SKEW).strftime(_AMZ_DATE)} ({now.strftime(_AMZ_DATE)} + 5 min.)",
        )
    if stamp[:8] != auth.date:
        raise SignatureProblem(
            "mismatch", f"Credential date {auth.date} is not the date of X-Amz-Date {stamp}"
        )
    if "host" not in auth.signed_headers:
        raise SignatureProblem("incomplete", "SignedHeaders must include host")
    payload = hashlib.sha256(request.body).hexdigest()
    stated = request.headers.get("X-Amz-Content-SHA256")
    if stated is not None and stated != payload:
        raise SignatureProblem(
            "mismatch", "X-Amz-Content-SHA256 is not the SHA-256 of the request body"
        )
    path, _, query = request.raw_path.partition("?")
    canonical = canonical_request(
        request.method, path, query, request.headers, auth.signed_headers, payload
    )
    expected = signature(secret, stamp, auth.scope, canonical)
    if not hmac.compare_digest(expected, auth.signature):
        raise SignatureProblem(
            "mismatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    return auth


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    signed_headers: tuple[str, ...],
    payload_hash: str,
) -> str:
    """SigV4's canonical request as botocore and the other SDKs build it: the path as sent
    (percent-encoded once) normalized and encoded again, as for every service but S3; the
    query's pairs re-encoded and sorted. Also used to sign (``network.controlplane.sigv4``)."""
    normalized = posixpath.normpath(raw_path or "/")
    if raw_path.endswith("/") and normalized != "/":
        normalized += "/"
    lines = "".join(f"{name}:{_header_value(headers, name)}\n" for name in signed_headers)
    return "\n".join(
        (
            method.upper(),
            quote(normalized, safe="/~"),
            _canonical_query(raw_query),
            lines,
            ";".join(signed_headers),
            payload_hash,
        )
    )


def _header_value(headers: Mapping[str, str], name: str) -> str:
    getall = getattr(headers, "getall", None)
    values = getall(name, []) if getall is not None else [headers.get(name, "")]
    return ",".join(" ".join(value.split()) for value in values)


def _canonical_query(query: str) -> str:
    pairs = []
    for item in query.split("&") if query else ():
        key, _, value = item.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{key}={value}" for key, value in sorted(pairs))


def signature(secret: str, amz_date: str, scope: str, canonical: str) -> str:
    """The hex signature of a canonical request, signed at ``amz_date`` for ``scope``
    (``date/region/service/aws4_request``) with the secret access key."""
    to_sign = "\n".join(
        (ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = f"AWS4{secret}".encode()
    for part in scope.split("/"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
