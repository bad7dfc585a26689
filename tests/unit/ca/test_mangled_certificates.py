"""Found by the fuzzer (tests/fuzz): a creator certificate whose public key is not a point
on its curve parsed, then raised ``ValueError: Invalid key`` when its key was first used,
so a mangled Deliver seek reached the client as gRPC UNKNOWN. It is an IdentityError now,
and a signer that does not verify."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ca import certificates
from ca.errors import IdentityError
from ca.msp import MspManager, serialize_identity
from ca.policy import valid_signers
from proto.signer import SignedData
from tests.support.ca_pki import make_org

# BIT STRING of 66 bytes, no unused bits, then the uncompressed-point marker 0x04
POINT = bytes([0x03, 0x42, 0x00, 0x04])


def _off_curve(pem: bytes) -> bytes:
    """The certificate with its key's point marker changed: it still parses as X.509."""
    der = bytearray(certificates.load_certificate(pem).public_bytes(Encoding.DER))
    der[der.index(POINT) + 3] = 0x08
    body = base64.encodebytes(bytes(der))
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


def test_a_key_off_its_curve_is_an_identity_error() -> None:
    org = make_org("Org1MSP")
    signer = org.identity("user1", "client")
    msp = org.msp()
    identity = msp.deserialize(serialize_identity("Org1MSP", _off_curve(signer.certificate_pem)))
    with pytest.raises(IdentityError, match="public key does not parse"):
        msp.verify(identity, b"data", signer.sign(b"data"))


def test_a_key_off_its_curve_is_no_valid_signer() -> None:
    org = make_org("Org1MSP")
    signer = org.identity("user1", "client")
    creator = serialize_identity("Org1MSP", _off_curve(signer.certificate_pem))
    signed = SignedData(b"data", creator, signer.sign(b"data"))
    assert valid_signers([signed], MspManager([org.msp()])) == []
