"""Fabric CA's request token: who calls register/revoke/gencrl, proven by a signature.

The ``Authorization`` header is ``b64(cert PEM) "." b64(signature)``, the signature
(ECDSA over SHA-256) covering ``METHOD "." b64(URI) "." b64(body) "." b64(cert PEM)``,
where URI is the request path with its query string, exactly as the server receives it.
"""

from __future__ import annotations

import base64
import binascii

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ca import certificates
from ca.errors import CertificateError, TokenError
from ca.signing import verify
from proto.signer import Signer


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def signed_payload(method: str, uri: str, body: bytes, cert_pem: bytes) -> bytes:
    return f"{method}.{_b64(uri.encode())}.{_b64(body)}.{_b64(cert_pem)}".encode()


def make_token(signer: Signer, certificate_pem: bytes, method: str, uri: str, body: bytes) -> str:
    """The header value a client sends; ``signer`` holds the key of ``certificate_pem``."""
    signature = signer.sign(signed_payload(method, uri, body, certificate_pem))
    return f"{_b64(certificate_pem)}.{_b64(signature)}"


def verify_token(header: str, method: str, uri: str, body: bytes) -> x509.Certificate:
    """Return the caller's certificate if the token signs exactly this request."""
    parts = header.strip().split(".")
    if len(parts) != 2:
        raise TokenError("token is not '<b64 certificate>.<b64 signature>'")
    try:
        cert_pem = base64.b64decode(parts[0], validate=True)
        signature = base64.b64decode(parts[1], validate=True)
    except (binascii.Error, ValueError):
        raise TokenError("token parts are not base64") from None
    try:
        cert = certificates.load_certificate(cert_pem, "token certificate")
        public_key = certificates.public_key_of(cert)
    except CertificateError as exc:
        raise TokenError(str(exc)) from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        raise TokenError("token certificate does not hold an EC key")
    verify(public_key, signed_payload(method, uri, body, cert_pem), signature)
    return cert
