"""The explorer's config, written by ``consortium up`` (``explorer/explorer.json``)::

    {"network": "two-members", "listen": "127.0.0.1:7080",
     "operations": {"listen": "127.0.0.1:9446"},
     "control_plane": {"url": "http://127.0.0.1:7100", "network_id": "n-…",
                       "account": "111111111111"},
     "members": {"org1": {"mspid": "Org1MSP", "connection": "…/connection/org1.json",
                          "users": "…/members/org1/users"}},
     "channels": {"mychannel": ["org1", "org2"]},
     "nodes": [{"name": "peer-org1-peer0", "kind": "peer", "member": "org1",
                "address": "127.0.0.1:7051"}, …],
     "journals": {"orderer-orderer0": "…/ordering/orderer0/data/channels"}}

Only what a member of the network may know: its connection files (gateway endpoints,
TLS roots, identities), where nodes listen, and the orderers' journal folders.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from network.errors import NetworkError
from network.gateway_client import GatewayClient, member_identities


class ExplorerConfigError(NetworkError):
    """The explorer's config file is missing, is not JSON, or lacks a field (named)."""


@dataclass(frozen=True)
class NodeRef:
    """A node the Network page draws and probes."""

    name: str
    kind: str  # control-plane | orderer | ca | peer
    member: str
    address: str


@dataclass(frozen=True)
class ExplorerConfig:
    network: str
    listen: str
    operations_listen: str
    control_plane_url: str
    network_id: str
    account: str
    members: dict[str, dict[str, str]]  # name → {mspid, connection}
    channels: dict[str, list[str]]  # channel → member names
    nodes: tuple[NodeRef, ...]
    journals: dict[str, Path]  # orderer node → its channels' journal folder
    file: Path | None = None
    credentials: Path | None = None  # the control plane's secrets (strict SigV4)

    def connection(self, member: str) -> dict[str, Any]:
        """The member's connection file, read when needed (``up`` rewrites it)."""
        return json.loads(Path(self.members[member]["connection"]).read_text())

    def users(self, member: str) -> Path | None:
        """Where ``consortium ca adduser`` enrolls the member's later identities (None in
        a config written before the explorer knew of them)."""
        folder = self.members[member].get("users")
        return Path(folder) if folder else None

    def identities(self, member: str) -> list[str]:
        """Every identity the member can act as, enrolled later ones included."""
        return member_identities(self.connection(member), self.users(member))

    def client(self, member: str, identity: str = "user1") -> GatewayClient:
        """A gateway client of the member acting as ``identity`` (GatewayClientError
        names an identity it does not have)."""
        return GatewayClient.from_connection(
            self.connection(member), identity, users=self.users(member)
        )

    def reader_of(self, channel: str) -> str:
        """The member whose identity reads ``channel`` (its first member with a file)."""
        for member in self.channels.get(channel, []):
            if member in self.members:
                return member
        raise ExplorerConfigError(f"no member with a connection file is in channel {channel}")


def load_config(path: Path) -> ExplorerConfig:
    """Read and check the config; every problem names the file and the field."""
    try:
        raw = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ExplorerConfigError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise ExplorerConfigError(f"{path}: not JSON: {exc}") from None
    try:
        plane = raw["control_plane"]
        return ExplorerConfig(
            network=str(raw["network"]),
            listen=str(raw["listen"]),
            operations_listen=str((raw.get("operations") or {}).get("listen", "")),
            control_plane_url=str(plane["url"]),
            network_id=str(plane.get("network_id", "")),
            account=str(plane["account"]),
            members={str(k): dict(v) for k, v in raw["members"].items()},
            channels={str(k): list(v) for k, v in raw["channels"].items()},
            nodes=tuple(NodeRef(**node) for node in raw.get("nodes", [])),
            journals={str(k): Path(v) for k, v in raw.get("journals", {}).items()},
            file=Path(path),
            credentials=Path(plane["credentials"]) if plane.get("credentials") else None,
        )
    except KeyError as exc:
        raise ExplorerConfigError(f"{path}: {exc.args[0]} is required") from None
    except (TypeError, AttributeError) as exc:
        raise ExplorerConfigError(f"{path}: malformed: {exc}") from None


class LiveConfig:
    """The config as ``up`` and the reconciler last wrote it: a member voted in after
    ``up`` appears on the next page load, with no restart of the explorer."""

    def __init__(self, config: ExplorerConfig) -> None:
        self._config = config
        self._stamp: tuple[int, int, int] = (0, 0, 0)
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int, int]:
        """The file's inode, mtime and size: the supervisor replaces it atomically (a new
        inode each time), so two writes within one clock tick are still told apart."""
        try:
            found = self._config.file.stat() if self._config.file else None
        except OSError:
            return self._stamp
        return (found.st_ino, found.st_mtime_ns, found.st_size) if found else (0, 0, 0)

    def current(self) -> ExplorerConfig:
        stamp = self._stat()
        if stamp != self._stamp:
            try:
                self._config = load_config(self._config.file)  # type: ignore[arg-type]
            except ExplorerConfigError:
                return self._config  # half-written: keep the last good one
            self._stamp = stamp
        return self._config
