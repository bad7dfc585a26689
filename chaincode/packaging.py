"""Fabric chaincode-as-a-service packages, and their package IDs.

A CCaaS package is a gzipped tar holding ``metadata.json`` (``{"type": "ccaas",
"label": …}``) and ``code.tar.gz``, which holds ``connection.json`` (where the peer dials
the contract) and, if the contract has one, ``META-INF/`` (CouchDB index definitions).
Fabric's package ID is ``<label>:<hex SHA-256 of the package file>``, so the same file
installs with the same ID here and on a real Fabric peer. Archives are written
deterministically (zero timestamps and owners, sorted entries), so the same inputs always
give the same ID.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from chaincode.errors import PackagingError

LABEL_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
"""Fabric's rule for package labels (``core/chaincode/persistence``)."""


@dataclass(frozen=True)
class Connection:
    """``connection.json``: how the peer reaches the contract server."""

    address: str
    dial_timeout: str = "10s"
    tls_required: bool = False
    client_auth_required: bool = False
    root_cert: str = ""
    client_key: str = ""
    client_cert: str = ""

    def to_json(self) -> bytes:
        body: dict[str, object] = {
            "address": self.address,
            "dial_timeout": self.dial_timeout,
            "tls_required": self.tls_required,
        }
        if self.tls_required:
            body["client_auth_required"] = self.client_auth_required
            for name in ("root_cert", "client_key", "client_cert"):
                if getattr(self, name):
                    body[name] = getattr(self, name)
        return json.dumps(body, indent=2).encode() + b"\n"


@dataclass(frozen=True)
class Package:
    path: Path
    label: str
    package_id: str


def package_id(label: str, package_bytes: bytes) -> str:
    return f"{label}:{hashlib.sha256(package_bytes).hexdigest()}"


def check_label(label: str) -> None:
    if not LABEL_PATTERN.match(label):
        raise PackagingError(
            f"label {label!r}: must start with a letter or digit and contain only "
            "letters, digits and _ . + -"
        )


def check_address(address: str) -> None:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise PackagingError(f"address {address!r}: must be host:port")


def _tar(entries: list[tuple[str, bytes]]) -> bytes:
    """A gzipped tar of ``entries`` with every varying field zeroed."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def _meta_inf(directory: Path) -> list[tuple[str, bytes]]:
    root = directory / "META-INF"
    if not root.is_dir():
        return []
    return [
        (path.relative_to(directory).as_posix(), path.read_bytes())
        for path in sorted(root.rglob("*"))
        if path.is_file()
    ]


def check_connection(connection: Connection) -> None:
    check_address(connection.address)
    if not re.fullmatch(r"\d+(ms|s|m|h)", connection.dial_timeout):
        raise PackagingError(
            f"dial_timeout {connection.dial_timeout!r}: use a Go duration, e.g. 10s"
        )
    if (connection.root_cert or connection.client_auth_required) and not connection.tls_required:
        raise PackagingError("tls_required: certificates given but TLS is not required")
    if connection.client_auth_required and not (connection.client_cert and connection.client_key):
        raise PackagingError("client_cert/client_key: mutual TLS needs both")


def build_package(directory: Path, label: str, connection: Connection) -> bytes:
    """The package file's bytes for the contract in ``directory``."""
    check_label(label)
    check_connection(connection)
    if not directory.is_dir():
        raise PackagingError(f"directory {directory}: does not exist")
    markers = ("__init__.py", "package.json", "go.mod", "META-INF")
    if not any((directory / marker).exists() for marker in markers):
        raise PackagingError(
            f"directory {directory}: not a contract (no __init__.py, package.json, go.mod "
            "or META-INF)"
        )
    code = _tar([("connection.json", connection.to_json()), *_meta_inf(directory)])
    metadata = json.dumps({"type": "ccaas", "label": label}).encode()
    return _tar([("metadata.json", metadata), ("code.tar.gz", code)])


def write_package(
    directory: Path, label: str, connection: Connection, output: Path | None = None
) -> Package:
    """Write the package atomically (temporary file, then rename) and return its ID."""
    data = build_package(directory, label, connection)
    target = output or Path(f"{label}.tar.gz")
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".package-")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise PackagingError(f"output {target}: {exc.strerror}") from None
    return Package(target, label, package_id(label, data))


def read_package(data: bytes) -> tuple[dict, dict[str, bytes]]:
    """(metadata.json, files of code.tar.gz) — what a peer reads when installing."""
    try:
        outer = _untar(data)
        metadata = json.loads(outer["metadata.json"])
        code = _untar(outer["code.tar.gz"])
    except (tarfile.TarError, KeyError, ValueError, OSError) as exc:
        raise PackagingError(f"package: not a chaincode package ({exc})") from None
    return metadata, code


def _untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {
            member.name: archive.extractfile(member).read()  # type: ignore[union-attr]
            for member in archive.getmembers()
            if member.isfile()
        }
