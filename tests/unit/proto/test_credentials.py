"""A node's TLS credentials and identity follow their files: what ``certs rotate``
relies on to renew certificates without a restart."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ca.errors import MspConfigError
from ca.msp import ReloadingSigner, write_msp
from ca.signing import SoftwareSigner, verify
from proto.credentials import ReloadingCredentials
from tests.support.ca_pki import make_org


def _write_pair(folder: Path, signer: SoftwareSigner, stamp: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "server.crt").write_bytes(signer.certificate_pem)
    key = signer.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (folder / "server.key").write_bytes(key)
    for name in ("server.crt", "server.key"):  # a distinct mtime, whatever the clock's grain
        os.utime(folder / name, ns=(stamp, stamp))


def test_credentials_are_read_again_only_when_the_files_change(tmp_path: Path) -> None:
    org = make_org()
    _write_pair(tmp_path, org.identity("peer0", "peer"), 1_000_000_000)
    credentials = ReloadingCredentials(tmp_path / "server.crt", tmp_path / "server.key")
    assert credentials.fetch() is None  # unchanged: keep serving the current pair
    _write_pair(tmp_path, org.identity("peer0", "peer"), 2_000_000_000)
    assert credentials.fetch() is not None
    assert credentials.fetch() is None
    (tmp_path / "server.key").unlink()  # mid-swap: the current pair stays
    assert credentials.fetch() is None


def test_a_reloading_signer_takes_the_new_identity_in_place(tmp_path: Path) -> None:
    org = make_org()
    first, second = org.identity("peer0", "peer"), org.identity("peer0", "peer")
    write_msp(tmp_path / "msp", org.config(), signer=first)
    signer = ReloadingSigner(tmp_path / "msp", "Org1MSP")
    assert signer.creator == first.creator
    assert signer.reload() is False  # the same certificate
    write_msp(tmp_path / "msp", org.config(), signer=second)
    assert signer.reload() is True
    assert signer.creator == second.creator and signer.certificate_pem == second.certificate_pem
    verify(second.private_key.public_key(), b"block", signer.sign(b"block"))  # the new key
    (tmp_path / "msp" / "signcerts" / "cert.pem").unlink()
    with pytest.raises(MspConfigError):
        signer.reload()
    assert signer.creator == second.creator  # an unreadable folder keeps the current one
