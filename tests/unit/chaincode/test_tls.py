"""Chaincode-as-a-service over TLS and mutual TLS, as connection.json's tls_required asks."""

from __future__ import annotations

import datetime
import ipaddress

import pytest
from cc_probe import Probe
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chaincode.errors import ShimError
from chaincode.runner import ServerTLS, contract_service, serve
from chaincode.testing import ContractHarness
from chaincode.transport import ClientTLS


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _issue(ca_key, ca_name, common_name: str, server: bool):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    return _pem_key(key), cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def pki():
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tls-ca")])
    now = datetime.datetime.now(datetime.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return {
        "ca": ca.public_bytes(serialization.Encoding.PEM),
        "server": _issue(ca_key, ca_name, "chaincode", server=True),
        "client": _issue(ca_key, ca_name, "peer0", server=False),
    }


async def test_mutual_tls_round_trip_and_refusal_without_client_cert(pki, identities):
    key, cert = pki["server"]
    tls = ServerTLS(key, cert, client_ca=pki["ca"])
    server, port = await serve(contract_service("probe", Probe()), "127.0.0.1:0", tls)
    try:
        client_key, client_cert = pki["client"]
        async with ContractHarness(identities=identities) as harness:
            await harness.connect(
                f"localhost:{port}",
                "probe",
                tls=ClientTLS(pki["ca"], client_key, client_cert),
            )
            assert (await harness.invoke("Put", "k", "v")).ok
            with pytest.raises(ShimError):
                await harness.connect(
                    f"localhost:{port}", "other", tls=ClientTLS(pki["ca"]), dial_timeout=0.5
                )
    finally:
        await server.stop(None)
