"""``consortium up``: a whole multi-member network from one spec, the AMB way.

The steps, in order (each a method below, named for what it does):

1. ``start_control_plane`` — the AMB-compatible API, its state in a ledgerdb journal.
2. ``create_network_and_members`` — the first member creates the network; every other
   member is invited by proposal, voted in by the members before it, and creates its
   member from the invitation (as on AMB).
3. ``start_member_cas`` — each member's CA; its admin, peers and users enroll over the
   Fabric CA REST API; MSP folders and TLS certificates are written.
4. ``prepare_ordering_org`` — the ordering service's organization (AMB runs it for you).
5. ``start_orderers`` — each channel's genesis block from the spec; orderers join them.
6. ``start_peers`` — peers start and join their channels (``cscc JoinChain``).
7. ``deploy_chaincodes`` — contracts start as chaincode-as-a-service; the lifecycle
   installs, approves per org and commits each definition.
8. ``write_connection_files`` — one per member, for any Fabric gateway client.

Everything lives under ``.consortium/<network>/``; every node is its own process with its
log in ``logs/`` and pid in ``pids/``. ``down`` stops them; ``down --purge`` also deletes
the folder. ``up`` on an existing folder starts the nodes again with their data.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import socket
import ssl
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.orderer import ab_pb2, ab_pb2_grpc

from ca import certificates
from ca.channelconfig import ChannelConfig
from ca.client import FabricCaClient, save_enrollment, split_chain
from ca.issuing import Issuer, ca_name, self_signed_ca
from ca.keystore import SoftwareCaKey
from ca.msp import MspConfig, NodeOUs, load_signing_identity, write_msp
from ca.signing import SoftwareSigner
from chaincode.packaging import Connection, build_package
from network.chaincode_deploy import Definition, OrgAdmins, approve, deploy, install
from network.controlplane.client import Client
from network.errors import SupervisorError
from network.gateway_client import GatewayClient, GatewayClientError
from network.processes import CONSORTIUM, NodeProcess
from network.spec import Events, Member, NetworkSpec, Node
from ordering.configtx import Organization, genesis_block, load_profile, organization_group
from ordering.configupdate import compute_update, config_update_transaction, sign_as_needed
from ordering.errors import ConfigError
from peers.channel import OrdererEndpoint
from proto.blocksign import last_config_index
from proto.seek import build_seek_envelope

ROOT = Path(__file__).resolve().parents[1]
NODE_INSTANCE_TYPE = "bc.t3.small"  # what a local peer "is", to the control plane
SAMPLES = ROOT / "chaincode" / "samples"
CONFIG_BLOCK_POLLS = 300  # 0.1 s apart: how long a config update may take to show


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _password() -> str:
    """An AMB-acceptable admin password: 8–32 characters with upper, lower and a digit."""
    return "Aa1" + secrets.token_hex(8)


@dataclass
class Home:
    """The network's folder and where each thing lives in it."""

    root: Path

    def __post_init__(self) -> None:
        self.root = self.root.resolve()  # child processes run elsewhere

    def state_file(self) -> Path:
        return self.root / "state.json"

    def load_state(self) -> dict[str, Any]:
        path = self.state_file()
        return json.loads(path.read_text()) if path.exists() else {}

    def save_state(self, state: dict[str, Any]) -> None:
        path = self.state_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        temporary.chmod(0o600)
        temporary.replace(path)

    def process(self, name: str, command: list[str], host: str, port: int) -> NodeProcess:
        return NodeProcess(
            name,
            tuple(command),
            host,
            port,
            self.root / "logs" / f"{name}.log",
            self.root / "pids" / f"{name}.pid",
            ROOT,
        )

    def member(self, member: str) -> Path:
        return self.root / "members" / member


