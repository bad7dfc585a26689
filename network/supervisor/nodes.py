"""Starting the network's processes: control plane, member CAs (and enrollment), the
ordering organization, orderers, peers, and joining them to their channels."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import ssl
import uuid
from pathlib import Path

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ca import certificates
from ca.client import FabricCaClient, save_enrollment, split_chain
from ca.issuing import Issuer, ca_name, self_signed_ca
from ca.keystore import SoftwareCaKey
from ca.msp import MspConfig, NodeOUs, load_signing_identity, write_msp
from ca.signing import SoftwareSigner
from network.controlplane.keyfile import secret_for
from network.controlplane.resources import DEFAULT_ACCOUNT
from network.errors import SupervisorError
from network.localnet import CREDENTIALS
from network.nats_cluster import NatsNode, await_readiness, server_config, usable_nats_server
from network.processes import CONSORTIUM
from network.snapshot_peer import snapshot_channel
from network.snapshot_streams import reseed
from network.spec import Member, Node
from network.supervisor.base import SupervisorBase
from network.supervisor.home import new_password, write_atomically
from ordering.configtx import genesis_block, load_profile, policy_entry


class Nodes(SupervisorBase):
    """Starting (and stopping) the network's processes and joining them to channels."""

    def start_control_plane(self) -> None:
        plane = self.spec.control_plane
        listen = self.operations_listen("control-plane", plane.host, plane.operations_port)
        self._start(
            "control-plane",
            [
                *CONSORTIUM,
                "node",
                "run",
                "control-plane",
                "--data",
                str(self.home.root / "control-plane"),
                "--port",
                str(plane.port),
                "--operations-listen",
                listen,
                *self.control_plane_config(),
            ],
            plane.host,
            plane.port,
            listen,
        )

    def control_plane_config(self) -> list[str]:
        """``--config FILE`` for the control plane: its clock, ``reconcile: external`` — a
        resource stays CREATING or DELETING until this supervisor reports that its nodes
        run or are gone, as AMB shows it — and strict SigV4 against a credentials file
        holding a secret for each member's account and the default one."""
        folder = self.home.root / "control-plane"
        folder.mkdir(parents=True, exist_ok=True)
        credentials = self.home.root / CREDENTIALS
        for account in {DEFAULT_ACCOUNT, *(m.account for m in self.spec.members)}:
            secret_for(credentials, account)
        path = folder / "config.yaml"
        path.write_text(
            f"clock: {self.spec.control_plane_clock}\nreconcile: external\n"
            f"strict: true\ncredentials_file: {credentials.name}\n"
        )
        return ["--config", str(path)]

    def _ca_ssl(self, member: Member) -> ssl.SSLContext:
        return ssl.create_default_context(
            cafile=str(self.home.member(member.name) / "ca" / "tlsca-cert.pem")
        )

    def orderer_admin_ssl(self, orderer: Node) -> ssl.SSLContext:
        """What the supervisor presents to an orderer's admin (participation) API: the
        ordering organization's admin TLS certificate, as ``osnadmin`` does."""
        folder = self.home.root / "ordering"
        context = ssl.create_default_context(cafile=str(folder / orderer.name / "tls" / "ca.crt"))
        admin_tls = folder / "admin" / "tls"
        if not (admin_tls / "server.crt").is_file():  # a network made before mutual TLS
            issuer = self.ordering_issuer()
            if issuer is None:
                return context
            self.write_tls_server(issuer, "Admin@ordering", "localhost", admin_tls)
        context.load_cert_chain(admin_tls / "server.crt", admin_tls / "server.key")
        return context

    def start_member_cas(self) -> None:
        for member in self.members:
            home = self.home.member(member.name) / "ca"
            password = self.state["passwords"][member.name]
            name = f"ca-{member.name}"
            listen = self.operations_listen(name, member.ca.host, member.ca.operations_port)
            self._start(
                name,
                [
                    *CONSORTIUM,
                    "ca",
                    "serve",
                    "--home",
                    str(home),
                    "--host",
                    member.ca.host,
                    "--port",
                    str(member.ca.port),
                    "--boot",
                    f"admin:{password}",
                    "--tls-hosts",
                    member.ca.host,
                    "--mspid",
                    member.mspid,
                    "--organization",
                    member.name,
                    "--name",
                    f"ca-{member.name}",
                    "--operations-listen",
                    listen,
                ],
                member.ca.host,
                member.ca.port,
                listen,
            )

    def enroll_members(self) -> None:
        """Each member's admin, user and peers, once; a peer added to the spec later is
        enrolled on the next ``up`` (or reconcile)."""
        self._ready("ca-")
        for member in self.members:
            password = self.state["passwords"][member.name]
            if not (self.home.member(member.name) / "msp").exists():
                self._enroll_member(member, password)
                continue
            new_peers = [
                peer
                for peer in member.peers
                if not (self.home.member(member.name) / "peers" / peer.name / "msp").exists()
            ]
            if new_peers:
                client = self._ca_client(member)
                registrar = client.enroll("admin", password).signer
                for peer in new_peers:
                    self._enroll_peer(client, registrar, member, peer)
                names = ", ".join(p.name for p in new_peers)
                self.progress(f"  {member.name}: new peer(s) {names} enrolled")
            self._enroll_missing_tls_clients(member)

    def _enroll_missing_tls_clients(self, member: Member) -> None:
        """A TLS client certificate for each user enrolled before mutual TLS (a network
        made by an earlier consortium): re-enrolled with the tls profile, authenticated
        by the user's own certificate, as ``certs rotate`` does."""
        users = self.home.member(member.name) / "users"
        missing = [msp for msp in sorted(users.glob("*/msp")) if not (msp.parent / "tls").exists()]
        if not missing:
            return
        client = self._ca_client(member)
        for msp in missing:
            current = load_signing_identity(msp, member.mspid)
            tls = client.reenroll(current, profile="tls")
            save_enrollment(tls, msp.parent / "tls", tls=True, tls_name="client")
        names = ", ".join(msp.parent.name for msp in missing)
        self.progress(f"  {member.name}: TLS client certificates for {names}")

    def _ca_client(self, member: Member) -> FabricCaClient:
        url = f"https://{member.ca.host}:{member.ca.port}"
        return FabricCaClient(url, member.mspid, self._ca_ssl(member))

    def _enroll_member(self, member: Member, password: str) -> None:
        folder = self.home.member(member.name)
        client = self._ca_client(member)
        bootstrap = client.enroll("admin", password)
        registrar = bootstrap.signer
        roots, intermediates = split_chain(bootstrap.ca_chain_pem)
        tls_roots = (folder / "ca" / "tlsca-cert.pem").read_bytes()
        write_msp(
            folder / "msp",
            MspConfig(
                member.mspid, roots, intermediates, tls_root_certs=(tls_roots,), node_ous=NodeOUs()
            ),
        )
        for user, kind in (("orgadmin", "admin"), ("user1", "client")):
            secret = client.register(registrar, user, type=kind)
            save_enrollment(client.enroll(user, secret), folder / "users" / user / "msp", tls=False)
            _enroll_tls_client(client, user, secret, folder / "users" / user / "tls")
        for peer in member.peers:
            self._enroll_peer(client, registrar, member, peer)
        self.progress(f"  {member.name}: admin, user1 and {len(member.peers)} peer(s) enrolled")

    def enroll_user(
        self, member_name: str, user: str, attributes: list[dict], kind: str = "client"
    ) -> Path:
        """Register ``user`` with the member's CA (as its bootstrap admin, with the
        attributes given) and enroll it into ``members/<member>/users/<user>/msp``, where
        ``invoke --identity`` finds it."""
        member = self._known_member(member_name)
        target = self.home.member(member.name) / "users" / user / "msp"
        if target.exists():
            raise SupervisorError(f"{member.name} already has an identity {user!r} ({target})")
        client = self._ca_client(member)
        registrar = client.enroll("admin", self.state["passwords"][member.name]).signer
        secret = client.register(registrar, user, type=kind, attrs=attributes)
        requests = [{"name": a["name"], "optional": True} for a in attributes]
        enrollment = client.enroll(user, secret, attr_reqs=requests or None)
        _enroll_tls_client(client, user, secret, target.parent / "tls")
        return save_enrollment(enrollment, target, tls=False)

    def _enroll_peer(
        self, client: FabricCaClient, registrar: SoftwareSigner, member: Member, peer: Node
    ) -> None:
        """A peer's signing identity (``peer`` NodeOU) and its TLS server certificate."""
        folder = self.home.member(member.name) / "peers" / peer.name
        enrollment_id = f"{peer.name}.{member.name}"
        secret = client.register(registrar, enrollment_id, type="peer")
        save_enrollment(client.enroll(enrollment_id, secret), folder / "msp", tls=False)
        tls = client.enroll(enrollment_id, secret, profile="tls", hosts=[peer.host, "localhost"])
        save_enrollment(tls, folder / "tls", tls=True)

    def prepare_ordering_org(self) -> None:
        folder = self.home.root / "ordering"
        if (folder / "msp").exists():
            return
        raw_key = ec.generate_private_key(ec.SECP256R1())
        root_key = SoftwareCaKey(raw_key)
        issuer = Issuer(
            self_signed_ca(root_key, ca_name(f"ca.{self.spec.ordering_mspid}", "ordering"), 3650),
            root_key,
        )
        _write_key(folder / "ca" / "ca.key", raw_key)  # kept for `certs rotate`
        (folder / "ca" / "ca.crt").write_bytes(certificates.to_pem(issuer.certificate))
        root_pem = certificates.to_pem(issuer.certificate)
        write_msp(
            folder / "msp",
            MspConfig(self.spec.ordering_mspid, (root_pem,), tls_root_certs=(root_pem,)),
        )
        # The ordering organization's admin signs changes to the channels' Orderer group
        # (batch size and timeout): its Admins policy is OR('OrdererMSP.admin').
        admin_key = ec.generate_private_key(ec.SECP256R1())
        admin_cert = issuer.issue(admin_key.public_key(), "Admin@ordering", ous=("admin",))
        write_msp(
            folder / "admin" / "msp",
            MspConfig(self.spec.ordering_mspid, (root_pem,)),
            SoftwareSigner(self.spec.ordering_mspid, certificates.to_pem(admin_cert), admin_key),
        )
        self.write_tls_server(issuer, "Admin@ordering", "localhost", folder / "admin" / "tls")
        for orderer in self.spec.orderers:
            self.write_orderer_msp(issuer, orderer, folder / orderer.name / "msp")
            self.write_orderer_tls(issuer, orderer, folder / orderer.name / "tls")
        self.progress(f"  ordering organization {self.spec.ordering_mspid} ready")

    def ordering_issuer(self) -> Issuer | None:
        """The ordering organization's CA, None for a network made before its key was kept."""
        folder = self.home.root / "ordering" / "ca"
        if not (folder / "ca.key").exists():
            return None
        key = serialization.load_pem_private_key((folder / "ca.key").read_bytes(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        certificate = certificates.load_certificate((folder / "ca.crt").read_bytes())
        return Issuer(certificate, SoftwareCaKey(key))

    def write_orderer_msp(self, issuer: Issuer, orderer: Node, folder: Path) -> None:
        """An orderer's signing identity (``orderer`` NodeOU) as a local MSP."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = issuer.issue(key.public_key(), orderer.name, ous=("orderer",))
        signer = SoftwareSigner(self.spec.ordering_mspid, certificates.to_pem(cert), key)
        root_pem = certificates.to_pem(issuer.certificate)
        write_msp(folder, MspConfig(self.spec.ordering_mspid, (root_pem,)), signer)

    def write_orderer_tls(self, issuer: Issuer, orderer: Node, folder: Path) -> None:
        """An orderer's TLS server certificate, key and root, as Fabric nodes lay them out."""
        self.write_tls_server(issuer, orderer.name, orderer.host, folder)

    def write_tls_server(self, issuer: Issuer, name: str, host: str, folder: Path) -> None:
        """A TLS server certificate for ``host`` (and localhost), its key and root."""
        key = ec.generate_private_key(ec.SECP256R1())
        cert = issuer.issue(key.public_key(), name, hosts=(host, "localhost"), tls=True)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "server.crt").write_bytes(certificates.to_pem(cert))
        _write_key(folder / "server.key", key)
        (folder / "ca.crt").write_bytes(certificates.to_pem(issuer.certificate))

    def _profile(self, channel) -> Path:
        """The channel's configtx.yaml, as a user would write it for ``configtxgen``:
        each member's anchor peers (the spec's, else its first peer, as Fabric's
        test-network sets them) and the Application policies the spec sets."""
        folder = self.home.root / "channels" / channel.name
        folder.mkdir(parents=True, exist_ok=True)
        size, timeout = self.desired_batch(channel)
        organizations = [
            {
                "Name": m,
                "ID": self.member(m).mspid,
                "MSPDir": str(self.home.member(m) / "msp"),
                "AnchorPeers": [
                    {"Host": h, "Port": p} for h, p in self.anchor_addresses(channel, m)
                ],
            }
            for m in channel.members
        ]
        profile = {
            "Orderer": {
                "BatchTimeout": timeout,
                "BatchSize": {
                    "MaxMessageCount": size.max_message_count,
                    "AbsoluteMaxBytes": size.absolute_max_bytes,
                    "PreferredMaxBytes": size.preferred_max_bytes,
                },
                "Organizations": [
                    {
                        "Name": "ordering",
                        "ID": self.spec.ordering_mspid,
                        "MSPDir": str(self.home.root / "ordering" / "msp"),
                        "OrdererEndpoints": [f"{o.host}:{o.port}" for o in self.spec.orderers],
                    }
                ],
            },
            "Application": {
                "Organizations": organizations,
                "Policies": {
                    name: policy_entry(rule, name) for name, rule in channel.policies.items()
                },
            },
        }
        path = folder / "configtx.yaml"
        path.write_text(yaml.safe_dump(profile, sort_keys=False))
        return path

    def start_orderers(self) -> None:
        for channel in self.spec.channels:
            block_file = self.home.root / "channels" / channel.name / "genesis.block"
            if not block_file.exists():
                block = genesis_block(load_profile(self._profile(channel)), channel.name)
                block_file.write_bytes(block.SerializeToString())
        for orderer in self.spec.orderers:
            folder = self.home.root / "ordering" / orderer.name
            config = folder / "orderer.yaml"
            name = f"orderer-{orderer.name}"
            listen = self.operations_listen(name, orderer.host, orderer.operations_port)
            config.write_text(
                f"listen: {orderer.host}:{orderer.port}\n"
                f"admin_listen: {orderer.host}:{orderer.admin_port}\n"
                f"mspid: {self.spec.ordering_mspid}\nmsp_dir: msp\ndata_dir: data\n"
                "tls:\n  cert: tls/server.crt\n  key: tls/server.key\n"
                + self._client_roots_setting()
                + f"operations:\n  listen: {listen}\n"
                + self._cluster_section(orderer)
            )
            self._start(
                name,
                [*CONSORTIUM, "node", "run", "orderer", "--config", str(config)],
                orderer.host,
                orderer.port,
                listen,
            )

    def client_roots_file(self) -> Path:
        return self.home.root / "tls" / "client-roots.pem"

    def write_client_roots(self) -> None:
        """``tls/client-roots.pem``: the TLS root of every member and of the ordering
        organization, the certificates a node's client must chain to. Written whole
        (atomically) whenever members change; nodes read it again at their next
        handshake (``proto.credentials``), so a joined member is let in without a
        restart and a removed one is refused."""
        roots = [self.home.root / "ordering" / "ca" / "ca.crt"]
        roots += [self.home.member(m.name) / "ca" / "tlsca-cert.pem" for m in self.members]
        text = "".join(p.read_text() for p in roots if p.is_file())
        target = self.client_roots_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or target.read_text() != text:
            write_atomically(target, text)

    def _client_roots_setting(self) -> str:
        """A node config's ``tls.client_root_cas`` line, unless the spec turns mutual TLS
        off (``tls: {client_auth: false}``)."""
        if not self.spec.client_auth:
            return ""
        return f"  client_root_cas: [{self.client_roots_file()}]\n"

    def _cluster_section(self, orderer) -> str:
        """An orderer's ``cluster:`` settings when the spec has NATS servers."""
        if not self.spec.nats:
            return ""
        urls = ", ".join(self._nats_urls())
        replicas = self._stream_replicas()
        return f"cluster:\n  node: {orderer.name}\n  nats: [{urls}]\n  replicas: {replicas}\n"

    def _nats_urls(self) -> list[str]:
        return [f"nats://{s.host}:{s.port}" for s in self.spec.nats]

    def _stream_replicas(self) -> int:
        return min(3, len(self.spec.nats))

    def reseed_streams(self) -> None:
        """A network restored from a snapshot starts with an empty JetStream: its streams
        get the snapshot's blocks and ingress position before any orderer starts
        (``network.snapshot_streams``; nothing to do otherwise)."""
        if not self.spec.nats:
            return
        for line in reseed(self.home.root, self._nats_urls(), self._stream_replicas()):
            self.progress(f"  {line}")

    # -- the replicated ordering service's NATS servers ----------------------------------

    def nats_nodes(self) -> list[NatsNode]:
        """The spec's NATS servers, with their folders under ``ordering/nats/``."""
        folder = self.home.root / "ordering" / "nats"
        return [
            NatsNode(s.name, s.host, s.port, s.cluster_port, s.monitor_port, folder / s.name)
            for s in self.spec.nats
        ]

    def start_nats(self) -> None:
        """The NATS servers (JetStream, clustered) that replicate the ordering service's
        ingress and journals; each keeps its store under ``ordering/nats/<name>``."""
        if not self.spec.nats:
            return
        binary = usable_nats_server()
        nodes = self.nats_nodes()
        for node in nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            node.config_path.write_text(server_config(node, nodes))
            command = [binary, "-c", str(node.config_path)]
            self._start(f"nats-{node.name}", command, node.host, node.client_port)

    def nats_ready(self, timeout: float = 30.0) -> None:
        """Until the NATS servers can hold streams replicated on all of them."""
        if not self.spec.nats:
            return
        self._ready("nats-")
        nodes = self.nats_nodes()
        await_readiness(nodes, lambda every_node: nodes, self._restart_nats, timeout)
        self.progress(f"  NATS JetStream cluster of {len(nodes)} ready")

    def _restart_nats(self, name: str) -> None:
        """A server the meta leader keeps reporting behind (``NUDGE_SECONDS``): restarted
        with its store, the way it would rejoin after a crash."""
        self.progress(f"  nats-{name} stays behind the JetStream meta leader; restarting it")
        process = self.processes[f"nats-{name}"]
        process.stop()
        process.start()

    def _join_orderer(self, orderer) -> None:
        import urllib.request

        context = self.orderer_admin_ssl(orderer)
        base = f"https://{orderer.host}:{orderer.admin_port}/participation/v1/channels"
        with urllib.request.urlopen(base, context=context, timeout=10) as response:
            joined = {c["name"] for c in json.loads(response.read())["channels"]}
        for channel in self.spec.channels:
            if channel.name in joined:
                continue
            block = (self.home.root / "channels" / channel.name / "genesis.block").read_bytes()
            boundary = uuid.uuid4().hex
            body = (
                (
                    f'--{boundary}\r\nContent-Disposition: form-data; name="config-block"; '
                    f'filename="genesis.block"\r\nContent-Type: application/octet-stream\r\n\r\n'
                ).encode()
                + block
                + f"\r\n--{boundary}--\r\n".encode()
            )
            request = urllib.request.Request(
                base,
                data=body,
                method="POST",
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
            with urllib.request.urlopen(request, context=context, timeout=30):
                pass
            self.progress(f"  {orderer.name} joined channel {channel.name}")

    def start_peers(self) -> None:
        orderer_tls = self.home.root / "ordering" / self.spec.orderers[0].name / "tls" / "ca.crt"
        for member in self.members:
            for peer in member.peers:
                folder = self.home.member(member.name) / "peers" / peer.name
                others = "".join(
                    f"  - mspid: {other.mspid}\n    address: {p.host}:{p.port}\n"
                    f"    tls_root: {self._peer_tls_root(other.name, p.name)}\n"
                    for other in self.members
                    if other.name != member.name
                    for p in other.peers  # every peer: the gateway fails over among them
                )
                orderers = "".join(
                    f"  - address: {o.host}:{o.port}\n    tls_root: {orderer_tls}\n"
                    for o in self.spec.orderers
                )
                config = folder / "peer.yaml"
                name = f"peer-{member.name}-{peer.name}"
                listen = self.operations_listen(name, peer.host, peer.operations_port)
                config.write_text(
                    f"listen: {peer.host}:{peer.port}\nmspid: {member.mspid}\nmsp_dir: msp\n"
                    "data_dir: data\ntls:\n  cert: tls/server.crt\n  key: tls/server.key\n"
                    + self._client_roots_setting()
                    + f"operations:\n  listen: {listen}\n"
                    f"orderers:\n{orderers}" + (f"peers:\n{others}" if others else "")
                )
                self._start(
                    name,
                    [*CONSORTIUM, "node", "run", "peer", "--config", str(config)],
                    peer.host,
                    peer.port,
                    listen,
                )

    async def _join_peers(self) -> None:
        for channel in self.spec.channels:
            block = (self.home.root / "channels" / channel.name / "genesis.block").read_bytes()
            for name in self.channel_members(channel):
                member = self.member(name)
                for peer in member.peers:
                    async with self._peer_admin(member, peer) as admin:
                        joined = await admin.propose("", "cscc", "GetChannels")
                        if channel.name.encode() in joined.response.payload:
                            continue
                        snapshot = snapshot_channel(peer.snapshot)
                        if snapshot == channel.name:  # Fabric's `peer channel joinbysnapshot`
                            await admin.propose(
                                "", "cscc", "JoinChainBySnapshot", peer.snapshot.encode()
                            )
                        else:
                            await admin.propose("", "cscc", "JoinChain", block)
                    how = " from its snapshot" if snapshot == channel.name else ""
                    self.progress(f"  {name}/{peer.name} joined channel {channel.name}{how}")

    def launch_first(self) -> None:
        """What depends on nothing starts at once, so start-up times overlap."""
        if "passwords" not in self.state:
            self.state["passwords"] = {m.name: new_password() for m in self.spec.members}
            self.home.save_state(self.state)
        self.start_control_plane()
        self.start_member_cas()
        self.start_nats()
        self.launch_contracts()
        self._ready("control-plane")

    def start_orderers_and_peers(self) -> None:
        self.nats_ready()
        self.reseed_streams()
        self.write_client_roots()
        self.start_orderers()
        self.start_peers()

    def join_channels(self) -> None:
        self._ready("orderer-")
        for orderer in self.spec.orderers:
            self._join_orderer(orderer)
        self._ready("peer-")
        asyncio.run(self._join_peers())

    def stop_started(self) -> None:
        """Stop what this run started, newest first; nodes that already ran keep running
        (a failed ``up`` on a running network must not take the network down)."""
        for name in reversed(self.started):
            self.processes.pop(name).stop()
        self.started.clear()

    def down(self, purge: bool = False) -> list[str]:
        """Stop every node (peers and chaincodes first, the control plane last)."""
        order = {
            "explorer": 0,
            "mqtt": 0,
            "peer": 0,
            "chaincode": 1,
            "orderer": 2,
            "nats": 3,
            "ca": 3,
        }
        order["control"] = 4
        processes = sorted(self.all_processes(), key=lambda p: order.get(p.name.split("-")[0], 2))
        stopped = []
        for process in processes:
            if process.pid is not None:
                stopped.append(process.name)
            process.stop()
        if purge and self.home.root.exists():
            shutil.rmtree(self.home.root)
        return stopped


def _enroll_tls_client(client: FabricCaClient, user: str, secret: str, folder: Path) -> None:
    """A user's TLS client certificate from the member's TLS CA (``client.crt``,
    ``client.key``, ``ca.crt``), as Fabric's test-network gives each user one."""
    save_enrollment(client.enroll(user, secret, profile="tls"), folder, tls=True, tls_name="client")


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """A private key in PKCS#8 PEM, readable by its owner only from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
