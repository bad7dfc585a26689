"""The orderer process: its config file, its channels, its gRPC and admin servers.

``consortium node run orderer --config FILE`` runs ``serve``. The config is YAML::

    listen: 127.0.0.1:7050          # AtomicBroadcast (Broadcast, Deliver) + health
    admin_listen: 127.0.0.1:7053    # channel participation API (osnadmin's)
    mspid: OrdererMSP
    msp_dir: msp                    # local MSP: signcerts/ and keystore/ sign blocks
    data_dir: data                  # channels/<id>/{blocks,inbox}: ledgerdb journals
    tls:                            # on unless `enabled: false` is written
      cert: tls/server.crt
      key: tls/server.key
      client_root_cas: [tls/ca.crt] # when set, clients must present a certificate
    cluster:                        # optional: one node of an ordering cluster
      node: orderer0                # its name, as the cutting lease names its holder
      nats: [nats://127.0.0.1:4222, nats://127.0.0.1:4223, nats://127.0.0.1:4224]
      replicas: 3                   # of each channel's streams (default 3)
      lease_seconds: 1.5            # how long a silent cutter holds its channel
    operations:                     # optional: /metrics, /healthz, /logspec (proto.operations)
      listen: 127.0.0.1:8443

Relative paths are relative to the config file. Without ``cluster`` the node orders alone
(``ordering.chain``: local journals); with it, its channels are ``ordering.cluster``'s.
"""

from __future__ import annotations

import asyncio
import logging
import re
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import yaml
from aiohttp import web
from fabric_protos.common import common_pb2
from grpc_health.v1 import health_pb2

from ca.channelconfig import ChannelConfig, ChannelConfigError
from ca.errors import CaError
from ca.msp import ReloadingSigner
from ca.signing import SoftwareSigner
from ledgerdb.errors import LedgerError
from ledgerdb.jetstream import connect
from ordering.chain import Chain
from ordering.cluster import ClusterChain
from ordering.configtx import validate_channel_id, yaml_problem
from ordering.errors import ConfigError, OrderingError
from ordering.ingress import OPEN_SECONDS
from ordering.lease import DEFAULT_SECONDS as DEFAULT_LEASE_SECONDS
from ordering.lease import CuttingLease, lease_bucket
from ordering.metrics import publish_heights
from ordering.participation import json_errors, participation_routes
from ordering.recovery import reopen_halted_channels
from ordering.service import AtomicBroadcast, add_to_server
from proto import keepalive
from proto.collector import settle_after_start
from proto.credentials import server_credentials
from proto.limits import Limits, LimitsError, parse_limits
from proto.operations import OperationsServer, listen_setting, start_operations
from proto.server import add_health, new_server

