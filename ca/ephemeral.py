"""Throw-away identities: a real P-256 key and a self-signed certificate, in memory.

For teaching (``consortium anatomy``) and tests, where no member CA exists yet. Nothing
here is trusted by an MSP; member identities come from the member's CA.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ca.signing import SoftwareSigner


def ephemeral_signer(mspid: str = "Org1MSP", common_name: str = "user1") -> SoftwareSigner:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    return SoftwareSigner(mspid=mspid, certificate_pem=pem, private_key=key)
