"""The peer process: its config file, its channels, and the gRPC services it serves
(Gateway, Endorser, Deliver, health).

``consortium node run peer --config FILE`` runs ``serve``. The config is YAML::

    listen: 127.0.0.1:7051
    mspid: Org1MSP
    msp_dir: msp                  # local MSP: signcerts/ and keystore/ sign endorsements
    data_dir: data                # channels/<id>/{blocks,state}
    tls:                          # on unless `enabled: false` is written
      cert: tls/server.crt        # also presented as this peer's client certificate
      key: tls/server.key
      client_root_cas: [roots.pem]  # when set, clients must present a certificate
    orderers:                     # where blocks come from and transactions go
      - address: 127.0.0.1:7050
        tls_root: orderer-tls-ca.pem
    peers:                        # other organizations' peers, for endorsement
      - mspid: Org2MSP
        address: 127.0.0.1:8051
        tls_root: org2-tls-ca.pem
    chaincodes:                   # chaincode name -> its CCaaS address
      basic: 127.0.0.1:9999
    operations:                   # optional: /metrics, /healthz, /logspec (proto.operations)
      listen: 127.0.0.1:9443
    private_data:                 # optional
      reconcile_interval: 60      # seconds between pulls of missing private data

Relative paths are relative to the config file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import signal
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import lmdb
import yaml
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2_grpc
from fabric_protos.peer import events_pb2_grpc, peer_pb2_grpc, proposal_pb2, snapshot_pb2_grpc
from grpc_health.v1 import health_pb2

from ca.certificates import load_certificate
from ca.channelconfig import ChannelConfig, ChannelConfigError
from ca.errors import CaError
from ca.msp import ReloadingSigner, load_msp
from ca.signing import SoftwareSigner
from chaincode.endpoint import ChaincodeEndpoint
from chaincode.server_info import ServerInfo
from ledgerdb.errors import LedgerError
from peers import metrics
from peers.channel import OrdererEndpoint, PeerChannel, close_later
from peers.committer import CommittedBlock, commit_block
from peers.cscc import CSCC, ConfigSystemChaincode
from peers.deliver import PeerDeliver
from peers.dissemination import Disseminator, PrivateDataService, Puller
from peers.endorser import Endorser, ProposalRefused, unpack_proposal
from peers.errors import PeerError
from peers.gateway import Gateway, RemotePeer
from peers.ledger import Ledger
from peers.lifecycle import LIFECYCLE_NAMESPACE, ChaincodeDefinition
from peers.lifecycle_chaincode import LifecycleChaincode, committed_approvals
from peers.packages import PackageError, PackageStore
from peers.reconciler import RECONCILE_INTERVAL, Reconciler
from peers.snapshot_join import join_from_snapshot, snapshot_approvals
from peers.snapshots import Snapshots, SnapshotService
from peers.tracestore import TraceService, TraceStore
from proto import keepalive, privatedata_pb2_grpc, trace_pb2_grpc
from proto.collector import settle_after_start
from proto.credentials import TlsIdentity, server_credentials
from proto.limits import Limits, LimitsError, parse_limits
from proto.operations import OperationsServer, listen_setting, start_operations
from proto.server import add_health, new_server
from proto.tracing import trace_record

log = logging.getLogger(__name__)
_ADDRESS = re.compile(r"^(?P<host>[^:]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


class PeerConfigError(PeerError):
    """The peer's config file is invalid; the message names the setting."""


@dataclass(frozen=True)
class RemotePeerConfig:
    mspid: str
    address: str
    tls_root: Path | None


@dataclass(frozen=True)
class PeerConfig:
    listen: str
    mspid: str
    msp_dir: Path
    data_dir: Path
    tls_cert: Path | None
    tls_key: Path | None
    orderers: tuple[OrdererEndpoint, ...]
    client_root_cas: tuple[Path, ...] = ()
    client_identity: TlsIdentity | None = None  # presented to orderers and other peers
    peers: tuple[RemotePeerConfig, ...] = ()
    chaincodes: dict[str, str] = field(default_factory=dict)
    operations_listen: str = ""
    reconcile_interval: float = RECONCILE_INTERVAL
    limits: Limits = field(default_factory=Limits)


