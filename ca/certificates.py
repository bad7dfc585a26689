"""X.509 plumbing shared by the MSP and the CA: parsing, key identifiers, serials, roles.

Fabric CA names a certificate by (AKI, serial), both lower-case hex without leading
zeros; the MSP and the registry must agree on that spelling, so it lives here once.
"""

from __future__ import annotations

import datetime
import json

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import NameOID

from ca.errors import CertificateError

# What cryptography raises for a certificate it cannot parse whole: a DER, name or key
# it cannot read, or an extension that appears twice (``DuplicateExtension`` is no
# ``ValueError``; the fuzzer sent a creator whose keyUsage was made a second basicConstraints).
UNPARSABLE = (ValueError, KeyError, UnsupportedAlgorithm, x509.DuplicateExtension)

# Fabric CA's attribute extension: JSON {"attrs": {name: value}} in a non-critical extension.
ATTRIBUTES_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1")


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def load_certificate(pem: bytes, what: str = "certificate") -> x509.Certificate:
    """Parse one PEM certificate; the error names ``what`` so callers know which input."""
    try:
        return _whole(x509.load_pem_x509_certificate(pem))
    except UNPARSABLE as exc:
        raise CertificateError(f"{what} is not a PEM X.509 certificate: {exc}") from None


def load_certificates(pem: bytes, what: str = "certificate chain") -> list[x509.Certificate]:
    try:
        return [_whole(cert) for cert in x509.load_pem_x509_certificates(pem)]
    except UNPARSABLE as exc:
        raise CertificateError(f"{what} is not a list of PEM certificates: {exc}") from None


def _whole(certificate: x509.Certificate) -> x509.Certificate:
    """cryptography parses names, extensions and the key only when first asked: ask now,
    so a mangled part is refused here, not as a ``ValueError`` deep in a policy check
    (the fuzzers sent creators with broken extensions, keys and names through Deliver and
    Broadcast; a name's string of an unknown ASN.1 type is a ``KeyError`` there)."""
    _ = certificate.subject, certificate.issuer, certificate.extensions
    certificate.public_key()
    return certificate


def load_crl(data: bytes, what: str = "CRL") -> x509.CertificateRevocationList:
    """Accept PEM or DER, as Fabric's MSP does for files in ``crls/``."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise CertificateError(f"{what} is not a PEM or DER X.509 CRL: {exc}") from None


def to_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def hex_id(value: bytes | int) -> str:
    """Fabric CA's spelling of AKIs and serials: lower-case hex, no leading zeros."""
    text = value.hex() if isinstance(value, bytes) else format(value, "x")
    return text.lstrip("0").lower() or "0"


def authority_key_id(certificate: x509.Certificate) -> bytes:
    try:
        ext = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return b""
    return ext.value.key_identifier or b""


def public_key_of(certificate: x509.Certificate) -> CertificatePublicKeyTypes:
    """The certificate's public key. cryptography parses a certificate lazily, so a key
    that is not a point on its curve, or on a curve it does not know, is only found here
    (both found by the fuzzers): a ``CertificateError`` like any other unparsable part."""
    try:
        return certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        name = common_name(certificate) or "certificate"
        raise CertificateError(f"{name!r}: its public key does not parse ({exc})") from None


def subject_key_id(certificate: x509.Certificate) -> bytes:
    try:
        return certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value.digest
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(public_key_of(certificate)).digest


def common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


def organizational_units(certificate: x509.Certificate) -> list[str]:
    return [
        str(a.value)
        for a in certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    ]


def certificate_attributes(certificate: x509.Certificate) -> dict[str, str]:
    """The attributes Fabric CA embedded for attribute-based access control, or {}."""
    try:
        ext = certificate.extensions.get_extension_for_oid(ATTRIBUTES_OID)
    except x509.ExtensionNotFound:
        return {}
    raw = ext.value.value if isinstance(ext.value, x509.UnrecognizedExtension) else b""
    try:
        attrs = json.loads(raw)["attrs"]
    except (ValueError, KeyError, TypeError):
        raise CertificateError("attribute extension 1.2.3.4.5.6.7.8.1 is not {attrs: …}") from None
    return {str(k): str(v) for k, v in attrs.items()}


def is_expired(certificate: x509.Certificate, at: datetime.datetime | None = None) -> bool:
    moment = at or now()
    return not (certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc)


def issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer``'s key signed ``certificate`` and the names chain."""
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True
