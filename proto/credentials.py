"""A node's TLS server credentials, read again from their files when they change.

``consortium certs rotate`` writes a node's new certificate and key where the node's
config points; each new TLS handshake asks ``fetch`` first, so the node serves the new
certificate from its next connection on, without a restart and without dropping the
connections it has (a rotation fails no transaction).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

log = logging.getLogger(__name__)


class ReloadingCredentials:
    """The certificate, key and (for mutual TLS) client roots of one server, and the
    files' modification times they were read at."""

    def __init__(self, cert: Path, key: Path, client_roots: Sequence[Path] = ()) -> None:
        self.cert, self.key, self.client_roots = cert, key, tuple(client_roots)
        self._stamp = self._stamps()
        self.initial = self._configuration()

    def _stamps(self) -> tuple[int, ...]:
        return tuple(p.stat().st_mtime_ns for p in (self.cert, self.key, *self.client_roots))

    def _configuration(self) -> grpc.ServerCertificateConfiguration:
        roots = b"".join(p.read_bytes() for p in self.client_roots) or None
        return grpc.ssl_server_certificate_configuration(
            [(self.key.read_bytes(), self.cert.read_bytes())], root_certificates=roots
        )

    def fetch(self) -> grpc.ServerCertificateConfiguration | None:
        """gRPC's fetcher: a new configuration when a file changed, else None (keep the
        current one). A half-written or unreadable pair keeps the current one too."""
        try:
            stamp = self._stamps()
            if stamp == self._stamp:
                return None
            configuration = self._configuration()
        except OSError as exc:
            log.warning("TLS certificate not reloaded, keeping the current one: %s", exc)
            return None
        self._stamp = stamp
        log.info("TLS certificate reloaded from %s", self.cert)
        return configuration

    def server_credentials(self) -> grpc.ServerCredentials:
        return grpc.dynamic_ssl_server_credentials(
            self.initial, self.fetch, require_client_authentication=bool(self.client_roots)
        )


def server_credentials(
    cert: Path, key: Path, client_roots: Sequence[Path] = ()
) -> grpc.ServerCredentials:
    """TLS server credentials that follow their files (mutual TLS when ``client_roots``)."""
    return ReloadingCredentials(cert, key, client_roots).server_credentials()


@dataclass(frozen=True)
class TlsIdentity:
    """A client's TLS certificate and key (PEM), presented where servers require mutual
    TLS. It is not the signing identity: Fabric issues it from the member's TLS CA."""

    cert: bytes
    key: bytes

    @classmethod
    def from_files(cls, cert: Path, key: Path) -> TlsIdentity:
        return cls(cert.read_bytes(), key.read_bytes())

    @classmethod
    def from_folder(cls, folder: Path) -> TlsIdentity | None:
        """The identity in a TLS folder as enrollment writes it (``server.crt`` and
        ``server.key``, or Fabric's ``client.crt``/``client.key``), None when absent."""
        for cert, key in (("client.crt", "client.key"), ("server.crt", "server.key")):
            if (folder / cert).is_file() and (folder / key).is_file():
                return cls.from_files(folder / cert, folder / key)
        return None


def channel_credentials(
    root: bytes, identity: TlsIdentity | None = None
) -> grpc.ChannelCredentials:
    """Client credentials trusting ``root`` and, with ``identity``, presenting it."""
    if identity is None:
        return grpc.ssl_channel_credentials(root)
    return grpc.ssl_channel_credentials(root, identity.key, identity.cert)
