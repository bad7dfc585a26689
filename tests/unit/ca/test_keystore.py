"""The encrypted CA key store: never plain text on disk, 0600, wrong master key refused."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives import serialization

from ca.errors import KeyStoreError
from ca.keystore import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE_ENV,
    EncryptedKeyStore,
    create_master_key_file,
    master_key_from_environment,
)
from ca.signing import is_low_s, verify

MASTER = b"correct horse battery staple"


def test_key_file_holds_no_plain_key_and_is_private(tmp_path) -> None:
    store = EncryptedKeyStore(tmp_path / "keys", MASTER)
    key = store.create("ca")
    data = store.path("ca").read_bytes()
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in data
    assert b"BEGIN PRIVATE KEY" not in data and b"EC PRIVATE KEY" not in data
    with pytest.raises(TypeError):  # cryptography refuses: it is encrypted
        serialization.load_pem_private_key(data, password=None)
    # The raw private scalar appears nowhere in the file.
    scalar = store.load("ca")._key.private_numbers().private_value.to_bytes(32, "big")
    assert scalar not in data and scalar.hex().encode() not in data
    assert oct(store.path("ca").stat().st_mode & 0o777) == "0o600"
    message = b"sign me"
    signature = key.sign(message)
    assert is_low_s(signature)
    verify(store.load("ca").public_key(), message, signature)


def test_wrong_master_key_and_loose_permissions_are_refused(tmp_path) -> None:
    EncryptedKeyStore(tmp_path, MASTER).create("ca")
    with pytest.raises(KeyStoreError, match="cannot be decrypted"):
        EncryptedKeyStore(tmp_path, b"another master key!!").load("ca")
    os.chmod(tmp_path / "ca.key", 0o644)
    with pytest.raises(KeyStoreError, match="readable by others"):
        EncryptedKeyStore(tmp_path, MASTER).load("ca")


def test_create_never_overwrites_and_names_are_checked(tmp_path) -> None:
    store = EncryptedKeyStore(tmp_path, MASTER)
    store.create("tlsca")
    with pytest.raises(KeyStoreError, match="already exists"):
        store.create("tlsca")
    with pytest.raises(KeyStoreError, match="key name"):
        store.path("../escape")
    with pytest.raises(KeyStoreError, match="does not exist"):
        store.load("missing")
    with pytest.raises(KeyStoreError, match="shorter than"):
        EncryptedKeyStore(tmp_path, b"short")


def test_master_key_sources(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    monkeypatch.delenv(MASTER_KEY_FILE_ENV, raising=False)
    with pytest.raises(KeyStoreError, match="no master key"):
        master_key_from_environment()
    monkeypatch.setenv(MASTER_KEY_ENV, "x" * 20)
    assert master_key_from_environment() == b"x" * 20
    path = tmp_path / "master.key"
    key = create_master_key_file(path)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    monkeypatch.setenv(MASTER_KEY_FILE_ENV, str(path))
    assert master_key_from_environment() == key
    assert master_key_from_environment(path) == key
    (tmp_path / "weak").write_text("abc")
    with pytest.raises(KeyStoreError, match="shorter than 16"):
        master_key_from_environment(tmp_path / "weak")
