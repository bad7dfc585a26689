"""ECDSA P-256 signatures the way Fabric makes and checks them.

Fabric signs SHA-256 digests and encodes signatures as DER. ECDSA has two valid
signatures per message, (r, s) and (r, n − s); Fabric accepts only the low-S one, so a
third party cannot flip s to make a different-looking but valid signature (signature
malleability). We always produce low-S and reject high-S on verification, as Fabric's
BCCSP does.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ca.errors import SignatureError
from proto.signer import serialize_identity

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER >> 1
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def to_low_s(signature: bytes) -> bytes:
    """Return the low-S form of a DER ECDSA P-256 signature (unchanged if already low)."""
    r, s = decode_dss_signature(signature)
    if s > _HALF_ORDER:
        s = P256_ORDER - s
    return encode_dss_signature(r, s)


def is_low_s(signature: bytes) -> bool:
    _, s = decode_dss_signature(signature)
    return s <= _HALF_ORDER


def sign(private_key: ec.EllipticCurvePrivateKey, message: bytes) -> bytes:
    """Sign SHA-256(message); the result is DER and always low-S."""
    return to_low_s(private_key.sign(message, _ECDSA_SHA256))


def verify(public_key: ec.EllipticCurvePublicKey, message: bytes, signature: bytes) -> None:
    """Raise ``SignatureError`` unless ``signature`` is a valid low-S signature of message."""
    try:
        low = is_low_s(signature)
    except ValueError as exc:
        raise SignatureError(f"signature is not DER-encoded ECDSA: {exc}") from None
    if not low:
        raise SignatureError("signature has a high S value; Fabric accepts only low-S")
    try:
        public_key.verify(signature, message, _ECDSA_SHA256)
    except InvalidSignature:
        raise SignatureError("signature does not match the message and public key") from None


@dataclass(frozen=True)
class SoftwareSigner:
    """A ``proto.signer.Signer`` whose key is in memory (clients, tests, enrolled nodes)."""

    mspid: str
    certificate_pem: bytes
    private_key: ec.EllipticCurvePrivateKey

    @property
    def creator(self) -> bytes:
        return serialize_identity(self.mspid, self.certificate_pem)

    def sign(self, message: bytes) -> bytes:
        return sign(self.private_key, message)
