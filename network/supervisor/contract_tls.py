"""Mutual TLS between peers and the contracts a network runs as chaincode-as-a-service.

Fabric's CCaaS recipe (docs ``cc_service.md``): the contract server has a TLS key pair
and requires a client certificate; the package's ``connection.json`` carries
``tls_required``, ``client_auth_required``, the ``root_cert`` that issued the server's
certificate, and the ``client_cert``/``client_key`` the peer presents. Here both key
pairs come from the TLS CA of the chaincode's **owner**, the first member of its channel
(Fabric CA's ``tls`` profile, as peers get theirs), and the server trusts that CA alone
for clients. One package serves every member's peers (one runner per chaincode, as
``up`` deploys it), so every peer presents the certificate its package carries, as
Fabric's peers do with a shared package.

The files live in ``chaincodes/tls/<name>/`` (``server.*``, ``client.*``, ``ca.crt``,
``issuer``; keys 0600) and are issued once: the package's bytes, hence its package ID,
stay the same from one ``up`` to the next. ``certs rotate`` renews the server pair only
(the runner reloads it); the client pair is in the package, so renewing it is an upgrade.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

from ca.client import FabricCaClient, save_enrollment
from ca.msp import SoftwareSigner
from chaincode.packaging import Connection


@dataclass(frozen=True)
class ContractTls:
    """A chaincode's TLS folder and what the runner and the package take from it."""

    folder: Path

    @property
    def ready(self) -> bool:
        return all(
            (self.folder / f).is_file() for f in ("ca.crt", "server.key", "client.key", "issuer")
        )

    def runner_options(self) -> list[str]:
        """``python -m chaincode.runner``'s options: serve TLS, require a client cert."""
        return [
            "--tls-key",
            str(self.folder / "server.key"),
            "--tls-cert",
            str(self.folder / "server.crt"),
            "--client-ca",
            str(self.folder / "ca.crt"),
        ]

    def connection(self, address: str) -> Connection:
        """``connection.json`` for peers dialling ``address`` with mutual TLS."""
        read = lambda name: (self.folder / name).read_text()  # noqa: E731
        return Connection(
            address,
            tls_required=True,
            client_auth_required=True,
            root_cert=read("ca.crt"),
            client_key=read("client.key"),
            client_cert=read("client.crt"),
        )

    @property
    def issuer(self) -> str:
        """The member whose TLS CA issued the pairs (and must renew them)."""
        return (self.folder / "issuer").read_text().strip()

    def issue(self, authority: Authority, name: str, hosts: list[str]) -> None:
        """The server's key pair, for ``hosts``, and the peers' client key pair; written
        beside the folder, then renamed into place, so a folder that exists is whole."""
        staging = self.folder.with_name(f".{self.folder.name}.issuing")
        shutil.rmtree(staging, ignore_errors=True)
        for role, names in (("server", hosts), ("client", None)):
            authority.enroll(staging, f"{name}.chaincode-{role}", role, names)
        (staging / "issuer").write_text(authority.member + "\n")
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(self.folder)

    def renew_server(self, authority: Authority, name: str, hosts: list[str], into: Path) -> None:
        """A copy of the folder in ``into`` with a new server key pair (the client pair is
        in the package: renewing it is a chaincode upgrade). The runner serves the new
        pair from its next handshake once ``into`` is renamed into place."""
        shutil.copytree(self.folder, into)
        authority.enroll(into, f"{name}.chaincode-server", "server", hosts)


@dataclass(frozen=True)
class Authority:
    """A member's TLS CA, as its bootstrap admin registers and enrolls with it."""

    member: str
    client: FabricCaClient
    registrar: SoftwareSigner

    def enroll(self, folder: Path, prefix: str, role: str, hosts: list[str] | None) -> None:
        """Register a fresh identity (a random suffix: a folder lost after a registration
        must not make the next `up` fail on "already registered") and enroll its TLS
        pair (``tls`` profile) into ``folder/<role>.crt|key`` and ``ca.crt``."""
        enrollment_id = f"{prefix}.{secrets.token_hex(4)}"
        secret = self.client.register(self.registrar, enrollment_id, type="client")
        enrollment = self.client.enroll(enrollment_id, secret, profile="tls", hosts=hosts)
        save_enrollment(enrollment, folder, tls=True, tls_name=role)
