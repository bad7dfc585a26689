"""``consortium status``: what a running network looks like right now.

Read-only and best effort: each question (is the process alive, does it listen, how high is
each channel on each peer, who are the members, which proposals are open) is answered on its
own, so one unreachable node shows as such instead of hiding the rest.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from fabric_protos.orderer import ab_pb2_grpc
from fabric_protos.peer import events_pb2_grpc

from network.controlplane.client import Client
from network.controlplane.errors import ControlPlaneError
from network.controlplane.keyfile import local_secret
from network.localnet import CREDENTIALS
from network.supervisor import Supervisor
from peers.channel import OrdererEndpoint
from proto.metrics import parse_samples
from proto.seek import build_seek_envelope

RUNNING, FAILED, DEV = "RUNNING", "FAILED", "DEV"
TIMEOUT = 3.0


@dataclass(frozen=True)
class NodeStatus:
    name: str
    pid: int | None
    state: str  # RUNNING; FAILED: a pid file whose process is gone; DEV: `chaincode dev`
    address: str  # host:port, "" when not known
    listening: bool
    operations: str = ""  # host:port of /metrics, /healthz, /logspec ("": none)
    health: str = "-"  # OK, or what /healthz reports failing
    figures: str = ""  # the node's key counts, from its /metrics


def listening(address: str) -> bool:
    if not address:
        return False
    host, _, port = address.rpartition(":")
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, int(port))) == 0


def node_statuses(supervisor: Supervisor) -> list[NodeStatus]:
    """Every node the network started; ``down`` removes pid files, so a pid file whose
    process is gone is a node that died (FAILED) until ``reconcile`` restarts it."""
    statuses = []
    for process in supervisor.all_processes():
        address = process.address()
        pid = process.pid
        state = RUNNING if pid is not None else FAILED
        operations = process.operations_address() if pid is not None else ""
        health, figures = probe_operations(operations)
        statuses.append(
            NodeStatus(
                process.name,
                pid,
                state,
                address,
                pid is not None and listening(address),
                operations,
                health,
                figures,
            )
        )
    return statuses + held_in_dev_mode(supervisor)


def held_in_dev_mode(supervisor: Supervisor) -> list[NodeStatus]:
    """Chaincodes ``chaincode dev --name`` took over: DEV, with the dev process's pid."""
    from network.supervisor.chaincodes import dev_pid, runner_name

    held = []
    for record in supervisor.chaincode_records.values():
        pid = dev_pid(record)
        if pid is not None:
            address = f"127.0.0.1:{record['port']}"
            held.append(
                NodeStatus(runner_name(record["name"]), pid, DEV, address, listening(address))
            )
    return held


# The counts `status` shows per node: (metric, what to call their sum).
FIGURES = (
    ("ledger_transaction_count", "tx committed"),
    ("endorser_proposals_received", "proposals"),
    ("broadcast_processed_count", "tx ordered"),
    ("api_request_count", "CA requests"),
    ("controlplane_api_request_count", "API requests"),
    ("mqtt_bridge_messages_published", "messages published"),
    ("analytics_blocks_written", "blocks into analytics"),
)
# How fast a node works now: (metric, unit), shown with one decimal.
RATES = (
    ("ledger_transactions_per_second", "tx/s committed"),
    ("broadcast_transactions_per_second", "tx/s ordered"),
)


def probe_operations(address: str) -> tuple[str, str]:
    """A node's health (``/healthz``) and key figures (``/metrics``); "-" and "" when it
    has no operations service or does not answer."""
    if not address:
        return "-", ""
    health = _health(address)
    try:
        samples = parse_samples(_get(f"http://{address}/metrics").decode())
    except (OSError, ValueError):
        return health, ""
    figures = []
    for metric, label in FIGURES:
        values = [v for k, v in samples.items() if k.split("{")[0] == metric]
        if values:
            figures.append(f"{int(sum(values))} {label}")
    for metric, label in RATES:
        if metric in samples:
            figures.append(f"{samples[metric]:.1f} {label}")
    return health, ", ".join(figures)


def _get(url: str) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:
        return answer.read()


def _health(address: str) -> str:
    import json
    import urllib.error

    try:
        body = json.loads(_get(f"http://{address}/healthz"))
    except urllib.error.HTTPError as failure:
        try:
            body = json.loads(failure.read())
        except ValueError:
            return f"HTTP {failure.code}"
    except (OSError, ValueError):
        return "no answer"
    failed = body.get("failed_checks") or []
    if not failed:
        return str(body.get("status", "?"))
    return "; ".join(f"{c.get('component')}: {c.get('reason')}" for c in failed)