def _address(value: Any, name: str, where: Path) -> str:
    if not isinstance(value, str) or not _ADDRESS.match(value):
        raise PeerConfigError(f"{where}: {name} must be HOST:PORT, got {value!r}")
    return value


def load_config(path: Path) -> PeerConfig:
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise PeerConfigError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise PeerConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise PeerConfigError(f"{path}: expected a mapping of settings")
    known = {
        "listen",
        "mspid",
        "msp_dir",
        "data_dir",
        "tls",
        "orderers",
        "peers",
        "chaincodes",
        "operations",
        "private_data",
        "limits",
    }
    unknown = sorted(set(raw) - known)
    if unknown:
        raise PeerConfigError(f"{path}: unknown setting {unknown[0]!r}; known: {sorted(known)}")
    for key in ("listen", "mspid", "msp_dir", "data_dir", "orderers"):
        if not raw.get(key):
            raise PeerConfigError(f"{path}: {key} is required")
    base = path.parent

    def resolve(value: Any) -> Path:
        candidate = Path(str(value))
        return candidate if candidate.is_absolute() else base / candidate

    def read(value: Any, name: str) -> bytes | None:
        if not value:
            return None
        try:
            return resolve(value).read_bytes()
        except OSError as exc:
            raise PeerConfigError(f"{path}: {name}: {exc.strerror}: {value}") from None

    tls = raw.get("tls")
    if tls is None:
        raise PeerConfigError(f"{path}: tls is required (`tls: {{enabled: false}}` turns it off)")
    tls_on = tls.get("enabled", True)
    if tls_on and not (tls.get("cert") and tls.get("key")):
        raise PeerConfigError(f"{path}: tls.cert and tls.key are required when TLS is on")
    client = _client_identity(resolve(tls["cert"]), resolve(tls["key"]), path) if tls_on else None
    orderers = tuple(
        OrdererEndpoint(
            _address(o.get("address"), f"orderers[{n}].address", path),
            read(o.get("tls_root"), f"orderers[{n}].tls_root"),
            str(o.get("hostname_override", "")),
            client,
        )
        for n, o in enumerate(raw["orderers"])
    )
    peers = tuple(
        RemotePeerConfig(
            str(p.get("mspid", "")),
            _address(p.get("address"), f"peers[{n}].address", path),
            resolve(p["tls_root"]) if p.get("tls_root") else None,
        )
        for n, p in enumerate(raw.get("peers") or ())
    )
    chaincodes = {
        str(name): _address(address, f"chaincodes.{name}", path)
        for name, address in (raw.get("chaincodes") or {}).items()
    }
    try:
        operations_listen = listen_setting(raw.get("operations"))
        limits = parse_limits(raw.get("limits"))
    except (ValueError, LimitsError) as exc:
        raise PeerConfigError(f"{path}: {exc}") from None
    return PeerConfig(
        reconcile_interval=_reconcile_interval(raw.get("private_data"), path),
        listen=_address(raw["listen"], "listen", path),
        mspid=str(raw["mspid"]),
        msp_dir=resolve(raw["msp_dir"]),
        data_dir=resolve(raw["data_dir"]),
        tls_cert=resolve(tls["cert"]) if tls_on else None,
        tls_key=resolve(tls["key"]) if tls_on else None,
        orderers=orderers,
        client_identity=client,
        client_root_cas=tuple(resolve(p) for p in tls.get("client_root_cas") or ())
        if tls_on
        else (),
        peers=peers,
        chaincodes=chaincodes,
        operations_listen=operations_listen,
        limits=limits,
    )


def _client_identity(cert: Path, key: Path, path: Path) -> TlsIdentity:
    """The peer's TLS certificate, which it also presents as a client (to orderers and
    other peers), as Fabric's test-network peers do."""
    try:
        return TlsIdentity.from_files(cert, key)
    except OSError as exc:
        raise PeerConfigError(f"{path}: tls: {exc.strerror}: {exc.filename}") from None


