"""CA private keys: encrypted at rest, used only through one signing interface.

Amazon Managed Blockchain keeps member CA keys in KMS; our stand-in is a folder of
PKCS#8 files encrypted under a master key (``BestAvailableEncryption``: AES-256-CBC with
a scrypt/PBKDF2-derived key), each file 0600. The CA never touches key bytes: it asks a
``CaKey`` to sign certificates, CRLs and messages, so an HSM (PKCS#11) or KMS backend
can replace ``SoftwareCaKey`` without the CA changing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca.errors import KeyStoreError
from ca.signing import sign

MASTER_KEY_ENV = "CONSORTIUM_CA_MASTER_KEY"
MASTER_KEY_FILE_ENV = "CONSORTIUM_CA_MASTER_KEY_FILE"
_MIN_MASTER_KEY = 16
_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class CaKey(Protocol):
    """What a CA needs from its key; implement this for an HSM or a KMS."""

    def public_key(self) -> ec.EllipticCurvePublicKey: ...

    def sign(self, message: bytes) -> bytes:
        """DER, low-S ECDSA P-256 signature over SHA-256(message)."""
        ...

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate: ...

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList: ...


class SoftwareCaKey:
    """A ``CaKey`` whose private key is in this process's memory (after unlocking)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = private_key

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._key.public_key()

    def sign(self, message: bytes) -> bytes:
        return sign(self._key, message)

    def sign_certificate(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        return builder.sign(self._key, hashes.SHA256())

    def sign_crl(
        self, builder: x509.CertificateRevocationListBuilder
    ) -> x509.CertificateRevocationList:
        return builder.sign(self._key, hashes.SHA256())


def master_key_from_environment(key_file: str | os.PathLike[str] | None = None) -> bytes:
    """The master key: from ``key_file``, else ``$CONSORTIUM_CA_MASTER_KEY_FILE``, else
    ``$CONSORTIUM_CA_MASTER_KEY``. Refuses short keys rather than weakly protecting."""
    path = key_file or os.environ.get(MASTER_KEY_FILE_ENV)
    if path:
        try:
            key = Path(path).read_bytes().strip()
        except OSError as exc:
            raise KeyStoreError(f"master key file {path} cannot be read: {exc}") from None
        source = f"master key file {path}"
    elif os.environ.get(MASTER_KEY_ENV):
        key = os.environ[MASTER_KEY_ENV].encode()
        source = f"${MASTER_KEY_ENV}"
    else:
        raise KeyStoreError(
            f"no master key: pass a key file or set ${MASTER_KEY_FILE_ENV} or ${MASTER_KEY_ENV}"
        )
    if len(key) < _MIN_MASTER_KEY:
        raise KeyStoreError(f"{source} is shorter than {_MIN_MASTER_KEY} bytes")
    return key


def create_master_key_file(path: str | os.PathLike[str]) -> bytes:
    """Write a fresh random master key (hex, 0600); used when a CA home is first made."""
    key = os.urandom(32).hex().encode()
    _write_private(Path(path), key + b"\n")
    return key


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` 0600 via a temp file and rename, so a crash leaves no partial key."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


class EncryptedKeyStore:
    """Named EC P-256 keys in ``directory/<name>.key``, PKCS#8-encrypted under a master key."""

    def __init__(self, directory: str | os.PathLike[str], master_key: bytes) -> None:
        if len(master_key) < _MIN_MASTER_KEY:
            raise KeyStoreError(f"master key is shorter than {_MIN_MASTER_KEY} bytes")
        self.directory = Path(directory)
        self._master_key = master_key

    def path(self, name: str) -> Path:
        if not _KEY_NAME.match(name):
            raise KeyStoreError(f"key name {name!r} must be 1-64 letters, digits, '.', '_', '-'")
        return self.directory / f"{name}.key"

    def exists(self, name: str) -> bool:
        return self.path(name).exists()

    def create(self, name: str) -> SoftwareCaKey:
        """Generate and store a new key; refuses to overwrite an existing one."""
        path = self.path(name)
        if path.exists():
            raise KeyStoreError(f"key {name!r} already exists at {path}")
        key = ec.generate_private_key(ec.SECP256R1())
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        _write_private(path, self._encrypt(key))
        return SoftwareCaKey(key)

    def _encrypt(self, key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._master_key),
        )

    def load(self, name: str) -> SoftwareCaKey:
        path = self.path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyStoreError(f"key {name!r} does not exist at {path}") from None
        if path.stat().st_mode & 0o077:
            raise KeyStoreError(f"key file {path} is readable by others; chmod 600 it")
        try:
            key = serialization.load_pem_private_key(data, password=self._master_key)
        except (ValueError, TypeError):
            raise KeyStoreError(
                f"key file {path} cannot be decrypted with this master key (wrong key or "
                "not an encrypted PKCS#8 file)"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyStoreError(f"key file {path} does not hold an EC key")
        return SoftwareCaKey(key)

    def load_or_create(self, name: str) -> SoftwareCaKey:
        return self.load(name) if self.exists(name) else self.create(name)
