"""Member PKIs for tests: each org a root and intermediate CA, identities in any role,
MSP folders and TLS certificates written to disk the way a member's CA would."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca import certificates
from ca.msp import write_msp
from ca.signing import SoftwareSigner
from tests.support.ca_pki import Org, make_org

__all__ = ["Org", "make_org", "write_local_msp", "write_tls"]


def write_local_msp(org: Org, directory: Path, name: str, role: str) -> SoftwareSigner:
    """A node's or user's local MSP (with signcerts and keystore) in ``directory``."""
    signer = org.identity(name, role)
    write_msp(directory, org.config(), signer=signer)
    return signer


def write_tls(org: Org, directory: Path, name: str, hosts: tuple[str, ...]) -> dict[str, Path]:
    """A TLS server/client certificate for ``hosts`` and the CA that issued it."""
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = org.root.issue(key.public_key(), name, hosts=hosts, tls=True)
    paths = {
        "cert": directory / "server.crt",
        "key": directory / "server.key",
        "ca": directory / "ca.crt",
    }
    paths["cert"].write_bytes(certificates.to_pem(cert))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths["key"].chmod(0o600)
    paths["ca"].write_bytes(certificates.to_pem(org.root.certificate))
    return paths
