import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from ca.errors import SignatureError
from ca.signing import P256_ORDER, SoftwareSigner, is_low_s, to_low_s, verify


def _public_key(signer: SoftwareSigner):
    return x509.load_pem_x509_certificate(signer.certificate_pem).public_key()


def test_signatures_are_always_low_s(signer: SoftwareSigner) -> None:
    for n in range(64):
        signature = signer.sign(b"message %d" % n)
        assert is_low_s(signature)
        verify(_public_key(signer), b"message %d" % n, signature)


def test_high_s_is_rejected_even_though_ecdsa_would_accept_it(signer: SoftwareSigner) -> None:
    signature = signer.sign(b"hello")
    r, s = decode_dss_signature(signature)
    high = encode_dss_signature(r, P256_ORDER - s)
    assert not is_low_s(high)
    assert to_low_s(high) == signature
    with pytest.raises(SignatureError, match="high S"):
        verify(_public_key(signer), b"hello", high)


def test_wrong_message_and_garbage_are_rejected(signer: SoftwareSigner) -> None:
    signature = signer.sign(b"hello")
    with pytest.raises(SignatureError, match="does not match"):
        verify(_public_key(signer), b"other", signature)
    with pytest.raises(SignatureError, match="not DER"):
        verify(_public_key(signer), b"hello", b"\x00garbage")