def _reconcile_interval(section: Any, path: Path) -> float:
    if section is None:
        return RECONCILE_INTERVAL
    if not isinstance(section, dict) or set(section) - {"reconcile_interval"}:
        raise PeerConfigError(f"{path}: private_data takes only reconcile_interval")
    value = section.get("reconcile_interval", RECONCILE_INTERVAL)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise PeerConfigError(
            f"{path}: private_data.reconcile_interval must be a positive number of seconds"
        )
    return float(value)


class PeerNode:
    """Owns one peer's channels, chaincode connections and servers."""

    def __init__(self, config: PeerConfig, signer: SoftwareSigner | ReloadingSigner) -> None:
        self.config = config
        self.signer = signer
        self.channels: dict[str, PeerChannel] = {}
        self.packages = PackageStore(config.data_dir / "packages")
        self.endpoints: dict[tuple[str, str], ChaincodeEndpoint] = {}
        self._resolved: dict[tuple[str, str, int], ChaincodeEndpoint] = {}
        self.remote_peers = [self._remote(p, config.client_identity) for p in config.peers]
        self._reconcilers: dict[str, asyncio.Task[None]] = {}
        self._repointing: set[asyncio.Task[None]] = set()  # pullers reopened after a rotation
        self._join_lock = asyncio.Lock()
        self.joining_from = ""
        """The snapshot folder a channel is being joined from right now ("" if none)."""
        self.traces = TraceStore(config.data_dir / "trace")
        self.snapshots = Snapshots(
            config.data_dir / "snapshots",
            self._ledger,
            config.mspid,
            self.packages.channel_approvals,
        )
        self._server: grpc.aio.Server | None = None
        self.gateway: Gateway | None = None
        self.port = 0

    @staticmethod
    def _remote(peer: RemotePeerConfig, client: TlsIdentity | None) -> RemotePeer:
        tls_root = peer.tls_root.read_bytes() if peer.tls_root is not None else None
        channel = OrdererEndpoint(peer.address, tls_root, client=client).channel()
        return RemotePeer(peer.mspid, peer.address, channel)

    def reload_client_tls(self) -> bool:
        """Present the TLS certificate now in the node's files (``certs rotate`` wrote
        it) on every connection to orderers and peers: new channels to the other peers
        and a new Deliver stream per channel at once, a new Broadcast stream at the next
        submit; the replaced connections close after the calls on them had time to
        finish. False when the certificate did not change or cannot be read."""
        config = self.config
        if config.tls_cert is None or config.tls_key is None:
            return False
        try:
            fresh = TlsIdentity.from_files(config.tls_cert, config.tls_key)
        except OSError as exc:
            log.warning("TLS client certificate not reloaded, keeping the current one: %s", exc)
            return False
        if fresh == config.client_identity:
            return False
        orderers = tuple(replace(o, client=fresh) for o in config.orderers)
        self.config = replace(config, client_identity=fresh, orderers=orderers)
        replaced, self.remote_peers = (
            self.remote_peers,
            [self._remote(p, fresh) for p in config.peers],
        )
        for peer in replaced:
            close_later(peer.channel.close)
        for channel in self.channels.values():
            task = asyncio.create_task(channel.pull_again(list(orderers)))
            self._repointing.add(task)
            task.add_done_callback(self._repointing.discard)
        serial = load_certificate(fresh.cert).serial_number
        log.info("TLS client certificate reloaded (serial %x)", serial)
        return True

    def _endpoint(
        self, channel_id: str, definition: ChaincodeDefinition
    ) -> ChaincodeEndpoint | None:
        """Where the chaincode runs: the package this org approved for the definition's
        sequence (its connection.json), else the peer config's ``chaincodes`` entry.
        Resolved once per definition sequence, then cached."""
        key = (channel_id, definition.name, definition.sequence)
        if key not in self._resolved:
            package = self.packages.approved_package(*key)
            if package:
                server = self._package_server(package)
            else:
                address = self.config.chaincodes.get(definition.name)
                server = ServerInfo(address) if address else None
            if server is None:
                return None
            # The contract must register as the package (or, without one, the chaincode)
            # this peer dialled for: another contract at the address is refused.
            expected = package or definition.name
            if (server.address, expected) not in self.endpoints:
                self.endpoints[server.address, expected] = ChaincodeEndpoint(
                    server.address,
                    tls=server.tls,  # connection.json's TLS and client certificate
                    expected_name=expected,
                    dial_timeout=server.dial_timeout,
                )
            self._resolved[key] = self.endpoints[server.address, expected]
        return self._resolved[key]

    def _ledger(self, channel_id: str) -> Ledger | None:
        channel = self.channels.get(channel_id)
        return None if channel is None else channel.ledger

    @property
    def channels_dir(self) -> Path:
        return self.config.data_dir / "channels"

    def trace(self, step: int, tx_id: str, channel_id: str, **details: object) -> None:
        node = f"{self.config.mspid}@{self.config.listen.rsplit(':', 1)[0]}:{self.port}"
        self.traces.add(trace_record(step, tx_id, channel_id, node, **details))

    def _open_channel(self, channel_id: str) -> PeerChannel:
        ledger = Ledger(self.channels_dir / channel_id, self.config.mspid)
        ledger.recover()
        puller = Puller(self.signer, lambda: self.remote_peers, asyncio.get_running_loop())
        ledger.puller = puller
        reconciler = Reconciler(ledger, puller.fetch, self.config.reconcile_interval)
        self._reconcilers[channel_id] = asyncio.create_task(
            reconciler.run(), name=f"reconcile:{channel_id}"
        )
        channel = PeerChannel(channel_id, ledger, self.signer, self.trace)
        channel.on_commit(lambda committed: self._record_approvals(channel_id, committed))
        channel.on_commit(lambda committed: metrics.count_block(channel_id, committed))
        channel.on_commit(lambda committed: _log_commit(channel_id, committed))
        channel.on_commit(lambda committed: self.snapshots.committed(channel_id, committed))
        self.channels[channel_id] = channel
        channel.start_pulling(list(self.config.orderers))
        return channel

    def _package_server(self, package: str) -> ServerInfo | None:
        """Where and how to dial an approved package's chaincode; None until it is
        installed here (a peer may learn its organization's approval before the package)."""
        try:
            return self.packages.get(package).server
        except PackageError:
            return None

    def _record_approvals(self, channel_id: str, committed: CommittedBlock) -> None:
        """This organization's approvals, as they commit: which package runs a chaincode."""
        approvals = committed_approvals(committed.txs, committed.verdicts, self.config.mspid)
        for name, sequence, package in approvals:
            self.packages.record_approval(channel_id, name, sequence, package)
        self.packages.write_approvals()  # any a full disk refused earlier

    async def join(self, block: common_pb2.Block) -> str:
        """Join the channel whose genesis block this is (cscc JoinChain)."""
        try:
            channel_id = ChannelConfig.from_block(block).channel_id
        except ChannelConfigError as exc:
            raise ProposalRefused(f"JoinChain: {exc}") from None
        if block.header.number != 0:
            raise ProposalRefused("JoinChain needs the channel's genesis block (number 0)")
        async with self._join_lock:
            if channel_id in self.channels:
                raise ProposalRefused(
                    f"cannot create ledger from genesis block: ledger [{channel_id}] already exists"
                )
            directory = self.channels_dir / channel_id
            if directory.exists():  # a join that crashed half-way
                shutil.rmtree(directory)
            try:
                await asyncio.to_thread(_create_ledger, directory, self.config.mspid, block)
            except (PeerError, LedgerError, lmdb.Error, OSError) as exc:  # e.g. a full disk
                log.error("cannot join channel %s: %s", channel_id, exc)
                shutil.rmtree(directory, ignore_errors=True)
                raise ProposalRefused(f"cannot create ledger from genesis block: {exc}") from None
            self._open_channel(channel_id)
        log.info("joined channel %s", channel_id)
        return channel_id

    async def join_by_snapshot(self, snapshot: str) -> str:
        """Join the channel a peer snapshot was taken of, from its height on (cscc
        JoinChainBySnapshot: ``peer channel joinbysnapshot``)."""
        if self._join_lock.locked() and self.joining_from:
            raise ProposalRefused(
                f"a ledger is being created from a snapshot at {self.joining_from}. Call "
                "ledger creation again after it is done."
            )
        async with self._join_lock:
            self.joining_from = snapshot
            try:
                channel_id = await asyncio.to_thread(
                    join_from_snapshot, Path(snapshot), self.channels_dir
                )
            except PeerError as exc:
                raise ProposalRefused(str(exc)) from None
            finally:
                self.joining_from = ""
            for name, sequence, package in snapshot_approvals(Path(snapshot), self.config.mspid):
                self.packages.record_approval(channel_id, name, sequence, package)
            self._open_channel(channel_id)
        log.info("joined channel %s from the snapshot in %s", channel_id, snapshot)
        return channel_id

    async def start(self) -> None:
        self.channels_dir.mkdir(parents=True, exist_ok=True)
        for directory in sorted(self.channels_dir.iterdir()):
            if (directory / "blocks").is_dir() and not directory.name.startswith("."):
                self._open_channel(directory.name)
        local_msp = load_msp(self.config.msp_dir, self.config.mspid)
        lifecycle = LifecycleChaincode(local_msp, self.packages)
        endorser = Endorser(
            self.signer,
            self._ledger,
            self._endpoint,
            system={
                CSCC: ConfigSystemChaincode(
                    local_msp,
                    self.join,
                    lambda: sorted(self.channels),
                    self.join_by_snapshot,
                    lambda: self.joining_from,
                ),
                LIFECYCLE_NAMESPACE: lifecycle,
            },
            lifecycle=lifecycle,
            trace=self.trace,
            private=Disseminator(self.config.mspid, self.signer, lambda: self.remote_peers),
        )
        server = new_server(options=keepalive.SERVER_OPTIONS, limits=self.config.limits)
        if self.config.tls_cert is None:
            self.port = server.add_insecure_port(self.config.listen)
        else:
            assert self.config.tls_key is not None
            credentials = server_credentials(
                self.config.tls_cert, self.config.tls_key, self.config.client_root_cas
            )
            self.port = server.add_secure_port(self.config.listen, credentials)
        if self.port == 0:
            raise PeerError(f"cannot listen on {self.config.listen}")
        host = self.config.listen.rsplit(":", 1)[0]
        self.gateway = Gateway(
            self.config.mspid,
            f"{host}:{self.port}",
            endorser,
            self.channels.get,
            lambda: self.remote_peers,
            lambda: self.config.orderers,
            self.trace,
        )
        # metered on the endorser itself: the gateway's local endorsements count too
        endorser.endorse = metrics.meter_proposals(endorser.endorse)  # type: ignore[method-assign]
        peer_pb2_grpc.add_EndorserServicer_to_server(
            _EndorserService(endorser, self.channels), server
        )
        snapshot_pb2_grpc.add_SnapshotServicer_to_server(
            SnapshotService(self.snapshots, local_msp), server
        )
        metrics.meter_gateway(self.gateway)
        metrics.publish_heights(lambda: self.channels)
        metrics.publish_halts(lambda: self.channels)
        gateway_pb2_grpc.add_GatewayServicer_to_server(self.gateway, server)
        events_pb2_grpc.add_DeliverServicer_to_server(PeerDeliver(self.channels.get), server)
        trace_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(self.traces), server)
        privatedata_pb2_grpc.add_PrivateDataServicer_to_server(
            PrivateDataService(
                self.config.mspid,
                self._ledger,
            ),
            server,
        )
        health_servicer = add_health(server)
        await server.start()
        self._server = server
        await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(grace=2)
        if self.gateway is not None:
            await self.gateway.close()
        for endpoint in self.endpoints.values():
            await endpoint.close()
        for task in self._reconcilers.values():
            task.cancel()
        await asyncio.gather(*self._reconcilers.values(), return_exceptions=True)
        for channel in list(self.channels.values()):
            await channel.close()
        for peer in self.remote_peers:
            await peer.channel.close()
        self.traces.close()


