"""Mutual TLS in tests: the TLS client certificate a member's user presents to the
nodes of a network `up` started, and the spec switch for clients that have none."""

from __future__ import annotations

from pathlib import Path

from proto.credentials import TlsIdentity


def member_tls(network: Path, member: str, user: str = "user1") -> TlsIdentity:
    """``user``'s TLS client certificate under ``network`` (``.consortium/<name>``), as
    `up` enrolled it into ``members/<member>/users/<user>/tls``."""
    identity = TlsIdentity.from_folder(network / "members" / member / "users" / user / "tls")
    assert identity is not None, f"{member}/{user} has no TLS client certificate"
    return identity


def without_client_auth(spec: Path) -> Path:
    """``spec`` with ``tls: {client_auth: false}``: for clients that cannot present a TLS
    client certificate (Caliper 0.6's peer-gateway connector and the fabric-samples
    application call ``grpc.credentials.createSsl(root)`` only), as Fabric's own
    test-network runs its peers with client authentication off."""
    spec.write_text(spec.read_text() + "\ntls: {client_auth: false}\n")
    return spec
