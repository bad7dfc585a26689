"""The network spec: one YAML file describing a whole consortium network.

``consortium up`` starts what a spec describes; ``consortium spec validate`` checks one
without starting anything. Every problem is reported as ``file:line: field: what is
wrong`` so a person can go straight to it. Every key, with an example, is in
``docs/spec.md``. The shape::

    network:
      name: supply-net
      voting_policy: {threshold_percentage: 50, proposal_duration_hours: 24,
                      threshold_comparator: GREATER_THAN}
    control_plane: {port: 7100, clock: manual}   # clock: system (default) | manual
    ordering:
      mspid: OrdererMSP
      orderers: [{name: orderer0, port: 7050, admin_port: 7053}]
    members:
      - name: org1
        account: "111111111111"
        mspid: Org1MSP
        ca: {port: 7054}
        peers: [{name: peer0, port: 7051}]
    channels:
      - name: mychannel
        members: [org1, org2]
        batch: {timeout: 2s, max_message_count: 500}
    chaincodes:
      - name: basic
        sample: asset_transfer          # or: path: ./contracts/my_contract
        channel: mychannel
        port: 9999
        endorsement_policy: "AND('Org1MSP.peer', 'Org2MSP.peer')"   # or MAJORITY, …
    events:                             # optional: the MQTT events bridge (docs/events.md)
      broker: local                     # `up` runs Mosquitto; or host:port of a broker
      port: 1883                        # the local broker's port
      member: org1                      # the bridge reads blocks as this member's user1
      ingress: {member: org1, identity: user1}   # optional: MQTT → transactions
    analytics:                          # optional: each channel's data in ledgerdb
      member: org1                      # follows its peer0 as its user1 (docs/analytics.md)
      peer: peer0
      channels: [mychannel]
      port: 7400                        # channel n's database served on port + n
      qldb_port: 7410                   # and over QLDB's session API (pyqldb), read-only,
                                        # on qldb_port + n (default: right after port's)
    explorer: {port: 7080}              # optional: the web view (docs/explorer.md); on by
                                        # default on a free port; `explorer: off` for none
    tls: {client_auth: true}            # optional: false lets clients without a member's
                                        # TLS certificate in (teaching); mutual TLS by default

Ports are on ``host`` (default ``127.0.0.1``); a member or node may name another host.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ca.errors import CaError
from network.chaincode_deploy import application_policy
from network.errors import NetworkError
from network.mqtt.address import parse_address

COMPARATORS = ("GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_MSPID = re.compile(r"^[A-Za-z][A-Za-z0-9.-]{0,62}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9.-]{0,248}$")
SAMPLES = ("asset_transfer", "supply_chain", "token")

Path_ = tuple[str | int, ...]


class SpecError(NetworkError):
    """A spec problem: the file, the line and the field it is about."""

    def __init__(self, file: str, line: int, field_path: str, message: str) -> None:
        super().__init__(f"{file}:{line}: {field_path}: {message}")
        self.file, self.line, self.field, self.message = file, line, field_path, message


# -- YAML with line numbers ----------------------------------------------------------------


def _construct(
    loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int]
) -> Any:
    """Python values from a composed YAML node, recording each value's line by path."""
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in result:
                raise ValueError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            result[key] = _construct(loader, value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(loader, item, (*path, n), lines) for n, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def _yaml_error(file: str, exc: yaml.YAMLError) -> SpecError:
    """PyYAML's error as a SpecError at the line its mark points to."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return SpecError(file, mark.line + 1 if mark else 1, "(yaml)", problem)


def load_with_lines(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(file, exc) from None
    if node is None:
        raise SpecError(file, 1, "(file)", "the spec is empty")
    lines: dict[Path_, int] = {}
    loader = yaml.SafeLoader("")
    try:
        return _construct(loader, node, (), lines), lines
    except ValueError as exc:
        raise SpecError(file, 1, "(yaml)", str(exc)) from None
    except yaml.YAMLError as exc:  # a tag no safe constructor knows, found while building
        raise _yaml_error(file, exc) from None
    finally:
        loader.dispose()


# -- the spec ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class VotingPolicy:
    threshold_percentage: int = 50
    proposal_duration_hours: int = 24
    threshold_comparator: str = "GREATER_THAN"


@dataclass(frozen=True)
class Node:
    name: str
    host: str
    port: int
    admin_port: int = 0
    line: int = field(default=0, compare=False)
    # /metrics, /healthz, /logspec; 0: a free port `up` picks once and keeps. Not part
    # of where the node "is": a changed one takes effect when the node next starts.
    operations_port: int = field(default=0, compare=False)
    # A peer's only: a peer snapshot folder (`peer snapshot submitrequest`'s output) the
    # peer joins its channel from, at that height, instead of from the genesis block.
    snapshot: str = field(default="", compare=False)


@dataclass(frozen=True)
class NatsServer:
    """One NATS server of the replicated ordering service (JetStream, clustered)."""

    name: str
    host: str
    port: int  # clients (the orderers)
    cluster_port: int  # routes between the servers
    monitor_port: int  # HTTP monitoring: how readiness and `status` are judged
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Member:
    name: str
    account: str
    mspid: str
    ca: Node
    peers: tuple[Node, ...]


@dataclass(frozen=True)
class Channel:
    """A channel; ``anchor_peers`` and ``policies`` hold only what the spec says (a
    member left out of ``anchor_peers`` gets its first peer in the genesis block; a
    policy left out keeps configtxgen's default), so only an edit the user made becomes
    a config update."""

    name: str
    members: tuple[str, ...]
    batch: Mapping[str, Any] = field(default_factory=dict)
    anchor_peers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    policies: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Chaincode:
    name: str
    channel: str
    port: int
    endorsement_policy: str
    sample: str = ""
    path: str = ""
    version: str = "1.0"


@dataclass(frozen=True)
class Events:
    """The events bridge: its broker (``local``: run by ``up``), whose peer it reads, and
    who submits ingress requests (no ingress when ``ingress_member`` is empty)."""

    broker_host: str
    broker_port: int
    local: bool
    member: str
    ingress_member: str = ""
    ingress_identity: str = "user1"
    line: int = field(default=0, compare=False)
    operations_port: int = field(default=0, compare=False)  # the bridge's; 0: picked by up


@dataclass(frozen=True)
class Analytics:
    """The analytics node (``docs/analytics.md``): whose peer it follows, as which member,
    which channels it copies into ledgerdb, and where channel n's database is served
    (``port`` + n over ledgerdb's gRPC, ``qldb_port`` + n over QLDB's session API)."""

    member: str
    peer: str
    channels: tuple[str, ...]
    host: str
    port: int
    qldb_port: int = 0
    line: int = field(default=0, compare=False)
    operations_port: int = field(default=0, compare=False)  # 0: picked by up


@dataclass(frozen=True)
class Explorer:
    """The explorer (web view): on unless the spec says ``explorer: off``; its port is
    the spec's, or (0) a free one ``up`` picks on first start and keeps."""

    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 0
    line: int = field(default=0, compare=False)


@dataclass(frozen=True)
class NetworkSpec:
    file: Path
    name: str
    description: str
    voting_policy: VotingPolicy
    control_plane: Node
    ordering_mspid: str
    orderers: tuple[Node, ...]
    members: tuple[Member, ...]
    channels: tuple[Channel, ...]
    chaincodes: tuple[Chaincode, ...]
    events: Events | None = None
    analytics: Analytics | None = None
    nats: tuple[NatsServer, ...] = ()  # empty: orderers order alone (local journals)
    # manual: the control plane's clock moves only by `consortium clock advance`, so
    # proposal expiry can be rehearsed on a running network
    control_plane_clock: str = "system"
    # the spec's top-level host: the default of every node, and where chaincodes listen
    host: str = "127.0.0.1"
    # address → network namespace: a node on that address runs inside it (`hosts:`)
    namespaces: Mapping[str, str] = field(default_factory=dict)
    explorer: Explorer = field(default_factory=Explorer)
    # every node requires a client certificate from a TLS CA of the network (mutual TLS);
    # `tls: {client_auth: false}` turns that off, for teaching with plain TLS clients
    client_auth: bool = True

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def ports(self) -> list[tuple[str, str, int, int]]:
        """(what, host, port, spec line) for every socket the network will listen on."""
        plane = self.control_plane
        found = [("control plane", plane.host, plane.port, plane.line)]
        found += self._operations_ports()
        for orderer in self.orderers:
            found.append((f"orderer {orderer.name}", orderer.host, orderer.port, orderer.line))
            found.append(
                (f"orderer {orderer.name} admin", orderer.host, orderer.admin_port, orderer.line)
            )
        for server in self.nats:
            for what, port in (
                ("", server.port),
                (" cluster", server.cluster_port),
                (" monitor", server.monitor_port),
            ):
                found.append((f"NATS server {server.name}{what}", server.host, port, server.line))
        for member in self.members:
            ca = member.ca
            found.append((f"member {member.name} CA", ca.host, ca.port, ca.line))
            for peer in member.peers:
                found.append((f"peer {member.name}/{peer.name}", peer.host, peer.port, peer.line))
        for chaincode in self.chaincodes:
            found.append((f"chaincode {chaincode.name}", self.host, chaincode.port, 0))
        if self.events is not None and self.events.local:
            events = self.events
            found.append(("events broker", events.broker_host, events.broker_port, events.line))
        if self.analytics is not None:
            analytics = self.analytics
            for n, channel in enumerate(analytics.channels):
                what = f"analytics database {channel}"
                found.append((what, analytics.host, analytics.port + n, analytics.line))
                qldb = analytics.qldb_port + n
                found.append((f"{what} (QLDB API)", analytics.host, qldb, analytics.line))
        if self.explorer.enabled and self.explorer.port:
            explorer = self.explorer
            found.append(("explorer", explorer.host, explorer.port, explorer.line))
        return found

    def _operations_ports(self) -> list[tuple[str, str, int, int]]:
        """The operations ports the spec names (the others are picked free by ``up``)."""
        nodes = [("control plane", self.control_plane)]
        nodes += [(f"orderer {o.name}", o) for o in self.orderers]
        for member in self.members:
            nodes.append((f"member {member.name} CA", member.ca))
            nodes += [(f"peer {member.name}/{p.name}", p) for p in member.peers]
        found = [
            (f"{what} operations", node.host, node.operations_port, node.line)
            for what, node in nodes
            if node.operations_port
        ]
        if self.events is not None and self.events.operations_port:
            events = self.events
            found.append(("events bridge operations", "127.0.0.1", events.operations_port, 0))
        if self.analytics is not None and self.analytics.operations_port:
            port = self.analytics.operations_port
            found.append(("analytics operations", self.analytics.host, port, 0))
        return found


class _Reader:
    """Reads one mapping of the spec, naming unknown keys and missing fields by line."""

    def __init__(self, file: str, lines: dict[Path_, int]) -> None:
        self.file = file
        self.lines = lines

    def error(self, path: Path_, message: str) -> SpecError:
        line = self.lines.get(path) or self.lines.get(path[:-1], 1)
        return SpecError(self.file, line, _dotted(path), message)

    def mapping(self, value: Any, path: Path_, known: set[str], required: set[str]) -> dict:
        if not isinstance(value, dict):
            raise self.error(path, "must be a mapping")
        for key in value:
            if key not in known:
                raise self.error(
                    (*path, key), f"unknown key; expected one of {', '.join(sorted(known))}"
                )
        for key in sorted(required):
            if key not in value or value[key] in (None, ""):
                raise self.error(path, f"{key} is required")
        return value

    def sequence(self, value: Any, path: Path_, minimum: int = 0) -> list:
        if not isinstance(value, list) or len(value) < minimum:
            raise self.error(path, f"must be a list of at least {minimum} item(s)")
        return value

    def text(self, value: Any, path: Path_, pattern: re.Pattern[str], what: str) -> str:
        if not isinstance(value, str | int) or not pattern.match(str(value)):
            raise self.error(path, f"{value!r} is not {what}")
        return str(value)

    def number(self, value: Any, path: Path_, low: int, high: int) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.error(path, f"{value!r} must be a whole number from {low} to {high}")
        return value


def _dotted(path: Path_) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top)"


def read_yaml(file: Path) -> tuple[Any, _Reader]:
    """A YAML file's data and a reader that names its lines: the spec's, and every node
    config that reports errors the same way (events bridge, analytics)."""
    try:
        text = file.read_text()
    except OSError as exc:
        raise SpecError(str(file), 0, "(file)", exc.strerror or str(exc)) from None
    data, lines = load_with_lines(text, str(file))
    return data, _Reader(str(file), lines)


def load_spec(path: str | Path) -> NetworkSpec:
    """Read and validate a spec; raise ``SpecError`` naming file, line and field."""
    file = Path(path)
    data, reader = read_yaml(file)
    top = reader.mapping(
        data,
        (),
        {
            "network",
            "control_plane",
            "ordering",
            "members",
            "channels",
            "chaincodes",
            "host",
            "hosts",
            "events",
            "analytics",
            "explorer",
            "tls",
        },
        {"network", "ordering", "members"},
    )
    host = str(top.get("host", "127.0.0.1"))
    spec = NetworkSpec(
        file=file,
        **_network(reader, top["network"]),
        **_control_plane(reader, top.get("control_plane") or {"port": 7100}, host),
        ordering_mspid=_ordering_mspid(reader, top["ordering"]),
        orderers=_orderers(reader, top["ordering"], host),
        nats=_nats(reader, top["ordering"], host),
        members=_members(reader, top["members"], host, Path(path).parent),
        channels=(),
        chaincodes=(),
        host=host,
        namespaces=_hosts(reader, top.get("hosts") or []),
        client_auth=_client_auth(reader, top.get("tls")),
    )
    channels = _channels(reader, top.get("channels") or [], spec)
    chaincodes = _chaincodes(reader, top.get("chaincodes") or [], channels, Path(path).parent)
    spec = NetworkSpec(**{**spec.__dict__, "channels": channels, "chaincodes": chaincodes})
    if top.get("events") is not None:
        spec = NetworkSpec(
            **{**spec.__dict__, "events": _events(reader, top["events"], spec, host)}
        )
    if top.get("analytics") is not None:
        spec = NetworkSpec(
            **{**spec.__dict__, "analytics": _analytics(reader, top["analytics"], spec, host)}
        )
    if "explorer" in top:
        spec = NetworkSpec(
            **{**spec.__dict__, "explorer": _explorer(reader, top["explorer"], host)}
        )
    _check_ports(reader, spec)
    return spec


def _client_auth(reader: _Reader, raw: Any) -> bool:
    """``tls: {client_auth: BOOL}``; on when absent (TLS itself is always on)."""
    if raw is None:
        return True
    tls = reader.mapping(raw, ("tls",), {"client_auth"}, set())
    value = tls.get("client_auth", True)
    if not isinstance(value, bool):
        raise reader.error(("tls", "client_auth"), f"{value!r} must be true or false")
    return value


def _explorer(reader: _Reader, raw: Any, host: str) -> Explorer:
    """``explorer``: ``off`` (YAML reads it as false), or ``{port, host}``."""
    path: Path_ = ("explorer",)
    if raw is False or raw == "off":
        return Explorer(enabled=False, line=reader.lines.get(path, 0))
    explorer = reader.mapping(raw, path, {"port", "host"}, set())
    return Explorer(
        host=str(explorer.get("host", host)),
        port=_optional_port(reader, explorer, path, "port"),
        line=reader.lines.get((*path, "port"), reader.lines.get(path, 0)),
    )


def _network(reader: _Reader, raw: Any) -> dict[str, Any]:
    path: Path_ = ("network",)
    network = reader.mapping(raw, path, {"name", "description", "voting_policy"}, {"name"})
    voting = reader.mapping(
        network.get("voting_policy") or {},
        (*path, "voting_policy"),
        {"threshold_percentage", "proposal_duration_hours", "threshold_comparator"},
        set(),
    )
    comparator = voting.get("threshold_comparator", "GREATER_THAN")
    if comparator not in COMPARATORS:
        raise reader.error(
            (*path, "voting_policy", "threshold_comparator"),
            f"{comparator!r} must be {' or '.join(COMPARATORS)}",
        )
    policy = VotingPolicy(
        reader.number(
            voting.get("threshold_percentage", 50),
            (*path, "voting_policy", "threshold_percentage"),
            0,
            100,
        ),
        reader.number(
            voting.get("proposal_duration_hours", 24),
            (*path, "voting_policy", "proposal_duration_hours"),
            1,
            168,
        ),
        comparator,
    )
    return {
        "name": reader.text(
            network["name"], (*path, "name"), _NAME, "a network name (a-z, 0-9, -)"
        ),
        "description": str(network.get("description", "")),
        "voting_policy": policy,
    }


NODE_KEYS = {"name", "host", "port", "admin_port", "operations_port"}
PEER_KEYS = NODE_KEYS | {"snapshot"}


def _node(
    reader: _Reader,
    raw: Any,
    path: Path_,
    host: str,
    default_name: str,
    keys: set[str] = NODE_KEYS,
    folder: Path | None = None,
) -> Node:
    node = reader.mapping(raw, path, keys, {"port"})
    snapshot = str(Path(folder or ".") / str(node["snapshot"])) if "snapshot" in node else ""
    return Node(
        name=str(node.get("name", default_name)),
        host=str(node.get("host", host)),
        port=reader.number(node["port"], (*path, "port"), 1, 65535),
        admin_port=reader.number(node["admin_port"], (*path, "admin_port"), 1, 65535)
        if "admin_port" in node
        else 0,
        line=reader.lines.get((*path, "port"), 0),
        operations_port=_optional_port(reader, node, path, "operations_port"),
        snapshot=snapshot,
    )


CLOCKS = ("system", "manual")


def _control_plane(reader: _Reader, raw: Any, host: str) -> dict[str, Any]:
    """``control_plane``: where it listens, and its clock."""
    path: Path_ = ("control_plane",)
    plane = reader.mapping(raw, path, NODE_KEYS | {"clock"}, {"port"})
    clock = plane.get("clock", "system")
    if clock not in CLOCKS:
        raise reader.error((*path, "clock"), f"{clock!r} must be {' or '.join(CLOCKS)}")
    node = {key: value for key, value in plane.items() if key != "clock"}
    return {"control_plane": _node(reader, node, path, host, "cp"), "control_plane_clock": clock}


def _optional_port(reader: _Reader, raw: dict, path: Path_, key: str) -> int:
    return reader.number(raw[key], (*path, key), 1, 65535) if key in raw else 0


def _ordering_mspid(reader: _Reader, raw: Any) -> str:
    ordering = reader.mapping(raw, ("ordering",), {"mspid", "orderers", "nats"}, {"orderers"})
    return reader.text(
        ordering.get("mspid", "OrdererMSP"), ("ordering", "mspid"), _MSPID, "an MSP ID"
    )


def _orderers(reader: _Reader, raw: Any, host: str) -> tuple[Node, ...]:
    items = reader.sequence(raw["orderers"], ("ordering", "orderers"), 1)
    orderers = []
    for n, item in enumerate(items):
        path: Path_ = ("ordering", "orderers", n)
        reader.mapping(item, path, NODE_KEYS, {"name", "port", "admin_port"})
        orderers.append(_node(reader, item, path, host, f"orderer{n}"))
    return tuple(orderers)


def _nats(reader: _Reader, raw: Any, host: str) -> tuple[NatsServer, ...]:
    """``ordering.nats``: the NATS servers of a replicated ordering service (1, 3 or 5:
    JetStream keeps a stream while a majority of its replicas live)."""
    if raw.get("nats") is None:
        return ()
    items = reader.sequence(raw["nats"], ("ordering", "nats"), 1)
    if len(items) not in (1, 3, 5):
        raise reader.error(("ordering", "nats"), f"list 1, 3 or 5 NATS servers, not {len(items)}")
    servers = []
    for n, item in enumerate(items):
        path: Path_ = ("ordering", "nats", n)
        server = reader.mapping(
            item,
            path,
            {"name", "host", "port", "cluster_port", "monitor_port"},
            {"port", "cluster_port", "monitor_port"},
        )
        servers.append(
            NatsServer(
                name=reader.text(server.get("name", f"nats{n}"), (*path, "name"), _NAME, "a name"),
                host=str(server.get("host", host)),
                port=reader.number(server["port"], (*path, "port"), 1, 65535),
                cluster_port=reader.number(
                    server["cluster_port"], (*path, "cluster_port"), 1, 65535
                ),
                monitor_port=reader.number(
                    server["monitor_port"], (*path, "monitor_port"), 1, 65535
                ),
                line=reader.lines.get((*path, "port"), 0),
            )
        )
    _unique(
        reader,
        [(("ordering", "nats", n, "name"), s.name) for n, s in enumerate(servers)],
        "NATS server name",
    )
    return tuple(servers)


_NETNS = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def _hosts(reader: _Reader, raw: Any) -> dict[str, str]:
    """``hosts``: addresses that are Linux network namespaces on this machine, so one
    machine can rehearse a several-host network (``up`` starts a node whose host is such
    an address with ``ip netns exec NETNS``). Without it every node runs where ``up``
    runs, and an address of another machine names a node someone else started there."""
    found: dict[str, str] = {}
    for n, item in enumerate(reader.sequence(raw, ("hosts",))):
        path: Path_ = ("hosts", n)
        entry = reader.mapping(item, path, {"address", "netns"}, {"address", "netns"})
        try:
            address = str(ipaddress.ip_address(str(entry["address"])))
        except ValueError:
            message = f"{entry['address']!r} is not an IP address"
            raise reader.error((*path, "address"), message) from None
        if address in found:
            raise reader.error((*path, "address"), f"address {address} is listed twice")
        found[address] = reader.text(
            entry["netns"], (*path, "netns"), _NETNS, "a network namespace name"
        )
    return found


def _members(reader: _Reader, raw: Any, host: str, folder: Path) -> tuple[Member, ...]:
    members = []
    for n, item in enumerate(reader.sequence(raw, ("members",), 1)):
        path: Path_ = ("members", n)
        member = reader.mapping(
            item, path, {"name", "account", "mspid", "ca", "peers"}, {"name", "mspid", "ca"}
        )
        peers = tuple(
            _node(reader, peer, (*path, "peers", p), host, f"peer{p}", PEER_KEYS, folder)
            for p, peer in enumerate(reader.sequence(member.get("peers") or [], (*path, "peers")))
        )
        members.append(
            Member(
                name=reader.text(member["name"], (*path, "name"), _NAME, "a member name"),
                account=reader.text(
                    member.get("account", "123456789012"),
                    (*path, "account"),
                    _ACCOUNT,
                    "a 12-digit AWS account ID",
                ),
                mspid=reader.text(member["mspid"], (*path, "mspid"), _MSPID, "an MSP ID"),
                ca=_node(reader, member["ca"], (*path, "ca"), host, "ca"),
                peers=peers,
            )
        )
    _unique(
        reader, [(("members", n, "name"), m.name) for n, m in enumerate(members)], "member name"
    )
    _unique(reader, [(("members", n, "mspid"), m.mspid) for n, m in enumerate(members)], "MSP ID")
    return tuple(members)


def _channels(reader: _Reader, raw: Any, spec: NetworkSpec) -> tuple[Channel, ...]:
    names = {m.name for m in spec.members}
    channels = []
    for n, item in enumerate(reader.sequence(raw, ("channels",))):
        path: Path_ = ("channels", n)
        channel = reader.mapping(
            item,
            path,
            {"name", "members", "batch", "anchor_peers", "policies"},
            {"name", "members"},
        )
        for m, member in enumerate(reader.sequence(channel["members"], (*path, "members"), 1)):
            if not isinstance(member, str) or member not in names:
                raise reader.error((*path, "members", m), f"no member named {member!r} in members")
        members = {m.name: m for m in spec.members if m.name in channel["members"]}
        batch = reader.mapping(
            channel.get("batch") or {},
            (*path, "batch"),
            {"timeout", "max_message_count", "preferred_max_bytes", "absolute_max_bytes"},
            set(),
        )
        _check_batch(reader, batch, (*path, "batch"))
        channels.append(
            Channel(
                name=reader.text(channel["name"], (*path, "name"), _CHANNEL, "a channel ID"),
                members=tuple(channel["members"]),
                batch=batch,
                anchor_peers=_anchor_peers(reader, channel.get("anchor_peers"), path, members),
                policies=_channel_policies(reader, channel.get("policies"), path),
            )
        )
    _unique(reader, [(("channels", n, "name"), c.name) for n, c in enumerate(channels)], "channel")
    return tuple(channels)


def _anchor_peers(
    reader: _Reader, raw: Any, path: Path_, members: Mapping[str, Member]
) -> dict[str, tuple[str, ...]]:
    """``anchor_peers: {member: [peer, …]}``: each a member of the channel, each peer
    one of that member's."""
    where = (*path, "anchor_peers")
    anchors = reader.mapping(raw or {}, where, set(members), set())
    chosen = {}
    for name, peers in anchors.items():
        own = {p.name for p in members[name].peers}
        for n, peer in enumerate(reader.sequence(peers, (*where, name), 1)):
            if peer not in own:
                raise reader.error((*where, name, n), f"{name} has no peer named {peer!r}")
        chosen[name] = tuple(peers)
    return chosen


APPLICATION_POLICIES = ("Readers", "Writers", "Admins", "Endorsement", "LifecycleEndorsement")
"""The channel's Application-level policies a spec may set (configtxgen's names)."""


def _channel_policies(reader: _Reader, raw: Any, path: Path_) -> dict[str, str]:
    """``policies: {Endorsement: "ANY Endorsement", …}``: an implicit-meta rule
    (``ANY|ALL|MAJORITY <policy>``) or a signature policy in Fabric's language."""
    from ordering.configtx import policy_entry
    from ordering.errors import ConfigError

    where = (*path, "policies")
    rules = reader.mapping(raw or {}, where, set(APPLICATION_POLICIES), set())
    for name, rule in rules.items():
        try:
            policy_entry(rule, name)
        except ConfigError as exc:
            raise reader.error((*where, name), str(exc)) from None
    return dict(rules)


def _check_batch(reader: _Reader, batch: Mapping[str, Any], path: Path_) -> None:
    """Batch settings are read the way configtx.yaml's are, so a mistake is named here
    rather than by the orderer when the channel is created."""
    from ordering.configtx import parse_duration, parse_size
    from ordering.errors import ConfigError

    for key, value in batch.items():
        where = (*path, key)
        if key == "max_message_count":
            reader.number(value, where, 1, 10**6)
            continue
        try:
            amount = parse_duration(value, key) if key == "timeout" else parse_size(value, key)
        except ConfigError as exc:
            raise reader.error(where, str(exc)) from None
        if amount <= 0:
            raise reader.error(where, f"{value!r} must be more than 0")


def _chaincodes(
    reader: _Reader, raw: Any, channels: tuple[Channel, ...], spec_folder: Path
) -> tuple[Chaincode, ...]:
    channel_names = {c.name for c in channels}
    chaincodes = []
    known = {"name", "sample", "path", "channel", "port", "endorsement_policy", "version"}
    for n, item in enumerate(reader.sequence(raw, ("chaincodes",))):
        path: Path_ = ("chaincodes", n)
        chaincode = reader.mapping(item, path, known, {"name", "channel", "port"})
        if ("sample" in chaincode) == ("path" in chaincode):
            raise reader.error(path, "give exactly one of sample or path")
        if "path" in chaincode:
            folder = spec_folder / str(chaincode["path"])
            if not folder.is_dir():
                raise reader.error(
                    (*path, "path"), f"{folder} is not a folder (paths are relative to the spec)"
                )
        if chaincode.get("sample", "asset_transfer") not in SAMPLES:
            raise reader.error(
                (*path, "sample"), f"{chaincode['sample']!r} is not one of {', '.join(SAMPLES)}"
            )
        if not isinstance(chaincode["channel"], str) or chaincode["channel"] not in channel_names:
            raise reader.error((*path, "channel"), f"no channel named {chaincode['channel']!r}")
        policy = str(chaincode.get("endorsement_policy", ""))
        try:
            application_policy(policy)
        except CaError as exc:
            raise reader.error((*path, "endorsement_policy"), str(exc)) from None
        chaincodes.append(
            Chaincode(
                name=reader.text(chaincode["name"], (*path, "name"), _NAME, "a chaincode name"),
                channel=chaincode["channel"],
                port=reader.number(chaincode["port"], (*path, "port"), 1, 65535),
                endorsement_policy=policy,
                sample=str(chaincode.get("sample", "")),
                path=str(chaincode.get("path", "")),
                version=str(chaincode.get("version", "1.0")),
            )
        )
    _unique(
        reader,
        [(("chaincodes", n, "name"), c.name) for n, c in enumerate(chaincodes)],
        "chaincode name",
    )
    return tuple(chaincodes)


def _events(reader: _Reader, raw: Any, spec: NetworkSpec, host: str) -> Events:
    """``events``: ``broker: local`` (``up`` runs Mosquitto on ``port``) or ``host:port``."""
    path: Path_ = ("events",)
    known = {"broker", "port", "member", "ingress", "operations_port"}
    events = reader.mapping(raw, path, known, {"broker"})
    local = events["broker"] == "local"
    if local:
        broker_host = host
        broker_port = reader.number(events.get("port", 1883), (*path, "port"), 1, 65535)
    else:
        if "port" in events:
            raise reader.error((*path, "port"), "only a local broker takes a port")
        try:
            broker_host, broker_port = parse_address(events["broker"])
        except ValueError as exc:
            raise reader.error((*path, "broker"), f"{exc} (or local)") from None
    names = [m.name for m in spec.members]
    member = str(events.get("member", names[0]))
    if member not in names:
        raise reader.error((*path, "member"), f"no member named {member!r} in members")
    ingress_member, ingress_identity = "", "user1"
    if events.get("ingress") is not None:
        ingress = reader.mapping(
            events["ingress"], (*path, "ingress"), {"member", "identity"}, {"member"}
        )
        ingress_member = str(ingress["member"])
        if ingress_member not in names:
            raise reader.error(
                (*path, "ingress", "member"), f"no member named {ingress_member!r} in members"
            )
        ingress_identity = str(ingress.get("identity", "user1"))
        if ingress_identity not in ("user1", "orgadmin"):
            raise reader.error(
                (*path, "ingress", "identity"), f"{ingress_identity!r} must be user1 or orgadmin"
            )
    return Events(
        broker_host,
        broker_port,
        local,
        member,
        ingress_member,
        ingress_identity,
        line=reader.lines.get((*path, "broker"), 0),
        operations_port=_optional_port(reader, events, path, "operations_port"),
    )


def _analytics(reader: _Reader, raw: Any, spec: NetworkSpec, host: str) -> Analytics:
    """``analytics``: ``member``, its ``peer`` (default its first), ``channels`` (default
    the member's), ``port`` (default 7400: channel n's database on port + n), ``qldb_port``
    (default: the port after the last of those; channel n's QLDB session API on + n)."""
    path: Path_ = ("analytics",)
    known = {"member", "peer", "channels", "port", "qldb_port", "operations_port"}
    analytics = reader.mapping(raw, path, known, {"member"})
    member_name = str(analytics["member"])
    if member_name not in [m.name for m in spec.members]:
        raise reader.error((*path, "member"), f"no member named {member_name!r} in members")
    member = spec.member(member_name)
    peer = str(analytics.get("peer", member.peers[0].name if member.peers else ""))
    if peer not in [p.name for p in member.peers]:
        raise reader.error((*path, "peer"), f"member {member_name} has no peer {peer!r}")
    mine = [c.name for c in spec.channels if member_name in c.members]
    raw_channels = analytics.get("channels", mine)
    channels = tuple(
        reader.text(c, (*path, "channels", n), _CHANNEL, "a channel ID")
        for n, c in enumerate(reader.sequence(raw_channels, (*path, "channels"), 1))
    )
    for n, channel in enumerate(channels):
        if channel not in mine:
            raise reader.error(
                (*path, "channels", n), f"{member_name} is not a member of channel {channel!r}"
            )
    _unique(reader, [((*path, "channels", n), c) for n, c in enumerate(channels)], "channel")
    port = reader.number(analytics.get("port", 7400), (*path, "port"), 1, 65535 - len(channels))
    qldb_port = reader.number(
        analytics.get("qldb_port", port + len(channels)),
        (*path, "qldb_port"),
        1,
        65535 - len(channels),
    )
    return Analytics(
        member_name,
        peer,
        channels,
        host,
        port,
        qldb_port,
        line=reader.lines.get((*path, "member"), 0),
        operations_port=_optional_port(reader, analytics, path, "operations_port"),
    )


def _unique(reader: _Reader, values: list[tuple[Path_, str]], what: str) -> None:
    seen: dict[str, Path_] = {}
    for path, value in values:
        if value in seen:
            raise reader.error(path, f"{what} {value!r} is used twice")
        seen[value] = path


def _check_ports(reader: _Reader, spec: NetworkSpec) -> None:
    seen: dict[tuple[str, int], str] = {}
    for what, host, port, line in spec.ports():
        if (host, port) in seen:
            raise SpecError(
                str(spec.file),
                line,
                what,
                f"port {host}:{port} is also used by {seen[(host, port)]}",
            )
        seen[(host, port)] = what


def ports_in_use(spec: NetworkSpec) -> list[tuple[str, str, int, int]]:
    """The spec's local ports that something already listens on (checked before ``up``)."""
    busy = []
    for what, host, port, line in spec.ports():
        if host not in ("127.0.0.1", "localhost", "::1"):
            continue
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                busy.append((what, host, port, line))
    return busy
