"""Found by the fuzzer (tests/fuzz): a creator certificate whose public key is not a point
on its curve, or on a curve named by an OID no one knows, parsed, then raised
``ValueError``/``UnsupportedAlgorithm`` when its key was first used, so a mangled Deliver
seek reached the client as gRPC UNKNOWN; later (`make fuzz`), one whose keyUsage was made
a second basicConstraints raised ``DuplicateExtension``, which is no ``ValueError``.
Certificates are now parsed whole when loaded (``certificates.load_certificate``,
``certificates.UNPARSABLE``): an IdentityError when the creator is deserialized (a
TokenError at the CA), and a signer that does not verify."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ca import certificates
from ca.errors import CaError, CaRequestError, IdentityError, TokenError
from ca.msp import MspManager, serialize_identity
from ca.policy import valid_signers
from ca.requests import parse_csr
from ca.token import make_token, verify_token
from proto.signer import SignedData
from tests.support.ca_pki import make_org

# BIT STRING of 66 bytes, no unused bits, then the uncompressed-point marker 0x04
POINT = bytes([0x03, 0x42, 0x00, 0x04])
# OBJECT IDENTIFIER 1.2.840.10045.3.1.7 (P-256); with 0x1A first it reads 0.26.840…
CURVE = bytes([0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07])
# subjectKeyIdentifier (2.5.29.14), its OCTET STRING; the inner OCTET STRING tag made 0x40
SKI = bytes([0x55, 0x1D, 0x0E, 0x04, 0x16])
# commonName (2.5.4.3) and its UTF8String tag, made 0xFC (no ASN.1 string type)
COMMON_NAME = bytes([0x55, 0x04, 0x03, 0x0C])
# keyUsage (2.5.29.15), made basicConstraints (2.5.29.19): the extension appears twice
KEY_USAGE = bytes([0x55, 0x1D, 0x0F])
EXTENSIONS = {"broken extension", "duplicate extension"}  # the manglings of an extension
# AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2)
ECDSA_WITH_SHA256 = bytes([0x30, 0x0A, 0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02])
MANGLINGS = {
    "point off its curve": (POINT, 3, 0x08),
    "unknown curve": (CURVE, 2, 0x1A),
    "broken extension": (SKI, 5, 0x40),
    "name of an unknown string type": (COMMON_NAME, 3, 0xFC),
    "duplicate extension": (KEY_USAGE, 2, 0x13),
}


def _mangled(pem: bytes, how: str) -> bytes:
    """The certificate with one byte of its key changed: it still parses as X.509."""
    marker, offset, value = MANGLINGS[how]
    der = bytearray(certificates.load_certificate(pem).public_bytes(Encoding.DER))
    der[der.index(marker) + offset] = value
    body = base64.encodebytes(bytes(der))
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


@pytest.mark.parametrize("how", sorted(MANGLINGS))
def test_a_key_that_does_not_parse_is_an_identity_error(how: str) -> None:
    org = make_org("Org1MSP")
    signer = org.identity("user1", "client")
    msp = org.msp()
    pem = _mangled(signer.certificate_pem, how)
    with pytest.raises(IdentityError, match=r"SerializedIdentity\.id_bytes is not a PEM X\.509"):
        msp.verify(msp.deserialize(serialize_identity("Org1MSP", pem)), b"d", signer.sign(b"d"))


@pytest.mark.parametrize("how", sorted(MANGLINGS))
def test_a_key_that_does_not_parse_is_no_valid_signer(how: str) -> None:
    org = make_org("Org1MSP")
    signer = org.identity("user1", "client")
    creator = serialize_identity("Org1MSP", _mangled(signer.certificate_pem, how))
    signed = SignedData(b"data", creator, signer.sign(b"data"))
    assert valid_signers([signed], MspManager([org.msp()])) == []


@pytest.mark.parametrize("how", sorted(MANGLINGS))
def test_a_ca_token_whose_key_does_not_parse_is_a_token_error(how: str) -> None:
    signer = make_org("Org1MSP").identity("admin", "client")
    pem = _mangled(signer.certificate_pem, how)
    token = make_token(signer, pem, "POST", "/api/v1/register", b"{}")
    with pytest.raises(TokenError, match=r"token certificate is not a PEM X\.509"):
        verify_token(token, "POST", "/api/v1/register", b"{}")


@pytest.mark.parametrize("how", sorted(MANGLINGS))
def test_a_mangled_creator_is_refused_by_check_signature(how: str) -> None:
    """The orderer's Deliver path: the policy refused, then check_signature explained why
    (a ValueError from the lazily parsed extensions, before certificates were loaded whole)."""
    org = make_org("Org1MSP")
    signer = org.identity("user1", "client")
    creator = serialize_identity("Org1MSP", _mangled(signer.certificate_pem, how))
    with pytest.raises(CaError):
        MspManager([org.msp()]).check_signature(creator, b"d", signer.sign(b"d"))


@pytest.mark.parametrize("how", sorted(set(MANGLINGS) - EXTENSIONS))
def test_a_mangled_csr_is_a_bad_request(how: str) -> None:
    """At the CA's enroll: a 400 naming the CSR, not a 500 from a lazily parsed part."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    der = bytearray(csr.public_bytes(Encoding.DER))
    marker, offset, value = MANGLINGS[how]
    der[der.index(marker) + offset] = value
    with pytest.raises(CaRequestError) as refused:
        parse_csr(_pem(bytes(der)), "admin")
    assert refused.value.status == 400


@pytest.mark.parametrize("how", sorted(EXTENSIONS))
def test_a_signed_csr_whose_extensions_do_not_parse_is_a_bad_request(how: str) -> None:
    """A CSR carries extensions too (fabric-ca-client asks for its hosts in one), and a
    client can sign a mangled one with its own key: refused at parsing with a 400, not a
    500 when the enroll reads the hosts (``csr_hosts``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")])
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(usage, True)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    tbs = bytearray(csr.tbs_certrequest_bytes)
    marker, offset, value = MANGLINGS[how]
    tbs[tbs.index(marker) + offset] = value
    signature = key.sign(bytes(tbs), ec.ECDSA(hashes.SHA256()))
    body = bytes(tbs) + ECDSA_WITH_SHA256 + _der(0x03, b"\x00" + signature)
    with pytest.raises(CaRequestError, match="Invalid certificate request: ") as refused:
        parse_csr(_pem(_der(0x30, body)), "admin")
    assert refused.value.status == 400
    assert "signature" not in str(refused.value)  # refused for its extensions


def _der(tag: int, content: bytes) -> bytes:
    size = len(content)
    length = bytes([size]) if size < 0x80 else bytes([0x82]) + size.to_bytes(2, "big")
    return bytes([tag]) + length + content


def _pem(der: bytes) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"
