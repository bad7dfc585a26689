"""Spec variants for tests that run unmodified third-party clients."""

from __future__ import annotations

from pathlib import Path


def without_client_auth(spec: Path) -> Path:
    """``spec`` with ``tls: {client_auth: false}``: for clients that cannot present a TLS
    client certificate (Caliper 0.6's peer-gateway connector and the fabric-samples
    application call ``grpc.credentials.createSsl(root)`` only), as Fabric's own
    test-network runs its peers with client authentication off."""
    spec.write_text(spec.read_text() + "\ntls: {client_auth: false}\n")
    return spec