@dataclass
class Supervisor:
    spec: NetworkSpec
    home: Home
    progress: Any = print
    state: dict[str, Any] = field(default_factory=dict)
    processes: dict[str, NodeProcess] = field(default_factory=dict)

    # -- who is in the network -------------------------------------------------------------

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
        return [m for m in (*self.spec.members, *joined) if m.name not in removed]

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

    def spec_channel(self, name: str):
        for channel in self.spec.channels:
            if channel.name == name:
                return channel
        known = ", ".join(c.name for c in self.spec.channels) or "none"
        raise SupervisorError(f"no channel named {name!r} in {self.spec.name} (channels: {known})")

    # -- 1. control plane --------------------------------------------------------------

    @property
    def control_plane_url(self) -> str:
        plane = self.spec.control_plane
        return f"http://{plane.host}:{plane.port}"

    def _client(self, account: str) -> Client:
        return Client(self.control_plane_url, access_key_id=account)

    def start_control_plane(self) -> None:
        plane = self.spec.control_plane
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
            ],
            plane.host,
            plane.port,
        )

    def _start(self, name: str, command: list[str], host: str, port: int) -> None:
        """Launch a node (unless it already runs); ``_ready`` waits for it. Nodes that do
        not depend on each other are launched together and waited for together, so their
        start-up times overlap."""
        process = self.home.process(name, command, host, port)
        self.processes[name] = process
        if process.pid is None:
            process.start()

    def _ready(self, prefix: str) -> None:
        for name, process in self.processes.items():
            if name.startswith(prefix):
                process.wait_ready()
                self.progress(f"  {name} listening on {process.host}:{process.port}")

    # -- 2. network and members, by proposal and vote ---------------------------------

    def create_network_and_members(self) -> None:
        if self.state.get("network_id"):
            return
        first, *others = self.spec.members
        policy = self.spec.voting_policy
        passwords = self.state["passwords"]
        created = self._client(first.account).call(
            "POST",
            "/networks",
            {
                "ClientRequestToken": str(uuid.uuid4()),
                "Name": self.spec.name,
                "Framework": "HYPERLEDGER_FABRIC",
                "FrameworkVersion": "2.2",
                "FrameworkConfiguration": {"Fabric": {"Edition": "STANDARD"}},
                "VotingPolicy": {
                    "ApprovalThresholdPolicy": {
                        "ThresholdPercentage": policy.threshold_percentage,
                        "ProposalDurationInHours": policy.proposal_duration_hours,
                        "ThresholdComparator": policy.threshold_comparator,
                    }
                },
                "MemberConfiguration": self._member_configuration(first, passwords),
            },
        )
        network_id = created["NetworkId"]
        member_ids = {first.name: created["MemberId"]}
        self.progress(f"  network {self.spec.name} ({network_id}) created by {first.name}")
        for member in others:
            member_ids[member.name] = self._vote_in(network_id, member, member_ids, passwords)
        self.state.update(network_id=network_id, member_ids=member_ids)
        self.home.save_state(self.state)

    def _member_configuration(self, member: Member, passwords: dict[str, str]) -> dict:
        return {
            "Name": member.name,
            "FrameworkConfiguration": {
                "Fabric": {"AdminUsername": "admin", "AdminPassword": passwords[member.name]}
            },
        }

    def _vote_in(
        self, network_id: str, member: Member, member_ids: dict[str, str], passwords: dict
    ) -> str:
        proposer = self.member(next(iter(member_ids)))
        proposal = self._client(proposer.account).call(
            "POST",
            f"/networks/{network_id}/proposals",
            {
                "ClientRequestToken": str(uuid.uuid4()),
                "MemberId": member_ids[proposer.name],
                "Actions": {"Invitations": [{"Principal": member.account}]},
                "Description": f"invite {member.name}",
            },
        )["ProposalId"]
        base = f"/networks/{network_id}/proposals/{proposal}"
        for voter, voter_id in member_ids.items():
            status = self._client(self.member(voter).account).call("GET", base)["Proposal"][
                "Status"
            ]
            if status != "IN_PROGRESS":
                break
            self._client(self.member(voter).account).call(
                "POST", f"{base}/votes", {"VoterMemberId": voter_id, "Vote": "YES"}
            )
        invitations = self._client(member.account).call("GET", "/invitations")["Invitations"]
        invitation = next(
            i["InvitationId"]
            for i in invitations
            if i["NetworkSummary"]["Id"] == network_id and i["Status"] == "PENDING"
        )
        created = self._client(member.account).call(
            "POST",
            f"/networks/{network_id}/members",
            {
                "ClientRequestToken": str(uuid.uuid4()),
                "InvitationId": invitation,
                "MemberConfiguration": self._member_configuration(member, passwords),
            },
        )
        self.progress(f"  {member.name} invited by proposal, voted in, member created")
        return created["MemberId"]

    # -- 3. member CAs and enrollment -------------------------------------------------

    def _ca_ssl(self, member: Member) -> ssl.SSLContext:
        return ssl.create_default_context(
            cafile=str(self.home.member(member.name) / "ca" / "tlsca-cert.pem")
        )

    def start_member_cas(self) -> None:
        for member in self.members:
            home = self.home.member(member.name) / "ca"
            password = self.state["passwords"][member.name]
            self._start(
                f"ca-{member.name}",
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
                ],
                member.ca.host,
                member.ca.port,
            )

    def enroll_members(self) -> None:
        self._ready("ca-")
        for member in self.members:
            if not (self.home.member(member.name) / "msp").exists():
                self._enroll_member(member, self.state["passwords"][member.name])

    def _enroll_member(self, member: Member, password: str) -> None:
        folder = self.home.member(member.name)
        url = f"https://{member.ca.host}:{member.ca.port}"
        client = FabricCaClient(url, member.mspid, self._ca_ssl(member))
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
        for peer in member.peers:
            secret = client.register(registrar, f"{peer.name}.{member.name}", type="peer")
            enrolled = client.enroll(f"{peer.name}.{member.name}", secret)
            save_enrollment(enrolled, folder / "peers" / peer.name / "msp", tls=False)
            tls = client.enroll(
                f"{peer.name}.{member.name}", secret, profile="tls", hosts=[peer.host, "localhost"]
            )
            save_enrollment(tls, folder / "peers" / peer.name / "tls", tls=True)
        self.progress(f"  {member.name}: admin, user1 and {len(member.peers)} peer(s) enrolled")

    def _admin(self, member: Member) -> SoftwareSigner:
        return load_signing_identity(
            self.home.member(member.name) / "users" / "orgadmin" / "msp", member.mspid
        )

    def _user(self, member: Member) -> SoftwareSigner:
        return load_signing_identity(
            self.home.member(member.name) / "users" / "user1" / "msp", member.mspid
        )

    # -- 4. the ordering organization -----------------------------------------------

    def prepare_ordering_org(self) -> None:
        folder = self.home.root / "ordering"
        if (folder / "msp").exists():
            return
        root_key = SoftwareCaKey(ec.generate_private_key(ec.SECP256R1()))
        issuer = Issuer(
            self_signed_ca(root_key, ca_name(f"ca.{self.spec.ordering_mspid}", "ordering"), 3650),
            root_key,
        )
        root_pem = certificates.to_pem(issuer.certificate)
        write_msp(
            folder / "msp",
            MspConfig(self.spec.ordering_mspid, (root_pem,), tls_root_certs=(root_pem,)),
        )
        for orderer in self.spec.orderers:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = issuer.issue(key.public_key(), orderer.name, ous=("orderer",))
            signer = SoftwareSigner(self.spec.ordering_mspid, certificates.to_pem(cert), key)
            write_msp(
                folder / orderer.name / "msp",
                MspConfig(self.spec.ordering_mspid, (root_pem,)),
                signer,
            )
            tls_key = ec.generate_private_key(ec.SECP256R1())
            tls_cert = issuer.issue(
                tls_key.public_key(), orderer.name, hosts=(orderer.host, "localhost"), tls=True
            )
            tls = folder / orderer.name / "tls"
            tls.mkdir(parents=True, exist_ok=True)
            (tls / "server.crt").write_bytes(certificates.to_pem(tls_cert))
            (tls / "server.key").write_bytes(
                tls_key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
            (tls / "server.key").chmod(0o600)
            (tls / "ca.crt").write_bytes(root_pem)
        self.progress(f"  ordering organization {self.spec.ordering_mspid} ready")

    # -- 5. channels and orderers ---------------------------------------------------------

    def _profile(self, channel) -> Path:
        folder = self.home.root / "channels" / channel.name
        folder.mkdir(parents=True, exist_ok=True)
        batch = channel.batch
        orgs = "".join(
            f"    - Name: {m}\n      ID: {self.member(m).mspid}\n"
            f"      MSPDir: {self.home.member(m) / 'msp'}\n"
            for m in channel.members
        )
        endpoints = ", ".join(f'"{o.host}:{o.port}"' for o in self.spec.orderers)
        text = (
            "Orderer:\n"
            f"  BatchTimeout: {batch.get('timeout', '2s')}\n"
            "  BatchSize:\n"
            f"    MaxMessageCount: {batch.get('max_message_count', 500)}\n"
            f"    AbsoluteMaxBytes: {batch.get('absolute_max_bytes', '10 MB')}\n"
            f"    PreferredMaxBytes: {batch.get('preferred_max_bytes', '2 MB')}\n"
            "  Organizations:\n"
            f"    - Name: ordering\n      ID: {self.spec.ordering_mspid}\n"
            f"      MSPDir: {self.home.root / 'ordering' / 'msp'}\n"
            f"      OrdererEndpoints: [{endpoints}]\n"
            f"Application:\n  Organizations:\n{orgs}"
        )
        path = folder / "configtx.yaml"
        path.write_text(text)
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
            config.write_text(
                f"listen: {orderer.host}:{orderer.port}\n"
                f"admin_listen: {orderer.host}:{orderer.admin_port}\n"
                f"mspid: {self.spec.ordering_mspid}\nmsp_dir: msp\ndata_dir: data\n"
                "tls:\n  cert: tls/server.crt\n  key: tls/server.key\n"
            )
            self._start(
                f"orderer-{orderer.name}",
                [*CONSORTIUM, "node", "run", "orderer", "--config", str(config)],
                orderer.host,
                orderer.port,
            )

    def _join_orderer(self, orderer) -> None:
        import urllib.request

        context = ssl.create_default_context(
            cafile=str(self.home.root / "ordering" / orderer.name / "tls" / "ca.crt")
        )
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

    # -- 6. peers ---------------------------------------------------------------------

    def _peer_tls_root(self, member: str, peer: str) -> Path:
        return self.home.member(member) / "peers" / peer / "tls" / "ca.crt"

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
                    for p in other.peers[:1]
                )
                orderers = "".join(
                    f"  - address: {o.host}:{o.port}\n    tls_root: {orderer_tls}\n"
                    for o in self.spec.orderers
                )
                config = folder / "peer.yaml"
                config.write_text(
                    f"listen: {peer.host}:{peer.port}\nmspid: {member.mspid}\nmsp_dir: msp\n"
                    "data_dir: data\ntls:\n  cert: tls/server.crt\n  key: tls/server.key\n"
                    f"orderers:\n{orderers}" + (f"peers:\n{others}" if others else "")
                )
                self._start(
                    f"peer-{member.name}-{peer.name}",
                    [*CONSORTIUM, "node", "run", "peer", "--config", str(config)],
                    peer.host,
                    peer.port,
                )

    def gateway(self, member: Member, signer: SoftwareSigner | None = None) -> GatewayClient:
        peer = member.peers[0]
        tls = self._peer_tls_root(member.name, peer.name).read_bytes()
        return GatewayClient(f"{peer.host}:{peer.port}", signer or self._user(member), tls)

    async def _join_peers(self) -> None:
        for channel in self.spec.channels:
            block = (self.home.root / "channels" / channel.name / "genesis.block").read_bytes()
            for name in self.channel_members(channel):
                member = self.member(name)
                for peer in member.peers:
                    tls = (
                        self.home.member(name) / "peers" / peer.name / "tls" / "ca.crt"
                    ).read_bytes()
                    async with GatewayClient(
                        f"{peer.host}:{peer.port}", self._admin(member), tls
                    ) as admin:
                        joined = await admin.propose("", "cscc", "GetChannels")
                        if channel.name.encode() in joined.response.payload:
                            continue
                        await admin.propose("", "cscc", "JoinChain", block)
                    self.progress(f"  {name}/{peer.name} joined channel {channel.name}")

    # -- 7. chaincodes ----------------------------------------------------------------

    def _contract_directory(self, chaincode) -> Path:
        if chaincode.sample:
            return SAMPLES / chaincode.sample
        return self.spec.file.parent / chaincode.path

    def launch_contracts(self) -> None:
        for chaincode in self.spec.chaincodes:
            self._start(
                f"chaincode-{chaincode.name}",
                [
                    sys.executable,
                    "-m",
                    "chaincode.runner",
                    str(self._contract_directory(chaincode)),
                    "--id",
                    f"{chaincode.name}_{chaincode.version}",
                    "--address",
                    f"127.0.0.1:{chaincode.port}",
                ],
                "127.0.0.1",
                chaincode.port,
            )

    def deploy_chaincodes(self) -> None:
        self._ready("chaincode-")
        deployed = self.state.setdefault("deployed", [])
        for chaincode in self.spec.chaincodes:
            if chaincode.name in deployed:
                continue
            label = f"{chaincode.name}_{chaincode.version}"
            connection = Connection(f"127.0.0.1:{chaincode.port}")
            package = build_package(self._contract_directory(chaincode), label, connection)
            asyncio.run(self._lifecycle(chaincode, package))
            deployed.append(chaincode.name)
            self.home.save_state(self.state)
            self.progress(
                f"  chaincode {chaincode.name} {chaincode.version} committed on {chaincode.channel}"
            )

    async def _lifecycle(self, chaincode, package: bytes) -> None:
        channel = next(c for c in self.spec.channels if c.name == chaincode.channel)
        members = [self.member(m) for m in channel.members]
        clients = {
            member.name: [
                GatewayClient(
                    f"{peer.host}:{peer.port}",
                    self._admin(member),
                    self._peer_tls_root(member.name, peer.name).read_bytes(),
                )
                for peer in member.peers
            ]
            for member in members
        }
        try:
            await deploy(
                channel.name,
                Definition(chaincode.name, chaincode.version, 1, chaincode.endorsement_policy),
                package,
                [OrgAdmins(m.mspid, clients[m.name]) for m in members],
                lambda tx_ids: self._wait_everywhere(channel.name, members, tx_ids),
            )
        finally:
            for peer_clients in clients.values():
                for client in peer_clients:
                    await client.close()

    async def _wait_everywhere(
        self, channel: str, members: list[Member], tx_ids: list[str]
    ) -> None:
        for member in members:
            async with self.gateway(member) as client:
                for tx_id in tx_ids:
                    await asyncio.wait_for(client.commit_status(channel, tx_id), timeout=60)

    # -- 8. connection files ------------------------------------------------------------

    def write_connection_files(self) -> None:
        folder = self.home.root / "connection"
        folder.mkdir(parents=True, exist_ok=True)
        for member in self.members:
            peer = member.peers[0]
            base = self.home.member(member.name)
            identities = {}
            for user in ("user1", "orgadmin"):
                msp = base / "users" / user / "msp"
                identities[user] = {
                    "cert": str(next((msp / "signcerts").iterdir()).resolve()),
                    "key": str(next((msp / "keystore").iterdir()).resolve()),
                }
            channel = next(
                (c.name for c in self.spec.channels if member.name in self.channel_members(c)),
                "",
            )
            connection = {
                "network": self.spec.name,
                "channel": channel,
                "mspId": member.mspid,
                "gateway": {
                    "endpoint": f"{peer.host}:{peer.port}",
                    "tlsRootCert": str((base / "peers" / peer.name / "tls" / "ca.crt").resolve()),
                    "hostnameOverride": peer.host,
                },
                "identities": identities,
            }
            (folder / f"{member.name}.json").write_text(json.dumps(connection, indent=2))

    # -- 9. the events bridge (issue 12), when the spec has `events` ------------------------

    def launch_events(self) -> None:
        """A local Mosquitto (``broker: local``) and the MQTT bridge, supervised like the
        nodes. Launched once members are enrolled, so the bridge boots while orderers and
        peers start (it retries them until they serve); ``events_ready`` waits for it.
        Its checkpoint lives in ``events/``, so a restart resumes where it was."""
        events = self.spec.events
        if events is None:
            return
        folder = self.home.root / "events"
        folder.mkdir(parents=True, exist_ok=True)
        if events.local:
            self._start_mosquitto(events, folder)
        self.write_connection_files()  # the bridge reads its identities from them
        self._start_bridge(events, folder)

    def events_ready(self) -> None:
        events = self.spec.events
        if events is None:
            return
        self._ready("mosquitto")
        self._wait_logged(self.processes["mqtt-bridge"], "mqtt bridge publishing")
        self.progress(f"  mqtt-bridge publishing to {events.broker_host}:{events.broker_port}")

    def _start_mosquitto(self, events: Events, folder: Path) -> None:
        from network.mqtt.broker import mosquitto_binary, mosquitto_config

        binary = mosquitto_binary()
        if binary is None:
            raise SupervisorError(
                "events: broker local needs mosquitto (deploy/install-deps.sh installs it)"
            )
        config = folder / "mosquitto.conf"
        host, port = events.broker_host, events.broker_port
        config.write_text(mosquitto_config(host, port, folder / "mosquitto"))
        self._start("mosquitto", [binary, "-c", str(config)], host, port)

    def _start_bridge(self, events: Events, folder: Path) -> None:
        connections = self.home.root / "connection"
        member = self.member(events.member)
        config: dict[str, Any] = {
            "network": self.spec.name,
            "broker": f"{events.broker_host}:{events.broker_port}",
            "channels": [
                c.name for c in self.spec.channels if member.name in self.channel_members(c)
            ],
            "deliver": {"connection": str(connections / f"{member.name}.json")},
            "checkpoint": str(folder / "checkpoint.json"),
            "governance": {
                "control_plane": self.control_plane_url,
                "network_id": self.state.get("network_id", ""),
            },
        }
        if events.ingress_member:
            config["ingress"] = {
                "connection": str(connections / f"{events.ingress_member}.json"),
                "identity": events.ingress_identity,
            }
        path = folder / "bridge.yaml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        command = [*CONSORTIUM, "node", "run", "mqtt-bridge", "--config", str(path)]
        # host:port is where it publishes (it listens nowhere), shown by `up` and `status`
        self._start("mqtt-bridge", command, events.broker_host, events.broker_port)

    @staticmethod
    def _wait_logged(process: NodeProcess, text: str, timeout: float = 30.0) -> None:
        """Until ``text`` is in the process's log (for processes that listen nowhere)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in process.tail(200):
                return
            if process.pid is None:
                raise SupervisorError(f"{process.name} exited while starting:\n{process.tail()}")
            time.sleep(0.1)
        raise SupervisorError(f"{process.name} did not start in {timeout:g}s:\n{process.tail()}")

    # -- reconcile: members voted in after `up` -------------------------------------------

    def _desired(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"{self.control_plane_url}/internal/desired", timeout=10) as r:
            return json.loads(r.read())

    def _record_new_members(self) -> list[str]:
        """Members the control plane has that this network does not run yet."""
        known = {m.name for m in self.members}
        added = []
        for row in self._desired()["Members"]:
            if row["Status"] != "AVAILABLE" or row["Name"] in known:
                continue
            name = row["Name"]
            self.state.setdefault("joined", []).append(
                {
                    "name": name,
                    "account": row["Owner"],
                    "mspid": f"{name[:1].upper()}{name[1:]}MSP",
                    "ca_port": _free_port(),
                    "peer_port": _free_port(),
                }
            )
            self.state["passwords"][name] = row["AdminPassword"]
            added.append(name)
        self.home.save_state(self.state)
        return added

    # -- node records: the peers as the control plane's nodes (AMB's ListNodes) -----------

    def register_nodes(self) -> None:
        """Each member's peers as nodes of that member in the control plane (created once
        by the member's own account, as on AMB), then their status and endpoint reported,
        so `aws managedblockchain list-nodes` shows what runs and where."""
        network_id = self.state.get("network_id")
        if not network_id:
            return
        node_ids = self.state.setdefault("node_ids", {})
        removed = set(self.state.get("removed", []))
        unregistered = [
            (member, f"peer-{member.name}-{peer.name}")
            for member in self.members
            if member.name not in removed
            for peer in member.peers
            if f"peer-{member.name}-{peer.name}" not in node_ids
        ]
        if unregistered:  # asked only then: reconcile runs this every pass
            member_ids = {row["Name"]: row["Id"] for row in self._live_members(network_id)}
        for member, name in unregistered:
            if member.name not in member_ids:
                continue  # voted out: the control plane deleted its nodes
            created = self._client(member.account).call(
                "POST",
                f"/networks/{network_id}/nodes",
                {
                    "ClientRequestToken": str(uuid.uuid4()),
                    "MemberId": member_ids[member.name],
                    "NodeConfiguration": {"InstanceType": NODE_INSTANCE_TYPE},
                },
            )
            node_ids[name] = created["NodeId"]
            self.home.save_state(self.state)
        self.report_nodes()

    def _live_members(self, network_id: str) -> list[dict[str, Any]]:
        return [
            row
            for row in self._desired()["Members"]
            if row["NetworkId"] == network_id and row["Status"] not in ("DELETING", "DELETED")
        ]

    def report_nodes(self) -> None:
        """Tell the control plane which peers run (AVAILABLE, with their endpoint) and which
        died (FAILED); only changes are sent. Reconcile reports a dead peer FAILED before
        it restarts it, and AVAILABLE once it listens again."""
        reported = self.state.setdefault("node_status", {})
        removed = {f"peer-{member}-" for member in self.state.get("removed", [])}
        for name, node_id in self.state.get("node_ids", {}).items():
            if any(name.startswith(prefix) for prefix in removed):
                continue  # voted out: its nodes are the control plane's to delete
            process = self.processes.get(name) or self.home.process(name, [], "", 0)
            status = "AVAILABLE" if process.pid is not None else "FAILED"
            if reported.get(name) == status:
                continue
            body = {"Resource": "nodes", "Id": node_id, "Status": status}
            if process.address():
                body["Endpoint"] = process.address()
            try:
                self._post_internal("/internal/report", body)
            except OSError as exc:
                self.progress(f"  could not report {name} {status}: {exc}")
                continue
            reported[name] = status
            self.home.save_state(self.state)
            if status == "FAILED":
                self.progress(f"  {name} died: reported FAILED")

    def _post_internal(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.control_plane_url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as failure:  # a refusal names its reason: say it
            raise SupervisorError(
                f"control plane refused {path}: {failure.read().decode(errors='replace')}"
            ) from None

    def reconcile(self) -> list[str]:
        try:
            return self._reconcile()
        except SupervisorError:
            raise
        except Exception as exc:
            raise SupervisorError(f"reconcile: {type(exc).__name__}: {exc}") from exc

    def _reconcile(self) -> list[str]:
        """Make the network run what the control plane says: start a newly voted-in
        member's CA and peer and write its connection file. Joining the network gives
        access to no channel (as on AMB and in Fabric): a channel's admins add an
        organization with ``channel add-member``. Every step is idempotent, so a
        reconcile that failed half-way is finished by the next."""
        self.state = self.home.load_state()
        self._start_existing()
        self.report_nodes()  # a peer that died is FAILED until it runs again
        self._remove_deleted_members()
        self._record_new_members()
        removed = set(self.state.get("removed", []))
        joined = [m["name"] for m in self.state.get("joined", []) if m["name"] not in removed]
        self.start_member_cas()  # (re)starts any CA, orderer, peer or contract that died
        self.enroll_members()
        self.start_orderers()
        self.start_peers()
        self.launch_contracts()
        self._ready("orderer-")
        self._ready("chaincode-")
        self._ready("peer-")
        asyncio.run(self._join_peers())
        self._approve_chaincodes(joined)
        self.write_connection_files()
        self.launch_events()  # restarts the bridge (or broker) if it died
        self.events_ready()
        self.register_nodes()
        return joined

    def _approve_chaincodes(self, joined: list[str]) -> None:
        """Members that joined after ``up`` approve the definitions of the chaincodes on
        the channels they are in (once each: the approval is in the channel's state)."""
        for chaincode in self.spec.chaincodes:
            channel = self.spec_channel(chaincode.channel)
            approved = self.state.setdefault("approved", {}).setdefault(chaincode.name, [])
            in_channel = self.channel_members(channel)
            missing = [n for n in joined if n in in_channel and n not in approved]
            if missing:
                asyncio.run(self._approve_for(chaincode, missing))
                approved.extend(missing)
                self.home.save_state(self.state)

    # -- channel membership: a channel's admins add or remove an organization -----------

    def add_channel_member(self, channel_name: str, member_name: str) -> None:
        """Add ``member_name``'s organization to a channel by a config update signed by
        as many of the channel's admins as its Admins policy needs, join its peers and
        let it approve the channel's chaincodes. Running it again finishes a half-done
        one."""
        self.state = self.home.load_state()
        self._start_existing()
        channel = self.spec_channel(channel_name)
        self._known_member(member_name)
        left = self.state.get("left_channels", {}).get(channel.name, [])
        if member_name in left:
            left.remove(member_name)
        asyncio.run(self._add_organizations(channel, [member_name]))
        asyncio.run(self._join_peers())
        joined_later = {m["name"] for m in self.state.get("joined", [])}
        self._approve_chaincodes([member_name] if member_name in joined_later else [])
        self.write_connection_files()

    def remove_channel_member(self, channel_name: str, member_name: str) -> None:
        """Remove ``member_name``'s organization from a channel by a config update (the
        reverse of ``add_channel_member``); its peers stop receiving the channel's blocks."""
        self.state = self.home.load_state()
        channel = self.spec_channel(channel_name)
        member = self._known_member(member_name)
        members = self.channel_members(channel)
        if member_name not in members:
            raise SupervisorError(f"member {member_name!r} is not in channel {channel.name}")
        if members == [member_name]:
            raise SupervisorError(
                f"member {member_name!r} is the last member of channel {channel.name}"
            )
        asyncio.run(self._remove_organization(channel, member))
        left = self.state.setdefault("left_channels", {}).setdefault(channel.name, [])
        if member_name not in left:
            left.append(member_name)
        joined = self.state.get("joined_channels", {}).get(channel.name, [])
        if member_name in joined:
            joined.remove(member_name)
        self.home.save_state(self.state)
        self.write_connection_files()
        self.progress(f"  {member_name} removed from channel {channel.name} by config update")

    def _known_member(self, name: str) -> Member:
        for member in self.members:
            if member.name == name:
                return member
        known = ", ".join(m.name for m in self.members)
        raise SupervisorError(f"no member named {name!r} runs in {self.spec.name} ({known})")

    def _remove_deleted_members(self) -> None:
        """A member the consortium voted out: its organization leaves every channel by a
        config update, its nodes stop, its connection file goes. Its data stays."""
        deleted = {
            row["Name"]
            for row in self._desired()["Members"]
            if row["Status"] in ("DELETING", "DELETED")
        }
        for member in [m for m in self.members if m.name in deleted]:
            for channel in self.spec.channels:
                if member.name in self.channel_members(channel):
                    asyncio.run(self._remove_organization(channel, member))
            for process in self.all_processes():
                if process.name == f"ca-{member.name}" or process.name.startswith(
                    f"peer-{member.name}-"
                ):
                    process.stop()
                    self.processes.pop(process.name, None)
            (self.home.root / "connection" / f"{member.name}.json").unlink(missing_ok=True)
            self.state.setdefault("removed", []).append(member.name)
            self.home.save_state(self.state)
            self.progress(f"  {member.name} removed: left the channels, nodes stopped")

    async def _remove_organization(self, channel, leaving: Member) -> None:
        config = await self._channel_config(channel.name)
        if leaving.mspid not in config.organizations("Application"):
            return  # an earlier reconcile got this far
        updated = configtx_pb2.Config()
        updated.CopyFrom(config.config)
        del updated.channel_group.groups["Application"].groups[leaving.mspid]
        staying = [self.member(n) for n in self.channel_members(channel) if n != leaving.name]
        # The Admins policy counts the orgs in the channel now, the leaving one included;
        # when the others alone are not enough (two orgs), the vote already decided, and
        # the leaving org's admin signs too.
        signers = [self._admin(m) for m in (*staying, leaving)]
        await self._update_channel(
            channel.name,
            config,
            updated,
            signers,
            f"removing {leaving.name} from {channel.name}",
            lambda now: leaving.mspid not in now.msps.mspids,
        )

    async def _update_channel(
        self,
        channel_id: str,
        config: ChannelConfig,
        updated: configtx_pb2.Config,
        signers: list[SoftwareSigner],
        what: str,
        done: Callable[[ChannelConfig], bool],
    ) -> None:
        """Move the channel from ``config`` to ``updated`` by a config update signed by
        as few of ``signers`` as its policies need, and wait until its config block is
        cut (``done`` says when the channel's config shows the change)."""
        update = compute_update(channel_id, config.config, updated)
        try:
            signed = sign_as_needed(config, update, signers)
        except ConfigError as exc:
            raise SupervisorError(f"{what}: the admins' signatures are not enough: {exc}") from None
        envelope = config_update_transaction(signers[0], channel_id, signed)
        answer = await self._broadcast(envelope)
        if answer.status != common_pb2.SUCCESS:
            raise SupervisorError(
                f"{what}: orderer answered {common_pb2.Status.Name(answer.status)}: {answer.info}"
            )
        for _ in range(CONFIG_BLOCK_POLLS):
            if done(await self._channel_config(channel_id)):
                return
            await asyncio.sleep(0.1)
        raise SupervisorError(
            f"{what}: the orderer accepted the config update, but no config block showing it "
            f"was delivered within {CONFIG_BLOCK_POLLS / 10:.0f}s"
        )

    def _start_existing(self) -> None:
        for process in self.all_processes():
            self.processes[process.name] = process

    async def _add_organizations(self, channel, added: list[str]) -> None:
        config = await self._channel_config(channel.name)
        present = set(config.organizations("Application"))
        current_members = [
            n for n in self.channel_members(channel) if self.member(n).mspid in present
        ]
        joined = self.state.setdefault("joined_channels", {}).setdefault(channel.name, [])
        joined.extend(n for n in added if self.member(n).mspid in present and n not in joined)
        added = [n for n in added if self.member(n).mspid not in present]
        if not added:  # an earlier reconcile got this far
            self.home.save_state(self.state)
            return
        updated = configtx_pb2.Config()
        updated.CopyFrom(config.config)
        application = updated.channel_group.groups["Application"]
        for name in added:
            member = self.member(name)
            organization = Organization(name, member.mspid, self.home.member(name) / "msp")
            application.groups[member.mspid].CopyFrom(organization_group(organization, False))
        wanted = {self.member(n).mspid for n in added}
        await self._update_channel(
            channel.name,
            config,
            updated,
            [self._admin(self.member(m)) for m in current_members],
            f"adding {', '.join(added)} to {channel.name}",
            lambda now: wanted <= set(now.msps.mspids),
        )
        joined.extend(n for n in added if n not in joined)
        self.home.save_state(self.state)
        self.progress(f"  {', '.join(added)} added to channel {channel.name} by config update")

    def _orderer_channel(self):
        orderer = self.spec.orderers[0]
        tls = (self.home.root / "ordering" / orderer.name / "tls" / "ca.crt").read_bytes()
        return OrdererEndpoint(f"{orderer.host}:{orderer.port}", tls).channel()

    async def _broadcast(self, envelope: common_pb2.Envelope) -> ab_pb2.BroadcastResponse:
        async with self._orderer_channel() as channel:
            call = ab_pb2_grpc.AtomicBroadcastStub(channel).Broadcast(iter([envelope]))
            return await call.read()

    async def _channel_config(self, channel_id: str) -> ChannelConfig:
        reader = self._admin(self.members[0])
        async with self._orderer_channel() as channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)

            async def block(position: int | str) -> common_pb2.Block:
                seek = build_seek_envelope(reader, channel_id, position, position, True)
                async for response in stub.Deliver(iter([seek])):
                    if response.WhichOneof("Type") == "block":
                        return response.block
                raise SupervisorError(f"channel {channel_id}: block {position} not delivered")

            newest = await block("newest")
            number = last_config_index(newest) if newest.header.number else 0
            return ChannelConfig.from_block(await block(number))

    async def _approve_for(self, chaincode, added: list[str]) -> None:
        label = f"{chaincode.name}_{chaincode.version}"
        connection = Connection(f"127.0.0.1:{chaincode.port}")
        package = build_package(self._contract_directory(chaincode), label, connection)
        definition = Definition(chaincode.name, chaincode.version, 1, chaincode.endorsement_policy)
        for name in added:
            member = self.member(name)
            async with self.gateway(member, self._admin(member)) as admin:
                package_id = await install(admin, package)
                # The new peer replays the channel up to the config block that admitted
                # its organization; until then it does not know its own org's admin.
                for attempt in range(60):
                    try:
                        await approve(
                            admin, chaincode.channel, definition, package_id, member.mspid
                        )
                        break
                    except GatewayClientError:
                        if attempt == 59:
                            raise
                        await asyncio.sleep(0.25)
            self.progress(f"  {name} can run chaincode {chaincode.name}")

    # -- the whole thing ----------------------------------------------------------------

    def launch_first(self) -> None:
        """What depends on nothing starts at once, so start-up times overlap."""
        if "passwords" not in self.state:
            self.state["passwords"] = {m.name: _password() for m in self.spec.members}
            self.home.save_state(self.state)
        self.start_control_plane()
        self.start_member_cas()
        self.launch_contracts()
        self._ready("control-plane")

    def start_orderers_and_peers(self) -> None:
        self.start_orderers()
        self.start_peers()

    def join_channels(self) -> None:
        self._ready("orderer-")
        for orderer in self.spec.orderers:
            self._join_orderer(orderer)
        self._ready("peer-")
        asyncio.run(self._join_peers())

    def up(self) -> list[tuple[str, str, int]]:
        started = time.monotonic()
        self.state = self.home.load_state()
        steps = [
            ("launching the control plane, member CAs and contracts", self.launch_first),
            ("network and members (proposals and votes)", self.create_network_and_members),
            ("member enrollment", self.enroll_members),
            ("events broker and bridge (launch)", self.launch_events),
            ("ordering organization", self.prepare_ordering_org),
            ("orderers and peers", self.start_orderers_and_peers),
            ("channels", self.join_channels),
            ("chaincodes", self.deploy_chaincodes),
            ("connection files", self.write_connection_files),
            ("events bridge", self.events_ready),
            ("node records in the control plane", self.register_nodes),
        ]
        try:
            for title, step in steps:
                self.progress(f"{title} …")
                try:
                    step()
                except SupervisorError:
                    raise
                except Exception as exc:  # a CA, control-plane or gateway call failed
                    raise SupervisorError(f"{title}: {type(exc).__name__}: {exc}") from exc
        except SupervisorError:
            self.down()
            raise
        self.progress(f"network {self.spec.name} is up in {time.monotonic() - started:.1f}s")
        return [(name, p.host, p.port) for name, p in self.processes.items()]

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

    def down(self, purge: bool = False) -> list[str]:
        """Stop every node (peers and chaincodes first, the control plane last)."""
        order = {"mqtt": 0, "peer": 0, "chaincode": 1, "orderer": 2, "ca": 3, "control": 4}
        processes = sorted(self.all_processes(), key=lambda p: order.get(p.name.split("-")[0], 2))
        stopped = []
        for process in processes:
            if process.pid is not None:
                stopped.append(process.name)
            process.stop()
        if purge and self.home.root.exists():
            shutil.rmtree(self.home.root)
        return stopped