log = logging.getLogger(__name__)
SERVICE_NAME = "orderer.AtomicBroadcast"
CONNECT_SECONDS = 10.0  # how long a cluster node tries its NATS servers at start
_ADDRESS = re.compile(r"^(?P<host>[^:]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


@dataclass(frozen=True)
class TlsConfig:
    cert: Path
    key: Path
    client_root_cas: tuple[Path, ...] = ()


@dataclass(frozen=True)
class ClusterConfig:
    node: str
    nats: tuple[str, ...]
    replicas: int = 3
    lease_seconds: float = DEFAULT_LEASE_SECONDS


@dataclass(frozen=True)
class OrdererConfig:
    listen: str
    admin_listen: str
    mspid: str
    msp_dir: Path
    data_dir: Path
    tls: TlsConfig | None
    batch_defaults: dict[str, Any] = field(default_factory=dict)
    cluster: ClusterConfig | None = None
    operations_listen: str = ""
    limits: Limits = field(default_factory=Limits)


def _address(value: Any, name: str, where: Path) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise ConfigError(f"{where}: {name} must be HOST:PORT, got {value!r}")
    return value


def load_config(path: Path) -> OrdererConfig:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {yaml_problem(exc)}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    known = {
        "listen",
        "admin_listen",
        "mspid",
        "msp_dir",
        "data_dir",
        "tls",
        "cluster",
        "operations",
        "limits",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r}; known: {sorted(known)}")
    for key in ("listen", "admin_listen", "mspid", "msp_dir", "data_dir"):
        if not raw.get(key):
            raise ConfigError(f"{path}: {key} is required")
    base = path.parent

    def resolve(value: Any) -> Path:
        candidate = Path(str(value))
        return candidate if candidate.is_absolute() else base / candidate

    tls_raw = raw.get("tls")
    if tls_raw is None:
        raise ConfigError(
            f"{path}: tls is required (write `tls: {{enabled: false}}` to turn it off)"
        )
    tls = None
    if tls_raw.get("enabled", True):
        for key in ("cert", "key"):
            if not tls_raw.get(key):
                raise ConfigError(f"{path}: tls.{key} is required when TLS is enabled")
        tls = TlsConfig(
            cert=resolve(tls_raw["cert"]),
            key=resolve(tls_raw["key"]),
            client_root_cas=tuple(resolve(p) for p in tls_raw.get("client_root_cas") or ()),
        )
    try:
        operations_listen = listen_setting(raw.get("operations"))
        limits = parse_limits(raw.get("limits"))
    except (ValueError, LimitsError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return OrdererConfig(
        listen=_address(raw["listen"], "listen", path),
        admin_listen=_address(raw["admin_listen"], "admin_listen", path),
        mspid=str(raw["mspid"]),
        msp_dir=resolve(raw["msp_dir"]),
        data_dir=resolve(raw["data_dir"]),
        tls=tls,
        cluster=_cluster(raw.get("cluster"), path),
        operations_listen=operations_listen,
        limits=limits,
    )


def _cluster(raw: Any, path: Path) -> ClusterConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: cluster must be a mapping (node, nats, replicas)")
    unknown = sorted(set(raw) - {"node", "nats", "replicas", "lease_seconds"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting cluster.{unknown[0]}")
    node = raw.get("node")
    if not isinstance(node, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", node):
        raise ConfigError(f"{path}: cluster.node must be a name (letters, digits, . _ -)")
    servers = raw.get("nats")
    if (
        not isinstance(servers, list)
        or not servers
        or not all(
            isinstance(url, str) and url.startswith(("nats://", "tls://")) for url in servers
        )
    ):
        raise ConfigError(f"{path}: cluster.nats must list NATS URLs (nats://host:port)")
    replicas = raw.get("replicas", 3)
    if not isinstance(replicas, int) or not 1 <= replicas <= 5:
        raise ConfigError(f"{path}: cluster.replicas must be 1 to 5, got {replicas!r}")
    seconds = raw.get("lease_seconds", DEFAULT_LEASE_SECONDS)
    if not isinstance(seconds, int | float) or not 0.2 <= seconds <= 60:
        raise ConfigError(f"{path}: cluster.lease_seconds must be 0.2 to 60, got {seconds!r}")
    return ClusterConfig(node, tuple(servers), replicas, float(seconds))


class OrdererNode:
    """Owns the channels of one orderer and the servers that expose them."""

    def __init__(self, config: OrdererConfig, signer: SoftwareSigner | ReloadingSigner) -> None:
        self.config = config
        self.signer = signer
        self.chains: dict[str, Chain] = {}
        self._nats: Any = None  # the cluster's connection (cluster mode only)
        self._leases: Any = None
        self._lock = asyncio.Lock()
        self._grpc: grpc.aio.Server | None = None
        self._admin: web.AppRunner | None = None
        self._recovery: asyncio.Task[None] | None = None
        self.port = 0
        self.admin_port = 0

    @property
    def channels_dir(self) -> Path:
        return self.config.data_dir / "channels"

    async def open_channels(self) -> None:
        self.channels_dir.mkdir(parents=True, exist_ok=True)
        for directory in sorted(self.channels_dir.iterdir()):
            if (directory / "blocks").is_dir():
                self.chains[directory.name] = await self._open_chain(directory.name, directory)
                log.info(
                    "channel %s: height %d", directory.name, self.chains[directory.name].height
                )

    # -- channel participation ------------------------------------------------------------

    async def join(self, block: common_pb2.Block) -> Chain:
        try:
            channel_id = ChannelConfig.from_block(block).channel_id
        except ChannelConfigError as exc:
            raise ConfigError(f"config-block: {exc}") from None
        validate_channel_id(channel_id)
        async with self._lock:
            if channel_id in self.chains:
                raise FileExistsError(f"channel {channel_id!r} already exists")
            directory = self.channels_dir / channel_id
            if directory.exists():  # a join that crashed half-way: start it again
                shutil.rmtree(directory)
            chain = await self._open_chain(channel_id, directory, genesis=block)
            self.chains[channel_id] = chain
            return chain

    async def _connect_cluster(self) -> None:
        """The connection and lease bucket every channel of a cluster node shares."""
        cluster = self.config.cluster
        if cluster is None or self._nats is not None:
            return
        try:
            self._nats = await connect(cluster.nats, CONNECT_SECONDS)
            js = self._nats.jetstream(timeout=5)
            self._leases = await lease_bucket(js, cluster.replicas, OPEN_SECONDS)
        except LedgerError as exc:
            raise OrderingError(f"ordering node {cluster.node}: {exc}") from None

    async def _open_chain(
        self, channel_id: str, directory: Path, genesis: common_pb2.Block | None = None
    ) -> Chain:
        cluster = self.config.cluster
        if cluster is None:
            return await Chain.open(channel_id, directory, self.signer, genesis=genesis)
        await self._connect_cluster()
        try:
            return await ClusterChain.open_in_cluster(
                channel_id,
                directory,
                self.signer,
                servers=list(cluster.nats),
                js=self._nats.jetstream(timeout=5),
                lease=CuttingLease(self._leases, channel_id, cluster.node, cluster.lease_seconds),
                replicas=cluster.replicas,
                genesis=genesis,
                connection=self._nats,
            )
        except LedgerError as exc:
            raise OrderingError(f"channel {channel_id} on {cluster.node}: {exc}") from None

    async def remove(self, channel_id: str) -> None:
        async with self._lock:
            chain = self.chains.pop(channel_id, None)
            if chain is None:
                raise KeyError(channel_id)
            await chain.close()
            shutil.rmtree(chain.directory)

    # -- servers ---------------------------------------------------------------------------

    def _credentials(self) -> grpc.ServerCredentials | None:
        tls = self.config.tls
        if tls is None:
            return None
        return server_credentials(tls.cert, tls.key, tls.client_root_cas)

    async def start(self) -> None:
        """The admin API listens before the gRPC port opens, so whoever sees the gRPC port
        accept connections (the supervisor waits on it) can join channels at once."""
        await self.open_channels()
        self._recovery = asyncio.ensure_future(
            reopen_halted_channels(self.chains, self._open_chain, self._lock)
        )
        app = web.Application(client_max_size=100 * 1024 * 1024, middlewares=[json_errors])
        app.add_routes(participation_routes(self))
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        host, port = self.config.admin_listen.rsplit(":", 1)
        ssl_context = self._admin_ssl()
        site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=ssl_context)
        await site.start()
        self._admin = runner
        self.admin_port = runner.addresses[0][1]  # the bound port, also when asked for 0
        server = new_server(options=keepalive.SERVER_OPTIONS, limits=self.config.limits)
        add_to_server(AtomicBroadcast(self.chains.get), server)
        publish_heights(lambda: self.chains)
        health_servicer = add_health(server)
        credentials = self._credentials()
        if credentials is None:
            self.port = server.add_insecure_port(self.config.listen)
        else:
            self.port = server.add_secure_port(self.config.listen, credentials)
        if self.port == 0:
            raise OrderingError(f"cannot listen on {self.config.listen}")
        await server.start()
        self._grpc = server
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        await health_servicer.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)

    def _admin_ssl(self) -> Any:
        tls = self.config.tls
        if tls is None:
            return None
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls.cert, tls.key)
        if tls.client_root_cas:
            context.verify_mode = ssl.CERT_REQUIRED
            for root in tls.client_root_cas:
                context.load_verify_locations(root)
        return context

    async def stop(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
        if self._grpc is not None:
            await self._grpc.stop(grace=2)
        if self._admin is not None:
            await self._admin.cleanup()
        for chain in list(self.chains.values()):
            await chain.close()
        self.chains.clear()
        if self._nats is not None:
            await self._nats.close()


async def serve(config: OrdererConfig, ready: Any = None) -> None:
    """Run until SIGTERM or SIGINT; print where it listens once ready."""
    try:
        signer = ReloadingSigner(config.msp_dir, config.mspid)
    except CaError as exc:
        raise ConfigError(f"msp_dir: {exc}") from None
    node = OrdererNode(config, signer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    signer.reload_on_sighup()
    await node.start()
    operations = await _start_operations(node)
    settle_after_start()
    print(
        f"orderer {config.mspid} listening on port {node.port} (admin {node.admin_port})",
        flush=True,
    )
    if ready is not None:
        ready(node)
    try:
        await stop.wait()
    finally:
        if operations is not None:
            await operations.stop()
        await node.stop()


async def _start_operations(node: OrdererNode) -> OperationsServer | None:
    """The operations service: healthy while the gRPC server runs and, for a cluster
    node, while its NATS connection is up."""

    def serving() -> str | None:
        return None if node._grpc is not None else "the gRPC server is not running"

    def nats() -> str | None:
        if node._nats is None or node._nats.is_connected:
            return None
        return "not connected to any NATS server"

    listen = node.config.operations_listen
    try:
        return await start_operations(
            f"orderer {node.config.mspid}", listen, {"grpc": serving, "nats": nats}
        )
    except OSError as exc:
        raise OrderingError(f"operations: cannot listen on {listen}: {exc}") from None
