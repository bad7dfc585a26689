"""Remembered signature verifications: a hit is as strong as verifying again, bad
signatures are never remembered, and revocation is still judged on every check."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ca.errors import IdentityError, SignatureError
from ca.msp import MspManager
from ca.signing import KNOWN_SIGNATURES, KnownSignatures, SoftwareSigner, key_id, verify
from tests.support.ca_pki import make_org


def _triple(signer: SoftwareSigner, message: bytes, signature: bytes) -> tuple:
    public_key = signer.private_key.public_key()
    return key_id(public_key), hashlib.sha256(message).digest(), signature


def test_a_signers_own_signature_is_known_valid_without_verifying() -> None:
    signer = make_org().identity("own", "peer")
    signature = signer.sign(b"endorsement")
    assert _triple(signer, b"endorsement", signature) in KNOWN_SIGNATURES


def test_a_verified_signature_is_remembered_for_that_key_and_message_only() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = SoftwareSigner("Org1MSP", b"", key)
    signature = signer.sign(b"hello")
    KNOWN_SIGNATURES.clear()
    verify(key.public_key(), b"hello", signature)
    assert _triple(signer, b"hello", signature) in KNOWN_SIGNATURES
    verify(key.public_key(), b"hello", signature)  # answered from memory
    with pytest.raises(SignatureError, match="does not match"):
        verify(key.public_key(), b"other message", signature)
    stranger = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(SignatureError, match="does not match"):
        verify(stranger, b"hello", signature)


def test_a_bad_signature_is_never_remembered() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    signature = SoftwareSigner("Org1MSP", b"", key).sign(b"hello")
    for _ in range(2):
        with pytest.raises(SignatureError):
            verify(key.public_key(), b"tampered", signature)
    assert (key_id(key.public_key()), hashlib.sha256(b"tampered").digest(), signature) not in (
        KNOWN_SIGNATURES
    )


def test_a_revoked_identity_is_rejected_though_its_signature_is_known_valid() -> None:
    org = make_org("Org3MSP")
    signer = org.identity("bob", "client")
    signature = signer.sign(b"proposal")
    MspManager([org.msp()]).check_signature(signer.creator, b"proposal", signature)
    org.revoke(signer)
    with pytest.raises(IdentityError, match="revoked"):
        MspManager([org.msp()]).check_signature(signer.creator, b"proposal", signature)


def test_the_oldest_entries_are_forgotten_first() -> None:
    known = KnownSignatures(capacity=3)
    for n in range(5):
        known.add((b"k", bytes([n]), b"s"))
    assert (b"k", bytes([0]), b"s") not in known
    assert (b"k", bytes([1]), b"s") not in known
    assert all((b"k", bytes([n]), b"s") in known for n in (2, 3, 4))