def _create_ledger(directory: Path, mspid: str, genesis: common_pb2.Block) -> None:
    """A new channel's ledger holding its genesis block; closed whether or not the
    commit succeeds (a refused one is removed by the caller)."""
    ledger = Ledger(directory, mspid)
    try:
        commit_block(ledger, genesis)
    finally:
        with contextlib.suppress(Exception):
            ledger.close()


def _log_commit(channel_id: str, committed: CommittedBlock) -> None:
    """Fabric's kvledger line for each block, at DEBUG so a busy peer's log stays small
    (``PUT /logspec {"spec": "peers.node=debug"}`` shows it on a running peer)."""
    if log.isEnabledFor(logging.DEBUG):
        valid = sum(1 for verdict in committed.verdicts if verdict.code == 0)
        log.debug(
            "[%s] Committed block [%d] with %d transaction(s), %d valid",
            channel_id,
            committed.block.header.number,
            len(committed.verdicts),
            valid,
        )


class _EndorserService(peer_pb2_grpc.EndorserServicer):
    def __init__(self, endorser: Endorser, channels: dict[str, PeerChannel]) -> None:
        self._endorser = endorser
        self._channels = channels

    def _unavailable(self, request: proposal_pb2.SignedProposal) -> str | None:
        """Why the proposal's channel cannot endorse (halted on a ledger failure); the
        proposal is decoded for it only while some channel is halted."""
        if not any(channel.halted for channel in self._channels.values()):
            return None
        try:
            channel_id = unpack_proposal(request).channel_header.channel_id
        except ProposalRefused:
            return None  # the endorser names what is wrong with it
        channel = self._channels.get(channel_id)
        return None if channel is None else channel.unavailable()

    async def ProcessProposal(
        self, request: proposal_pb2.SignedProposal, context: grpc.aio.ServicerContext
    ):
        """A proposal refused before simulation is a gRPC error, as a Go endorser's
        ``(response, err)`` reaches its remote caller; anything else is the response. A
        halted channel answers UNAVAILABLE, as a peer that is down: a gateway asking it
        then plans around it (Fabric's gateway reads UNAVAILABLE as an unreachable peer)."""
        reason = self._unavailable(request)
        if reason is not None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, reason)
        response, error = await self._endorser.endorse(request)
        if error is not None:
            await context.abort(grpc.StatusCode.UNKNOWN, error)
        return response


