"""Chaincode packages installed on this peer, and which one each approved definition uses.

Installing is local to a peer (``peer lifecycle chaincode install``): the package file is
kept under ``packages/<package id>.tar.gz``. A chaincode-as-a-service package names the
contract's address in its ``connection.json``; when an org approves a definition with a
package ID, this peer records which package serves that (channel, name, sequence), so the
endorser knows where to dial.

An approval the disk refuses to record (full) is kept in memory, served from there, and
written by the next ``write_approvals`` (the node calls it after every committed block),
so an approval committed while the disk filled is not forgotten.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from chaincode.errors import PackagingError
from chaincode.packaging import package_id, read_package
from chaincode.server_info import ServerInfo, server_info
from peers.errors import PeerError

log = logging.getLogger(__name__)


class PackageError(PeerError):
    """A package cannot be installed or is not installed."""


@dataclass(frozen=True)
class InstalledPackage:
    package_id: str
    label: str
    server: ServerInfo  # connection.json: address, dial timeout, TLS as Fabric reads them

    @property
    def address(self) -> str:
        return self.server.address


class PackageStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._approved_file = directory / "approved.json"
        self._unwritten: dict[str, str] = {}  # approvals the disk refused so far

    def install(self, data: bytes) -> InstalledPackage:
        try:
            metadata, code = read_package(data)
        except PackagingError as exc:
            raise PackageError(str(exc)) from None
        label = str(metadata.get("label", ""))
        if metadata.get("type") != "ccaas":
            raise PackageError(
                f"package type {metadata.get('type')!r} is not supported; use a "
                "chaincode-as-a-service package (type ccaas)"
            )
        server = _server(label, code)
        identifier = package_id(label, data)
        target = self.directory / f"{identifier}.tar.gz"
        if target.exists():
            raise PackageError(f"chaincode already successfully installed: {identifier}")
        _write_atomically(target, data)
        return InstalledPackage(identifier, label, server)

    def get(self, identifier: str) -> InstalledPackage:
        path = self.directory / f"{identifier}.tar.gz"
        if not path.exists():
            raise PackageError(f"chaincode install package '{identifier}' not found")
        metadata, code = read_package(path.read_bytes())
        return InstalledPackage(identifier, metadata["label"], _server(metadata["label"], code))

    def installed(self) -> list[InstalledPackage]:
        return [
            self.get(p.name.removesuffix(".tar.gz"))
            for p in sorted(self.directory.glob("*.tar.gz"))
        ]

    # -- approvals ---------------------------------------------------------------------

    def _approvals(self) -> dict[str, str]:
        written = (
            json.loads(self._approved_file.read_text()) if self._approved_file.exists() else {}
        )
        return {**written, **self._unwritten}

    def record_approval(self, channel: str, name: str, sequence: int, identifier: str) -> None:
        self._unwritten[f"{channel}/{name}/{sequence}"] = identifier
        self.write_approvals()

    def write_approvals(self) -> None:
        """Write the approvals not written yet; on a refusal (a full disk) keep them for
        the next call."""
        if not self._unwritten:
            return
        try:
            _write_atomically(self._approved_file, json.dumps(self._approvals(), indent=2).encode())
        except OSError as exc:
            log.warning("approvals kept in memory until they can be written: %s", exc)
            return
        self._unwritten.clear()

    def approved_package(self, channel: str, name: str, sequence: int) -> str | None:
        return self._approvals().get(f"{channel}/{name}/{sequence}")

    def channel_approvals(self, channel: str) -> list[tuple[str, int, str]]:
        """(name, sequence, package ID) of every approval recorded for ``channel``: what a
        peer snapshot carries to another peer of the organization (``peers.snapshots``)."""
        found = []
        for key, identifier in sorted(self._approvals().items()):
            on, name, sequence = key.rsplit("/", 2)
            if on == channel:
                found.append((name, int(sequence), identifier))
        return found


def _server(label: str, code: dict[str, bytes]) -> ServerInfo:
    """The package's connection.json read as Fabric's peer reads it, checked at install
    (Fabric's ccaas builder refuses a malformed one then too)."""
    if "connection.json" not in code:
        raise PackageError(f"package {label}: connection.json not found")
    try:
        return server_info(code["connection.json"])
    except PackagingError as exc:
        raise PackageError(f"package {label}: {exc}") from None


def _write_atomically(target: Path, data: bytes) -> None:
    temporary = target.with_suffix(target.suffix + ".tmp")
    # owner-only: a CCaaS package's connection.json may hold a TLS client key
    with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    temporary.rename(target)
