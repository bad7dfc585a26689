"""What every part of the supervisor shares: the spec, the network's folder and
state, the processes it started, who is a member of what, and how to reach them."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ca.msp import load_signing_identity
from ca.signing import SoftwareSigner
from network.controlplane.client import Client
from network.controlplane.keyfile import secret_for
from network.errors import SupervisorError
from network.gateway_client import GatewayClient
from network.localnet import CREDENTIALS
from network.mqtt.access import Login
from network.processes import NodeProcess
from network.spec import Member, NetworkSpec, Node
from network.supervisor.home import Home
from ordering.blockcutter import BatchSize
from ordering.configtx import parse_size
from proto.credentials import TlsIdentity
from proto.ports import free_port

MQTT_USERS = "events/mqtt-users.json"  # user → password on the broker up runs (0600)
MQTT_TLS = "events/tls"  # the broker's TLS certificate, key and root


@dataclass
class SupervisorBase:
    """What every part shares. The parts (``nodes``, ``governance``, ``channels`` …) are
    mixed into ``Supervisor`` and call each other through ``self``."""

    spec: NetworkSpec
    home: Home
    progress: Any = print
    state: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, NodeProcess] = field(default_factory=dict)
    # what this run started (not what already ran): a failed `up` stops only these
    started: list[str] = field(default_factory=list)

    @property
    def members(self) -> list[Member]:
        """The spec's members plus those voted in after `up` (recorded by reconcile)."""
        joined = [
            Member(
                name=m["name"],
                account=m["account"],
                mspid=m["mspid"],
                ca=Node("ca", "127.0.0.1", m["ca_port"]),
                peers=(Node("peer0", "127.0.0.1", m["peer_port"]),),
            )
            for m in self.state.get("joined", [])
        ]
        removed = set(self.state.get("removed", []))
        added = self.state.get("api_peers", {})  # peers made by CreateNode (AMB's API)
        return [
            dataclasses.replace(
                m,
                peers=(
                    *m.peers,
                    *(Node(p["name"], "127.0.0.1", p["port"]) for p in added.get(m.name, [])),
                ),
            )
            for m in (*self.spec.members, *joined)
            if m.name not in removed
        ]

    def member(self, name: str) -> Member:
        return next(m for m in self.members if m.name == name)

    def channel_members(self, channel) -> list[str]:
        """The spec's members of ``channel`` plus those added later (``channel
        add-member``), less those removed from it or voted out of the network."""
        gone = {
            *self.state.get("removed", []),
            *self.state.get("left_channels", {}).get(channel.name, []),
        }
        later = self.state.get("joined_channels", {}).get(channel.name, [])
        return [m for m in dict.fromkeys((*channel.members, *later)) if m not in gone]

    @staticmethod
    def desired_batch(channel) -> tuple[BatchSize, str]:
        """The spec's batch settings of ``channel`` (Fabric's defaults where absent)."""
        batch, defaults = channel.batch, BatchSize()
        size = BatchSize(
            max_message_count=int(batch.get("max_message_count", defaults.max_message_count)),
            absolute_max_bytes=parse_size(
                batch.get("absolute_max_bytes", defaults.absolute_max_bytes), "absolute_max_bytes"
            ),
            preferred_max_bytes=parse_size(
                batch.get("preferred_max_bytes", defaults.preferred_max_bytes),
                "preferred_max_bytes",
            ),
        )
        return size, str(batch.get("timeout", "2s"))

    def spec_channel(self, name: str):
        for channel in self.spec.channels:
            if channel.name == name:
                return channel
        known = ", ".join(c.name for c in self.spec.channels) or "none"
        raise SupervisorError(f"no channel named {name!r} in {self.spec.name} (channels: {known})")

    def _known_member(self, name: str) -> Member:
        for member in self.members:
            if member.name == name:
                return member
        known = ", ".join(m.name for m in self.members)
        raise SupervisorError(f"no member named {name!r} runs in {self.spec.name} ({known})")

    @property
    def control_plane_url(self) -> str:
        plane = self.spec.control_plane
        return f"http://{plane.host}:{plane.port}"

    def mqtt_login(self, user: str) -> Login | None:
        """``user``'s login on the broker ``up`` runs (a member's name, or the bridge's);
        None without a local broker or for a network made before brokers took logins."""
        events = self.spec.events
        users = self.home.root / MQTT_USERS
        if events is None or not events.local or not users.exists():
            return None
        password = json.loads(users.read_text()).get(user)
        if password is None:
            return None
        return Login(user, password, str((self.home.root / MQTT_TLS / "ca.crt").resolve()))

    def _client(self, account: str) -> Client:
        """A control-plane client acting as ``account``, with its secret (strict SigV4)."""
        secret = secret_for(self.home.root / CREDENTIALS, account)
        return Client(self.control_plane_url, access_key_id=account, secret=secret)

    def _start(
        self, name: str, command: list[str], host: str, port: int, operations: str = ""
    ) -> None:
        """Launch a node (unless it already runs); ``_ready`` waits for it. Nodes that do
        not depend on each other are launched together and waited for together, so their
        start-up times overlap."""
        process = self.home.process(name, self.launcher(host) + command, host, port, operations)
        self.processes[name] = process
        if process.pid is None:
            process.start()
            self.started.append(name)

    def launcher(self, host: str) -> list[str]:
        """What a node on ``host`` is started through: nothing, or ``ip netns exec NETNS``
        when the spec's ``hosts`` says that address is a network namespace of this machine
        (``exec`` keeps the pid, so pid files and signals reach the node itself)."""
        namespace = self.spec.namespaces.get(host)
        return ["ip", "netns", "exec", namespace] if namespace else []

    def _ready(self, prefix: str) -> None:
        """Wait for the nodes named ``prefix…``; only those this run started are reported
        (a reconcile pass that restarted one node says so once, not for every node)."""
        for name, process in self.processes.items():
            if name.startswith(prefix) and process.port:  # port 0: only found by pid file
                process.wait_ready()
                if name in self.started:
                    self.progress(f"  {name} listening on {process.host}:{process.port}")

    def anchor_addresses(self, channel, member_name: str) -> list[tuple[str, int]]:
        """A member's anchor peers on ``channel``: the spec's, else its first peer."""
        member = self.member(member_name)
        names = channel.anchor_peers.get(member_name) or [member.peers[0].name]
        peers = {p.name: p for p in member.peers}
        return [(peers[n].host, peers[n].port) for n in names if n in peers]

    def operations_port(self, name: str, chosen: int) -> int:
        """The node's operations port: the spec's, else one picked free on its first
        start and kept in ``state.json``, so Prometheus finds it at the same place."""
        return self.kept_port("operations_ports", name, chosen)

    def kept_port(self, key: str, name: str, chosen: int) -> int:
        """``chosen`` if the spec names one, else a free port picked once and kept under
        ``state.json[key][name]`` (a bookmark or a scraper finds it again after ``up``)."""
        if chosen:
            return chosen
        ports = self.state.setdefault(key, {})
        if name not in ports:
            kept = {
                p
                for table in ("operations_ports", "explorer_ports")
                for p in self.state.get(table, {}).values()
            }
            taken = {port for _, _, port, _ in self.spec.ports()} | kept
            port = free_port()
            while port in taken:
                port = free_port()
            ports[name] = port
            self.home.save_state(self.state)
        return ports[name]

    def operations_listen(self, name: str, host: str, chosen: int) -> str:
        """``host:port`` the node's operations service listens on."""
        return f"{host}:{self.operations_port(name, chosen)}"

    @staticmethod
    def _wait_logged(process: NodeProcess, text: str, timeout: float = 30.0) -> None:
        """Until ``text`` is in the process's log (for processes that listen nowhere)."""
        deadline = time.monotonic() + timeout
        started = process.pid
        while time.monotonic() < deadline:
            if text in process.tail(200):
                return
            if process.pid is None:
                raise SupervisorError(process.exit_report(started))
            time.sleep(0.1)
        raise SupervisorError(f"{process.name} did not start in {timeout:g}s:\n{process.tail()}")

    def _admin(self, member: Member) -> SoftwareSigner:
        return load_signing_identity(
            self.home.member(member.name) / "users" / "orgadmin" / "msp", member.mspid
        )

    def _user(self, member: Member) -> SoftwareSigner:
        return load_signing_identity(
            self.home.member(member.name) / "users" / "user1" / "msp", member.mspid
        )

    def _peer_tls_root(self, member: str, peer: str) -> Path:
        return self.home.member(member) / "peers" / peer / "tls" / "ca.crt"

    def _peer_admin(self, member: Member, peer: Node) -> GatewayClient:
        """The member's admin, talking to one of its peers (install, join, approve)."""
        tls = self._peer_tls_root(member.name, peer.name).read_bytes()
        client = self.tls_client(member, "orgadmin")
        return GatewayClient(f"{peer.host}:{peer.port}", self._admin(member), tls, client=client)

    def gateway(self, member: Member, signer: SoftwareSigner | None = None) -> GatewayClient:
        peer = member.peers[0]
        tls = self._peer_tls_root(member.name, peer.name).read_bytes()
        signer = signer or self._user(member)
        client = self.tls_client(member, "user1")
        return GatewayClient(f"{peer.host}:{peer.port}", signer, tls, client=client)

    def tls_client(self, member: Member, user: str = "user1") -> TlsIdentity | None:
        """The TLS client certificate a member's ``user`` presents (enrolled at ``up``);
        None for a network enrolled before mutual TLS."""
        return TlsIdentity.from_folder(self.home.member(member.name) / "users" / user / "tls")

    def all_processes(self) -> list[NodeProcess]:
        pids = self.home.root / "pids"
        found = []
        for pid_file in sorted(pids.glob("*.pid")) if pids.exists() else []:
            found.append(
                NodeProcess(
                    pid_file.stem,
                    (),
                    "",
                    0,
                    self.home.root / "logs" / f"{pid_file.stem}.log",
                    pid_file,
                )
            )
        return found

    def _start_existing(self) -> None:
        for process in self.all_processes():
            self.processes[process.name] = process
