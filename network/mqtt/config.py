"""The bridge's YAML config (``consortium node run mqtt-bridge --config FILE``)::

    network: two-members              # the topic prefix: consortium/<network>/...
    broker: 127.0.0.1:1883            # the MQTT broker (MQTT 5)
    client_id: bridge-two-members     # default: consortium-bridge-<network>
    channels: [mychannel]             # whose blocks to publish
    deliver: {connection: connection/org1.json, identity: user1}
    checkpoint: events/checkpoint.json
    start: oldest                     # where a bridge without a checkpoint starts: oldest | newest
    governance:                       # optional: the control plane's event feed
      control_plane: http://127.0.0.1:7100
      network_id: n-...               # optional: only this network's events
    ingress: {connection: connection/org1.json, identity: user1}   # optional
    member_ingress: {connections: connection, identity: user1}
                                      # optional: each member submits as itself on its
                                      # …/members/<member>/submit/… topics, through
                                      # <connections>/<member>.json
    login: {username: consortium-bridge, password: ..., tlsRootCert: events/tls/ca.crt}
                                      # optional: TLS and a password (the broker up runs)
    operations: {listen: 127.0.0.1:9445}   # optional: /metrics, /healthz, /logspec

``connection`` files are the ones ``consortium up`` writes (any Fabric gateway client
reads them); relative paths are relative to the config file. Errors name file, line and
field, like the network spec's.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from network.gateway_client import GatewayClient
from network.mqtt.access import Login
from network.mqtt.address import parse_address
from network.mqtt.errors import BridgeConfigError
from network.spec import SpecError, _Reader, read_yaml
from proto.operations import listen_setting

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9.-]{0,248}$")
_URL = re.compile(r"^https?://[^\s/]+$")
STARTS = ("oldest", "newest")


@dataclass(frozen=True)
class Identity:
    """A member's gateway and one of its identities, from a connection file."""

    connection: Path
    identity: str
    endpoint: str = ""  # which of the member's gateway peers; "": its first


@dataclass(frozen=True)
class BridgeConfig:
    network: str
    broker_host: str
    broker_port: int
    channels: tuple[str, ...]
    deliver: Identity
    checkpoint: Path
    client_id: str
    start: str = "oldest"
    control_plane: str = ""
    network_id: str = ""
    ingress: Identity | None = None
    member_ingress: Identity | None = None  # connection: the folder of members' files
    operations_listen: str = ""
    login: Login | None = None

    @property
    def broker(self) -> str:
        return f"{self.broker_host}:{self.broker_port}"


def identity_setting(reader: _Reader, raw: Any, key: str, base: Path) -> Identity:
    """``{connection, identity, endpoint}``: who reads or submits, through which peer
    (the analytics node's config uses the same setting)."""
    value = reader.mapping(raw, (key,), {"connection", "identity", "endpoint"}, {"connection"})
    identity = str(value.get("identity", "user1"))
    if not _NAME.match(identity):
        raise reader.error((key, "identity"), f"{identity!r} is not an identity name")
    return Identity(base / str(value["connection"]), identity, str(value.get("endpoint", "")))


def load_config(file: Path) -> BridgeConfig:
    """Read and check the bridge config; raise ``BridgeConfigError`` naming the field."""
    try:
        return _load(Path(file))
    except SpecError as exc:
        raise BridgeConfigError(str(exc)) from None


def _load(file: Path) -> BridgeConfig:
    data, reader = read_yaml(file)
    known = {"network", "broker", "client_id", "channels", "deliver", "checkpoint", "start"}
    top = reader.mapping(
        data,
        (),
        known | {"governance", "ingress", "member_ingress", "operations", "login"},
        {"network", "broker", "channels", "deliver", "checkpoint"},
    )
    base = file.parent
    network = reader.text(top["network"], ("network",), _NAME, "a network name")
    try:
        host, port = parse_address(top["broker"])
    except ValueError as exc:
        raise reader.error(("broker",), str(exc)) from None
    channels = tuple(
        reader.text(c, ("channels", n), _CHANNEL, "a channel ID")
        for n, c in enumerate(reader.sequence(top["channels"], ("channels",), 1))
    )
    start = str(top.get("start", "oldest"))
    if start not in STARTS:
        raise reader.error(("start",), f"{start!r} must be {' or '.join(STARTS)}")
    governance = reader.mapping(
        top.get("governance") or {}, ("governance",), {"control_plane", "network_id"}, set()
    )
    control_plane = str(governance.get("control_plane", "")).rstrip("/")
    if control_plane and not _URL.match(control_plane):
        raise reader.error(
            ("governance", "control_plane"), f"{control_plane!r} is not http://host:port"
        )
    client_id = str(top.get("client_id", f"consortium-bridge-{network}"))
    if not _NAME.match(client_id):
        raise reader.error(("client_id",), f"{client_id!r} is not a client id")
    try:
        operations_listen = listen_setting(top.get("operations"))
    except ValueError as exc:
        raise reader.error(("operations",), str(exc)) from None
    return BridgeConfig(
        network=network,
        broker_host=host,
        broker_port=port,
        channels=channels,
        deliver=identity_setting(reader, top["deliver"], "deliver", base),
        checkpoint=base / str(top["checkpoint"]),
        client_id=client_id,
        start=start,
        control_plane=control_plane,
        network_id=str(governance.get("network_id", "")),
        ingress=identity_setting(reader, top["ingress"], "ingress", base)
        if "ingress" in top
        else None,
        member_ingress=_member_ingress(reader, top.get("member_ingress"), base),
        operations_listen=operations_listen,
        login=_login(reader, top.get("login"), base),
    )


def _member_ingress(reader: _Reader, raw: Any, base: Path) -> Identity | None:
    """``{connections: FOLDER, identity: NAME}``: members' connection files, and which of
    each member's identities submits its requests."""
    if raw is None:
        return None
    key = "member_ingress"
    value = reader.mapping(raw, (key,), {"connections", "identity"}, {"connections"})
    identity = str(value.get("identity", "user1"))
    if not _NAME.match(identity):
        raise reader.error((key, "identity"), f"{identity!r} is not an identity name")
    return Identity(base / str(value["connections"]), identity)


def _login(reader: _Reader, raw: Any, base: Path) -> Login | None:
    if raw is None:
        return None
    fields = {"username", "password", "tlsRootCert"}
    value = reader.mapping(raw, ("login",), fields, fields)
    return Login(str(value["username"]), str(value["password"]), str(base / value["tlsRootCert"]))


def open_gateway(who: Identity) -> GatewayClient:
    """A gateway client for ``who``: the connection file's peer, as the named identity."""
    try:
        connection = json.loads(who.connection.read_text())
    except (OSError, ValueError) as exc:
        raise BridgeConfigError(
            f"{who.connection}: not a readable connection file: {exc}"
        ) from None
    if who.identity not in connection.get("identities", {}):
        known = ", ".join(sorted(connection.get("identities", {}))) or "none"
        raise BridgeConfigError(
            f"{who.connection}: no identity {who.identity!r} (identities: {known})"
        )
    return GatewayClient.from_connection(connection, who.identity, who.endpoint)
