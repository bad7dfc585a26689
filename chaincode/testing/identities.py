"""Real caller identities for tests: one in-memory CA per MSP, certificates made on the fly.

Certificates look like Fabric CA enrollment certificates: the role is the first OU
(NodeOU style: ``client``, ``admin``, ``peer``), attributes sit in the Fabric CA extension
``1.2.3.4.5.6.7.8.1`` as ``{"attrs": {...}}``, and the creator bytes are the
``SerializedIdentity`` a Fabric client would send. Signatures are low-S ECDSA P-256.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.x509.oid import NameOID

from chaincode.errors import ChaincodeError
from proto.signer import serialize_identity

ATTRIBUTE_OID = x509.ObjectIdentifier("1.2.3.4.5.6.7.8.1")
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@dataclass(frozen=True)
class Identity:
    """A signing identity; satisfies ``proto.signer.Signer``."""

    mspid: str
    name: str
    certificate_pem: bytes
    private_key: ec.EllipticCurvePrivateKey

    @cached_property
    def creator(self) -> bytes:
        return serialize_identity(self.mspid, self.certificate_pem)

    def sign(self, message: bytes) -> bytes:
        r, s = decode_dss_signature(self.private_key.sign(message, ec.ECDSA(hashes.SHA256())))
        if s > _P256_ORDER // 2:
            s = _P256_ORDER - s
        return encode_dss_signature(r, s)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class TestCA:
    """A throw-away certificate authority for one MSP."""

    __test__ = False  # not a pytest test class

    def __init__(self, mspid: str) -> None:
        self.mspid = mspid
        self.organization = mspid.removesuffix("MSP").lower() or mspid
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name(
            [
                x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, self.organization),
                x509.NameAttribute(NameOID.COMMON_NAME, f"ca.{self.organization}"),
            ]
        )
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self._key, hashes.SHA256())
        )

    def issue(
        self,
        name: str,
        role: str = "client",
        attributes: Mapping[str, str] | None = None,
        affiliation: Sequence[str] = (),
    ) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
            *(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, a) for a in affiliation),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(subject))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=30))
        )
        if attributes:
            body = json.dumps({"attrs": dict(attributes)}).encode()
            builder = builder.add_extension(
                x509.UnrecognizedExtension(ATTRIBUTE_OID, body), critical=False
            )
        certificate = builder.sign(self._key, hashes.SHA256())
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        return Identity(self.mspid, name, pem, key)


class IdentityFactory:
    """Hands out identities, one ``TestCA`` per MSP id, cached by (MSP, name, role, attrs)."""

    def __init__(self) -> None:
        self._cas: dict[str, TestCA] = {}
        self._issued: dict[tuple, Identity] = {}

    def ca(self, mspid: str) -> TestCA:
        if mspid not in self._cas:
            self._cas[mspid] = TestCA(mspid)
        return self._cas[mspid]

    def __call__(
        self,
        mspid: str = "Org1MSP",
        name: str = "user1",
        *,
        role: str = "client",
        attributes: Mapping[str, str] | None = None,
        affiliation: Sequence[str] = (),
    ) -> Identity:
        if not mspid:
            raise ChaincodeError("mspid: must not be empty")
        cache_key = (mspid, name, role, tuple(sorted((attributes or {}).items())), *affiliation)
        if cache_key not in self._issued:
            self._issued[cache_key] = self.ca(mspid).issue(name, role, attributes, affiliation)
        return self._issued[cache_key]