async def deliver_height(stub: Any, signer: Any, channel_id: str) -> int | None:
    """Blocks on ``channel_id`` (newest block number + 1) as this Deliver service has them."""
    seek = build_seek_envelope(signer, channel_id, "newest", "newest", True)
    async for response in stub.Deliver(iter([seek]), timeout=TIMEOUT):
        if response.WhichOneof("Type") == "block":
            return response.block.header.number + 1
        return None
    return None


async def height_or_none(question: Any) -> int | None:
    try:
        return await question
    except (TimeoutError, grpc.aio.AioRpcError, OSError):
        return None


async def channel_heights(supervisor: Supervisor, running: set[str]) -> dict[str, dict[str, Any]]:
    """Channel → node → height, from the orderer and every running peer of its members."""
    heights: dict[str, dict[str, Any]] = {}
    for channel in supervisor.spec.channels:
        row: dict[str, Any] = heights.setdefault(channel.name, {})
        reader = supervisor._user(supervisor.member(supervisor.channel_members(channel)[0]))
        for orderer in supervisor.spec.orderers:
            if f"orderer-{orderer.name}" not in running:
                continue
            async with supervisor.orderer_endpoint(orderer).channel() as grpc_channel:
                stub = ab_pb2_grpc.AtomicBroadcastStub(grpc_channel)
                row[f"orderer-{orderer.name}"] = await height_or_none(
                    deliver_height(stub, reader, channel.name)
                )
        for name in supervisor.channel_members(channel):
            member = supervisor.member(name)
            for peer in member.peers:
                node = f"peer-{member.name}-{peer.name}"
                if node not in running:
                    continue
                tls = supervisor._peer_tls_root(member.name, peer.name).read_bytes()
                client = supervisor.tls_client(member)
                endpoint = OrdererEndpoint(f"{peer.host}:{peer.port}", tls, client=client)
                async with endpoint.channel() as grpc_channel:
                    stub = events_pb2_grpc.DeliverStub(grpc_channel)
                    reader = supervisor._user(member)
                    row[node] = await height_or_none(deliver_height(stub, reader, channel.name))
    return heights


def orderer_roles(supervisor: Supervisor, running: set[str]) -> dict[str, dict[str, str]]:
    """Channel → each ordering cluster node → its role as that node reports it on its
    channel participation API: "cutter", "follower", "halted: <why, naming the stream
    and the block>", or "no answer" (a one-orderer network: none). Each node is asked,
    rather than the lease bucket read, so a node that believes it cuts while the bucket
    says otherwise shows as it is."""
    import json
    import urllib.request

    found: dict[str, dict[str, str]] = {}
    if not supervisor.spec.nats:
        return found
    for orderer in supervisor.spec.orderers:
        node = f"orderer-{orderer.name}"
        if node not in running:
            continue
        context = supervisor.orderer_admin_ssl(orderer)
        base = f"https://{orderer.host}:{orderer.admin_port}/participation/v1/channels"
        for channel in supervisor.spec.channels:
            try:
                with urllib.request.urlopen(
                    f"{base}/{channel.name}", context=context, timeout=TIMEOUT
                ) as answer:
                    info = json.loads(answer.read())
            except (OSError, ValueError):
                info = {}
            role = info.get("role") or "no answer"
            if role == "cutter":
                role = f"cutter (lease term {info.get('leaseTerm')})"
            elif role == "halted":  # names the stream and the block it stopped at
                role = f"halted: {info.get('halted')}"
            found.setdefault(channel.name, {})[node] = role
    return found


def cutters(roles: dict[str, dict[str, str]]) -> dict[str, dict[str, Any]]:
    """Channel → the node cutting its blocks and its lease term, from ``orderer_roles``."""
    found: dict[str, dict[str, Any]] = {}
    for channel, nodes in roles.items():
        for node, role in nodes.items():
            if role.startswith("cutter (lease term "):
                term = role.removeprefix("cutter (lease term ").removesuffix(")")
                found[channel] = {"orderer": node, "term": int(term) if term.isdigit() else None}
    return found


