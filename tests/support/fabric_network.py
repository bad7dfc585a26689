"""A whole network of real processes for tests: one orderer, a peer per organization, a
chaincode-as-a-service contract, TLS everywhere — mutual, as ``consortium up`` runs it:
every peer and the orderer want a client certificate from a member's TLS CA, and every
client here presents its organization's — and the admin steps that make it usable (join,
install, approve, commit), done through the same gateway and proposals a user's tools
would use."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cryptography.hazmat.primitives import serialization
from fabric_protos.peer import collection_pb2

from ca import certificates
from ca.signing import SoftwareSigner
from chaincode.packaging import Connection, build_package, package_id
from network.chaincode_deploy import Definition, OrgAdmins, approve, commit, deploy
from network.gateway_client import GatewayClient
from peers.worldstate import WorldState
from proto.credentials import TlsIdentity, channel_credentials
from proto.ports import free_port
from tests.support.orderer import CHANNEL, OrdererFixture
from tests.support.pki import write_local_msp, write_tls
from tests.support.processes import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "chaincode" / "samples"
ORGS = ("Org1MSP", "Org2MSP")


def write_identity_files(signer: SoftwareSigner, directory: Path) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cert.pem").write_bytes(signer.certificate_pem)
    (directory / "key.pem").write_bytes(
        signer.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {
        "mspId": signer.mspid,
        "cert": str(directory / "cert.pem"),
        "key": str(directory / "key.pem"),
    }


@dataclass
class PeerProcess:
    mspid: str
    directory: Path
    config: Path
    tls: dict[str, Path]
    process: NodeProcess | None = None
    port: int = 0
    operations: str = ""  # HOST:PORT of /healthz and /metrics, when the network has them

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class FabricNetwork:
    root: Path
    sample: str = "asset_transfer"
    chaincode: str = "basic"
    policy: str = "AND('Org1MSP.peer', 'Org2MSP.peer')"
    batch: dict[str, str] | None = None
    contract_dir: Path | None = None  # default: chaincode/samples/<sample>
    node_contract: bool = False  # a Node fabric-shim contract instead of a Python one
    collections: collection_pb2.CollectionConfigPackage | None = None  # private data
    peer_settings: str = ""  # more peer.yaml lines, e.g. "private_data: {reconcile_interval: 1}"
    operations: bool = False  # each peer serves /healthz and /metrics on a port of its own
    mutual: bool = True  # nodes want a client certificate of a member's TLS CA (up's default)
    orderer: OrdererFixture = field(init=False)
    peers: dict[str, PeerProcess] = field(init=False, default_factory=dict)
    contract: subprocess.Popen | None = field(init=False, default=None)
    contract_address: str = field(init=False, default="")

    def __post_init__(self) -> None:
        batch = {} if self.batch is None else {"batch": self.batch}
        self.orderer = OrdererFixture(self.root / "orderer", mutual=self.mutual, **batch)
        self.orgs = self.orderer.orgs
        self.admins = {m: self.orgs[m].identity(f"admin.{m}", "admin") for m in ORGS}
        self.users = {m: self.orgs[m].identity(f"user.{m}", "client") for m in ORGS}

    # -- processes ----------------------------------------------------------------------

    async def start(self) -> None:
        self.orderer.start()
        status, body = await self.orderer.join()
        assert status == 201, body
        self._start_contract()
        ports = {m: free_port() for m in ORGS}
        for mspid in ORGS:
            self.peers[mspid] = self._write_peer(mspid, ports)
        for peer in self.peers.values():
            self.start_peer(peer)

    @property
    def contract_path(self) -> Path:
        return self.contract_dir or SAMPLES / self.sample

    def _start_contract(self) -> None:
        self.contract_address = f"127.0.0.1:{free_port()}"
        label = f"{self.chaincode}_1.0"
        if self.node_contract:
            command = ["node", "index.js"]
            environment = {"CHAINCODE_ID": label, "CHAINCODE_SERVER_ADDRESS": self.contract_address}
        else:
            command = [sys.executable, "-m", "chaincode.runner", str(self.contract_path)]
            command += ["--id", label, "--address", self.contract_address]
            environment = {}
        self.contract = subprocess.Popen(
            command,
            cwd=self.contract_path if self.node_contract else ROOT,
            env={**os.environ, **environment},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.contract.stdout is not None
        for line in self.contract.stdout:
            if "serving chaincode" in line:
                return
        raise AssertionError("the contract process did not start")

    def _write_peer(self, mspid: str, ports: dict[str, int]) -> PeerProcess:
        directory = self.root / mspid
        org = self.orgs[mspid]
        write_local_msp(org, directory / "msp", f"peer0.{mspid}", "peer")
        tls = write_tls(org, directory / "tls", f"peer0.{mspid}", ("127.0.0.1", "localhost"))
        others = "".join(
            f"  - mspid: {other}\n    address: 127.0.0.1:{ports[other]}\n"
            f"    tls_root: {self.root / other / 'tls' / 'ca.crt'}\n"
            for other in ORGS
            if other != mspid
        )
        operations = f"127.0.0.1:{free_port()}" if self.operations else ""
        config = directory / "peer.yaml"
        client_roots = f"  client_root_cas: [{self._client_roots()}]\n" if self.mutual else ""
        config.write_text(
            f"listen: 127.0.0.1:{ports[mspid]}\nmspid: {mspid}\nmsp_dir: msp\ndata_dir: data\n"
            f"tls:\n  cert: {tls['cert']}\n  key: {tls['key']}\n{client_roots}"
            f"orderers:\n  - address: 127.0.0.1:{self.orderer.port}\n"
            f"    tls_root: {self.orderer.tls_paths['ca']}\n"
            f"peers:\n{others}{self.peer_settings}\n"
            + (f"operations:\n  listen: {operations}\n" if operations else "")
        )
        return PeerProcess(mspid, directory, config, tls, operations=operations)

    def _client_roots(self) -> Path:
        """Every organization's TLS CA in one file, as ``up``'s ``tls/client-roots.pem``:
        the clients a peer lets in (users, other peers, the ordering organization)."""
        path = self.root / "client-roots.pem"
        roots = (self.orgs[m].root.certificate for m in ("OrdererMSP", *ORGS))
        path.write_bytes(b"".join(certificates.to_pem(root) for root in roots))
        return path

    def start_peer(self, peer: PeerProcess) -> None:
        peer.process = NodeProcess(["node", "run", "peer", "--config", str(peer.config)])
        peer.port = int(peer.process.wait_for(r"listening on port (\d+)").group(1))

    @contextlib.asynccontextmanager
    async def deployed(self) -> AsyncIterator[FabricNetwork]:
        """Started, joined and deployed for the ``async with`` body, stopped after it."""
        try:
            await self.start()
            await self.join_and_deploy()
            yield self
        finally:
            self.stop()

    def stop(self) -> None:
        for peer in self.peers.values():
            if peer.process is not None:
                peer.process.stop()
        if self.contract is not None:
            self.contract.terminate()
            self.contract.wait(timeout=10)
        self.orderer.stop()

    @contextlib.contextmanager
    def world_states(self) -> Iterator[dict[str, WorldState]]:
        """Each stopped peer's world state of the channel, by MSP id, open for the ``with``
        body (what crash and disk-fault tests compare after the run)."""
        states = {
            mspid: WorldState(peer.directory / "data" / "channels" / CHANNEL / "state")
            for mspid, peer in self.peers.items()
        }
        try:
            yield states
        finally:
            for state in states.values():
                state.close()

    # -- clients --------------------------------------------------------------------------

    def client(self, mspid: str, signer: SoftwareSigner | None = None) -> GatewayClient:
        peer = self.peers[mspid]
        return GatewayClient(
            peer.address,
            signer or self.users[mspid],
            peer.tls["ca"].read_bytes(),
            client=self.client_tls(mspid),
        )

    def credentials(self, mspid: str = "Org1MSP") -> grpc.ChannelCredentials:
        """TLS to ``mspid``'s peer as its clients have it: its root, and their certificate."""
        return channel_credentials(self.peers[mspid].tls["ca"].read_bytes(), self.client_tls(mspid))

    def client_tls_files(self, mspid: str) -> dict[str, Path]:
        """The TLS client certificate and key ``mspid``'s users present (issued by its TLS
        CA, as ``up`` enrolls ``users/<u>/tls``); made once."""
        return self.orderer.client_tls(mspid, "user")

    def client_tls(self, mspid: str) -> TlsIdentity | None:
        """What a client of ``mspid`` presents at the handshake (None without mutual TLS)."""
        if not self.mutual:
            return None
        files = self.client_tls_files(mspid)
        return TlsIdentity.from_files(files["cert"], files["key"])

    def node_client_config(self, directory: Path, identities: dict[str, SoftwareSigner]) -> Path:
        """The JSON file the Node fabric-gateway scripts read: peers, TLS roots, identities
        (certificate and PKCS#8 key files), and the TLS client certificate a client of each
        peer's organization presents (``tests/conformance/client_tls.js`` reads it)."""
        config = {
            "channel": CHANNEL,
            "chaincode": self.chaincode,
            "peers": {
                mspid: {"address": peer.address, "tlsRootCert": str(peer.tls["ca"])}
                | self._node_client_tls(mspid)
                for mspid, peer in self.peers.items()
            },
            "identities": {
                name: write_identity_files(signer, directory / name)
                for name, signer in identities.items()
            },
        }
        path = directory / "config.json"
        path.write_text(json.dumps(config))
        return path

    def _node_client_tls(self, mspid: str) -> dict[str, str]:
        if not self.mutual:
            return {}
        files = self.client_tls_files(mspid)
        return {"tlsClientCert": str(files["cert"]), "tlsClientKey": str(files["key"])}

    # -- the admin steps ----------------------------------------------------------------

    async def join_and_deploy(self) -> None:
        genesis = self.orderer.genesis().SerializeToString()
        package = build_package(
            self.contract_path, f"{self.chaincode}_1.0", Connection(self.contract_address)
        )
        self.package_id = package_id(f"{self.chaincode}_1.0", package)
        for mspid in ORGS:
            async with self.client(mspid, self.admins[mspid]) as admin:
                await admin.propose("", "cscc", "JoinChain", genesis)
        admins = {m: self.client(m, self.admins[m]) for m in ORGS}
        try:
            await deploy(
                CHANNEL,
                Definition(self.chaincode, "1.0", 1, self.policy, self.collections),
                package,
                [OrgAdmins(m, [admins[m]]) for m in ORGS],
                self.wait_committed,
            )
        finally:
            for admin in admins.values():
                await admin.close()

    async def redefine(self, sequence: int, version: str) -> None:
        """Approve and commit a new definition of the deployed chaincode (same package)."""
        definition = Definition(self.chaincode, version, sequence, self.policy, self.collections)
        admins = {m: self.client(m, self.admins[m]) for m in ORGS}
        try:
            approvals = [
                await approve(admins[m], CHANNEL, definition, self.package_id, m) for m in ORGS
            ]
            await self.wait_committed(approvals)
            await self.wait_committed([await commit(admins[ORGS[0]], CHANNEL, definition)])
        finally:
            for admin in admins.values():
                await admin.close()

    async def wait_committed(self, tx_ids: list[str]) -> None:
        """Return once every peer has committed every one of ``tx_ids``."""
        for mspid in ORGS:
            async with self.client(mspid) as client:
                for tx_id in tx_ids:
                    await client.commit_status(CHANNEL, tx_id)
