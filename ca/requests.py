"""Fabric CA request bodies: typed fields, CSRs, revocation reasons.

Every accessor raises Fabric CA's 400 error naming the offending field, so handlers in
``ca.authority`` read requests without repeating checks.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ca import certificates, protocol

# golang.org/x/crypto/ocsp reason names, as Fabric CA accepts them.
REVOCATION_REASONS = {
    "unspecified": 0,
    "keycompromise": 1,
    "cacompromise": 2,
    "affiliationchanged": 3,
    "superseded": 4,
    "cessationofoperation": 5,
    "certificatehold": 6,
    "removefromcrl": 8,
    "privilegewithdrawn": 9,
    "aacompromise": 10,
}


def json_object(body: bytes) -> dict[str, Any]:
    if not body:
        raise protocol.bad_request("Empty request body", protocol.ERR_EMPTY_REQ_BODY)
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise protocol.bad_request(f"Invalid request body: {exc}") from None
    if not isinstance(value, dict):
        raise protocol.bad_request("Invalid request body: not a JSON object")
    return value


def opt_str(request: Mapping[str, Any], name: str) -> str | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise protocol.bad_request(f"Invalid request body: field '{name}' must be a string")
    return value


def required_str(request: Mapping[str, Any], name: str) -> str:
    value = opt_str(request, name)
    if not value:
        raise protocol.bad_request(f"Invalid request body: field '{name}' is required")
    return value


def opt_int(request: Mapping[str, Any], name: str) -> int | None:
    value = request.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise protocol.bad_request(f"Invalid request body: field '{name}' must be a number")
    return value


def opt_list_of_str(request: Mapping[str, Any], name: str) -> list[str]:
    value = request.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise protocol.bad_request(f"Invalid request body: field '{name}' must be a string list")
    return value


def opt_time(request: Mapping[str, Any], name: str, code: int) -> datetime.datetime | None:
    text = opt_str(request, name)
    if not text:
        return None
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise protocol.bad_request(f"Invalid '{name}' value '{text}': not RFC 3339", code) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def within(
    moment: datetime.datetime, after: datetime.datetime | None, before: datetime.datetime | None
) -> bool:
    return (after is None or moment >= after) and (before is None or moment <= before)


def normalize_hex(value: str | None) -> str:
    return (value or "").strip().lower().lstrip("0")


def revocation_reason(request: Mapping[str, Any]) -> int:
    reason = request.get("reason")
    if reason in (None, ""):
        return 0
    if isinstance(reason, int) and not isinstance(reason, bool):
        if reason in REVOCATION_REASONS.values():
            return reason
    elif isinstance(reason, str) and reason.lower() in REVOCATION_REASONS:
        return REVOCATION_REASONS[reason.lower()]
    raise protocol.bad_request(f"Invalid reason '{reason}' in revocation request")


def parse_csr(value: Any, identity_id: str) -> x509.CertificateSigningRequest:
    if not isinstance(value, str) or not value.strip():
        raise protocol.bad_request(
            "Invalid request body: field 'certificate_request' (a PEM CSR) is required",
            protocol.ERR_BAD_CSR,
        )
    try:  # the signature, key, subject and extensions are parsed only when asked: ask here
        csr = x509.load_pem_x509_csr(value.encode())
        signed, key = csr.is_signature_valid, csr.public_key()
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        list(csr.extensions)  # csr_hosts reads them later
    except certificates.UNPARSABLE as exc:
        raise protocol.bad_request(
            f"Invalid certificate request: {exc}", protocol.ERR_BAD_CSR
        ) from None
    if not signed:
        raise protocol.bad_request(
            "Invalid certificate request: signature does not match its key", protocol.ERR_BAD_CSR
        )
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise protocol.bad_request(
            "Invalid certificate request: key must be ECDSA P-256", protocol.ERR_BAD_CSR
        )
    common = str(names[0].value) if names else ""
    if common != identity_id:
        # Fabric CA answers 403 here: a CSR for another name is an attempt to masquerade.
        raise protocol.http_error(
            403,
            protocol.ERR_BAD_CSR,
            f"The CSR subject common name '{common}' must equal the enrollment ID '{identity_id}'",
        )
    return csr


def csr_hosts(csr: x509.CertificateSigningRequest) -> list[str]:
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(v) for v in san.get_values_for_type(x509.DNSName)] + [
        str(v) for v in san.get_values_for_type(x509.IPAddress)
    ]