def nats_servers(supervisor: Supervisor, nodes: list[NodeStatus]) -> dict[str, dict[str, Any]]:
    """Each NATS server of a replicated ordering service: RUNNING or FAILED, where it
    listens, and its place in JetStream (leader, current, behind, no leader, no answer)."""
    from network.nats_cluster import jetstream_roles

    if not supervisor.spec.nats:
        return {}
    by_name = {n.name: n for n in nodes}
    roles = jetstream_roles(supervisor.nats_nodes())
    found = {}
    for server in supervisor.spec.nats:
        node = by_name.get(f"nats-{server.name}")
        found[server.name] = {
            "state": node.state if node else FAILED,
            "address": f"{server.host}:{server.port}",
            "jetstream": roles.get(server.name, "no answer"),
        }
    return found


def governance(supervisor: Supervisor) -> dict[str, Any]:
    """Members and open proposals, as the control plane (AMB's API) reports them."""
    network_id = supervisor.home.load_state().get("network_id")
    if not network_id:
        return {"members": [], "open_proposals": []}
    account = supervisor.spec.members[0].account
    secret = local_secret(supervisor.home.root / CREDENTIALS, account) or "local"
    client = Client(
        supervisor.control_plane_url, access_key_id=account, secret=secret, timeout=TIMEOUT
    )
    try:
        members = list(client.pages(f"/networks/{network_id}/members", "Members"))
        proposals = list(client.pages(f"/networks/{network_id}/proposals", "Proposals"))
    except ControlPlaneError as exc:
        return {"members": [], "open_proposals": [], "error": str(exc)}
    return {
        "members": [{"name": m["Name"], "id": m["Id"], "status": m["Status"]} for m in members],
        "open_proposals": [
            {"id": p["ProposalId"], "proposed_by": p.get("ProposedByMemberName", "")}
            for p in proposals
            if p["Status"] == "IN_PROGRESS"
        ],
    }


WARN_DAYS = 30  # `status` warns about certificates that expire sooner
_CERTIFICATE_FOLDERS = {"signcerts", "tls", "cacerts", "tlscacerts", "ca", "server-tls"}


def expiring_certificates(
    root: Path, days: int = WARN_DAYS, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Every certificate of the network (identities, node TLS, CAs) that expires within
    ``days``: the file, its subject and the days left (negative: expired)."""
    moment = now or datetime.now(UTC)
    found = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[0] in ("snapshots", "logs", "pids") or path.suffix not in (
            ".pem",
            ".crt",
        ):
            continue
        if path.parent.name not in _CERTIFICATE_FOLDERS:
            continue
        try:
            certificates = x509.load_pem_x509_certificates(path.read_bytes())
        except (OSError, ValueError):
            continue
        for certificate in certificates:
            left = (certificate.not_valid_after_utc - moment).days
            if left < days:
                subject = certificate.subject.rfc4514_string()
                found.append({"file": str(relative), "subject": subject, "days_left": left})
    return found


def analytics_endpoints(supervisor: Supervisor) -> dict[str, dict[str, Any]]:
    """Where each channel's analytics database answers: ledgerdb's gRPC service and
    QLDB's session API (pyqldb, ledger named like the channel), and whether it does."""
    analytics = supervisor.spec.analytics
    if analytics is None:
        return {}
    found = {}
    for n, channel in enumerate(analytics.channels):
        qldb = f"{analytics.host}:{analytics.qldb_port + n}"
        found[channel] = {
            "ledgerdb": f"{analytics.host}:{analytics.port + n}",
            "qldb": qldb,
            "qldb_ledger": channel,
            "qldb_listening": listening(qldb),
        }
    return found


def network_status(supervisor: Supervisor) -> dict[str, Any]:
    state = supervisor.state = supervisor.home.load_state()  # members joined after `up` too
    nodes = node_statuses(supervisor)
    running = {n.name for n in nodes if n.listening}
    heights: dict[str, dict[str, Any]] = {}
    if state.get("network_id") and running:
        heights = asyncio.run(channel_heights(supervisor, running))
    plane_up = "control-plane" in running
    roles = orderer_roles(supervisor, running)
    return {
        "network": supervisor.spec.name,
        "network_id": state.get("network_id"),
        "nodes": nodes,
        "channels": heights,
        "cutters": cutters(roles),
        "roles": roles,
        "nats": nats_servers(supervisor, nodes),
        "analytics": analytics_endpoints(supervisor),
        "expiring_certificates": expiring_certificates(supervisor.home.root),
        **(governance(supervisor) if plane_up else {"members": [], "open_proposals": []}),
    }
