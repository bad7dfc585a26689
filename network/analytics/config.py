"""The analytics node's YAML config (``consortium node run analytics --config FILE``)::

    network: two-members
    channels: [mychannel]              # one database per channel: <databases>/<channel>
    deliver: {connection: connection/org1.json, identity: user1, endpoint: 127.0.0.1:7051}
    databases: analytics               # the folder of the channels' databases
    listen: 127.0.0.1:7400             # channel n's database served (ledgerdb gRPC) on port + n
    qldb: 127.0.0.1:7401               # optional: and over QLDB's session API (pyqldb), read-only,
                                       # on port + n, as the ledger named like the channel
    operations: {listen: 127.0.0.1:9446}   # optional: /metrics, /healthz, /logspec

``deliver`` is the events bridge's setting (``network.mqtt.config``): a connection file
``consortium up`` writes, one of its identities and, optionally, which of the member's
peers to follow. Relative paths are relative to the config file; errors name file, line
and field, like the network spec's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from network.analytics.errors import AnalyticsConfigError
from network.mqtt.address import parse_address
from network.mqtt.config import Identity, identity_setting
from network.spec import SpecError, read_yaml
from proto.operations import listen_setting

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9.-]{0,248}$")


@dataclass(frozen=True)
class AnalyticsConfig:
    network: str
    channels: tuple[str, ...]
    deliver: Identity
    databases: Path
    host: str
    port: int
    operations_listen: str = ""
    qldb_port: int = 0  # 0: no QLDB session API

    def database(self, channel: str) -> Path:
        """The folder of ``channel``'s ledgerdb database."""
        return self.databases / channel

    def listen(self, channel: str) -> str:
        """Where ``channel``'s database is served: ``port`` + its place in ``channels``."""
        return f"{self.host}:{self.port + self.channels.index(channel)}"

    def qldb_listen(self, channel: str) -> str:
        """Where ``channel``'s database answers QLDB's session API ("" when it does not)."""
        if not self.qldb_port:
            return ""
        return f"{self.host}:{self.qldb_port + self.channels.index(channel)}"


def load_config(file: Path) -> AnalyticsConfig:
    """Read and check the config; raise ``AnalyticsConfigError`` naming the field."""
    try:
        return _load(Path(file))
    except SpecError as exc:
        raise AnalyticsConfigError(str(exc)) from None


def _load(file: Path) -> AnalyticsConfig:
    data, reader = read_yaml(file)
    required = {"network", "channels", "deliver", "databases", "listen"}
    top = reader.mapping(data, (), required | {"operations", "qldb"}, required)
    base = file.parent
    channels = tuple(
        reader.text(c, ("channels", n), _CHANNEL, "a channel ID")
        for n, c in enumerate(reader.sequence(top["channels"], ("channels",), 1))
    )
    try:
        operations_listen = listen_setting(top.get("operations"))
    except ValueError as exc:
        raise reader.error(("operations",), str(exc)) from None
    host, port = _address(reader, top, "listen")
    qldb_port = 0
    if top.get("qldb") is not None:
        qldb_host, qldb_port = _address(reader, top, "qldb")
        if qldb_host != host:
            raise reader.error(("qldb",), f"must be on the listen host {host}")
    return AnalyticsConfig(
        network=reader.text(top["network"], ("network",), _NAME, "a network name"),
        channels=channels,
        deliver=identity_setting(reader, top["deliver"], "deliver", base),
        databases=base / str(top["databases"]),
        host=host,
        port=port,
        operations_listen=operations_listen,
        qldb_port=qldb_port,
    )


def _address(reader: Any, top: dict, name: str) -> tuple[str, int]:
    try:
        return parse_address(top[name])
    except ValueError as exc:
        raise reader.error((name,), str(exc)) from None
