"""The peer config's TLS section: the peer presents its own TLS certificate as a client
(to orderers and other peers), and ``client_root_cas`` makes its server require one."""

from __future__ import annotations

from pathlib import Path

import pytest

from peers.node import PeerConfigError, load_config

BASE = (
    "listen: 127.0.0.1:7051\nmspid: Org1MSP\nmsp_dir: msp\ndata_dir: data\n"
    "orderers:\n  - address: 127.0.0.1:7050\n"
    "peers:\n  - {mspid: Org2MSP, address: 127.0.0.1:8051}\n"
)


def _load(tmp_path: Path, tls: str):
    (tmp_path / "server.crt").write_text("cert")
    (tmp_path / "server.key").write_text("key")
    path = tmp_path / "peer.yaml"
    path.write_text(BASE + tls)
    return load_config(path)


def test_the_peer_presents_its_tls_certificate_and_requires_clients_chained_to_the_roots(
    tmp_path: Path,
) -> None:
    config = _load(
        tmp_path, "tls: {cert: server.crt, key: server.key, client_root_cas: [roots.pem]}\n"
    )
    assert config.client_identity is not None
    assert (config.client_identity.cert, config.client_identity.key) == (b"cert", b"key")
    assert config.orderers[0].client == config.client_identity
    assert config.client_root_cas == (tmp_path / "roots.pem",)


def test_without_client_roots_no_client_certificate_is_required(tmp_path: Path) -> None:
    assert _load(tmp_path, "tls: {cert: server.crt, key: server.key}\n").client_root_cas == ()
    plain = _load(tmp_path, "tls: {enabled: false}\n")
    assert plain.client_identity is None and plain.orderers[0].client is None


def test_a_missing_certificate_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(PeerConfigError, match=r"tls: No such file or directory: .*gone\.crt"):
        _load(tmp_path, "tls: {cert: gone.crt, key: server.key}\n")