async def serve(config: PeerConfig) -> None:
    """Run until SIGTERM or SIGINT; print where it listens once ready."""
    try:
        signer = ReloadingSigner(config.msp_dir, config.mspid)
    except CaError as exc:
        raise PeerConfigError(f"msp_dir: {exc}") from None
    node = PeerNode(config, signer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    signer.reload_on_sighup(also=node.reload_client_tls)
    await node.start()
    operations = await _start_operations(node)
    settle_after_start()
    print(f"peer {config.mspid} listening on port {node.port}", flush=True)
    try:
        await stop.wait()
    finally:
        if operations is not None:
            await operations.stop()
        await node.stop()


async def _start_operations(node: PeerNode) -> OperationsServer | None:
    """The operations service, healthy while the gRPC server runs and every channel's
    ledger answers its height."""

    def serving() -> str | None:
        return None if node._server is not None else "the gRPC server is not running"

    def ledgers() -> str | None:
        broken = [name for name, channel in node.channels.items() if channel.height < 1]
        return f"channels without a ledger: {', '.join(broken)}" if broken else None

    def commits() -> str | None:
        halted = [channel.unavailable() for channel in node.channels.values()]
        return "; ".join(reason for reason in halted if reason) or None

    try:
        return await start_operations(
            f"peer {node.config.mspid}",
            node.config.operations_listen,
            {"grpc": serving, "ledger": ledgers, "commit": commits},
        )
    except OSError as exc:
        listen = node.config.operations_listen
        raise PeerError(f"operations: cannot listen on {listen}: {exc}") from None
