"""ECDSA P-256 signatures the way Fabric makes and checks them.

Fabric signs SHA-256 digests and encodes signatures as DER. ECDSA has two valid
signatures per message, (r, s) and (r, n − s); Fabric accepts only the low-S one, so a
third party cannot flip s to make a different-looking but valid signature (signature
malleability). We always produce low-S and reject high-S on verification, as Fabric's
BCCSP does.

Verification results are remembered (``KnownSignatures``): a peer checks the same
signature more than once (a proposal's creator signature for the signature check and
again for the Writers policy; its own endorsement again at commit), and an ECDSA
verification costs ~0.1 ms. Only the mathematical fact "this signature is valid for this
key and this SHA-256 digest" is remembered — never whether the identity is still valid,
so revocation and expiry are judged on every check as before.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from ca.errors import SignatureError
from proto.signer import serialize_identity

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_HALF_ORDER = P256_ORDER >> 1
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_ECDSA_PREHASHED = ec.ECDSA(Prehashed(hashes.SHA256()))


def key_id(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The key's uncompressed point: what ``KnownSignatures`` tells keys apart by."""
    return public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


class KnownSignatures:
    """A bounded memory of (key, SHA-256 digest, signature) triples known to be valid.

    Keyed by the digest ECDSA actually signs, a hit is exactly as strong as verifying
    again. The oldest entries are forgotten first; the lock makes it safe for the
    threads that verify a block's signatures in parallel. An ``OrderedDict`` forgets its
    oldest entry in O(1): a plain dict's ``next(iter(d))`` scans past every slot freed by
    earlier evictions until the dict is next rebuilt, thousands once full.
    """

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self._known: OrderedDict[tuple[bytes, bytes, bytes], None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, triple: tuple[bytes, bytes, bytes]) -> bool:
        return triple in self._known

    def add(self, triple: tuple[bytes, bytes, bytes]) -> None:
        with self._lock:
            self._known[triple] = None
            while len(self._known) > self.capacity:
                self._known.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._known.clear()


KNOWN_SIGNATURES = KnownSignatures()
"""This process's memory of valid signatures (its own, and those it has verified)."""


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


def verify(
    public_key: ec.EllipticCurvePublicKey,
    message: bytes,
    signature: bytes,
    public_key_id: bytes | None = None,
) -> None:
    """Raise ``SignatureError`` unless ``signature`` is a valid low-S signature of message.

    ``public_key_id`` (``key_id(public_key)``) may be passed by callers that keep it, to
    spare computing it; a signature already known valid is not verified again.
    """
    digest = hashlib.sha256(message).digest()
    triple = (public_key_id or key_id(public_key), digest, signature)
    if triple in KNOWN_SIGNATURES:
        return
    try:
        low = is_low_s(signature)
    except ValueError as exc:
        raise SignatureError(f"signature is not DER-encoded ECDSA: {exc}") from None
    if not low:
        raise SignatureError("signature has a high S value; Fabric accepts only low-S")
    try:
        public_key.verify(signature, digest, _ECDSA_PREHASHED)
    except InvalidSignature:
        raise SignatureError("signature does not match the message and public key") from None
    KNOWN_SIGNATURES.add(triple)


@dataclass(frozen=True)
class SoftwareSigner:
    """A ``proto.signer.Signer`` whose key is in memory (clients, tests, enrolled nodes)."""

    mspid: str
    certificate_pem: bytes
    private_key: ec.EllipticCurvePrivateKey

    @property
    def creator(self) -> bytes:
        return serialize_identity(self.mspid, self.certificate_pem)

    @functools.cached_property
    def _key_id(self) -> bytes:
        return key_id(self.private_key.public_key())

    def sign(self, message: bytes) -> bytes:
        """Sign, and remember the signature as valid: a node verifies its own signatures
        again (a peer its endorsements at commit) and need not pay for that."""
        digest = hashlib.sha256(message).digest()
        signature = to_low_s(self.private_key.sign(digest, _ECDSA_PREHASHED))
        KNOWN_SIGNATURES.add((self._key_id, digest, signature))
        return signature
