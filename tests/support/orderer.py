"""A real orderer process for tests: PKI, config file, genesis block, join, clients."""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import grpc
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2, ab_pb2_grpc
from fabric_protos.peer import proposal_response_pb2

from ca.msp import write_msp
from ca.signing import SoftwareSigner
from ordering.configtx import genesis_block, load_profile
from proto.messages import build_transaction_envelope
from proto.proposal import build_proposal
from proto.seek import FOREVER, build_seek_envelope
from tests.support.pki import Org, make_org, write_local_msp, write_tls
from tests.support.processes import NodeProcess

CHANNEL = "mychannel"

PROFILE = """
Orderer:
  BatchTimeout: {timeout}
  BatchSize:
    MaxMessageCount: {count}
    AbsoluteMaxBytes: {absolute}
    PreferredMaxBytes: {preferred}
  Organizations:
    - Name: OrdererOrg
      ID: OrdererMSP
      MSPDir: msp/OrdererMSP
Application:
  Organizations:
    - Name: Org1
      ID: Org1MSP
      MSPDir: msp/Org1MSP
    - Name: Org2
      ID: Org2MSP
      MSPDir: msp/Org2MSP
"""


@dataclass
class OrdererFixture:
    """Everything a test needs to drive one orderer node over real gRPC."""

    root: Path
    tls: bool = True
    batch: dict[str, str] = field(
        default_factory=lambda: {
            "timeout": "200ms",
            "count": "10",
            "absolute": "64 KB",
            "preferred": "32 KB",
        }
    )
    node: str = "node"  # its folder under root (and, in a cluster, its name)
    nats: Sequence[str] = ()  # NATS URLs: this node is one of an ordering cluster
    lease_seconds: float = 1.0
    shared: OrdererFixture | None = None  # another node of the cluster: same orgs, genesis
    mutual: bool = False  # clients must present a TLS certificate of Org1MSP or Org2MSP
    settings: str = ""  # more YAML for orderer.yaml (``limits:`` …)
    orgs: dict[str, Org] = field(init=False)
    process: NodeProcess | None = field(init=False, default=None)
    port: int = field(init=False, default=0)
    admin_port: int = field(init=False, default=0)
    _genesis: common_pb2.Block | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        if self.shared is not None:
            self.orgs = self.shared.orgs
            self._genesis = self.shared.genesis()
        else:
            self.orgs = {m: make_org(m) for m in ("OrdererMSP", "Org1MSP", "Org2MSP")}
            for mspid, org in self.orgs.items():
                write_msp(self.root / "msp" / mspid, org.config())
        folder = self.root / self.node
        self.orderer_signer = write_local_msp(
            self.orgs["OrdererMSP"], folder / "msp", self.node, "orderer"
        )
        self.tls_paths = write_tls(
            self.orgs["OrdererMSP"], folder / "tls", self.node, ("127.0.0.1",)
        )
        tls = (
            f"tls:\n  cert: {self.tls_paths['cert']}\n  key: {self.tls_paths['key']}\n"
            if self.tls
            else "tls:\n  enabled: false\n"
        )
        if self.tls and self.mutual:
            roots = [self.client_tls(m, "root")["ca"] for m in ("Org1MSP", "Org2MSP")]
            tls += "  client_root_cas: [" + ", ".join(str(r) for r in roots) + "]\n"
        cluster = (
            f"cluster:\n  node: {self.node}\n  nats: [{', '.join(self.nats)}]\n"
            f"  lease_seconds: {self.lease_seconds}\n"
            if self.nats
            else ""
        )
        self.config_path = folder / "orderer.yaml"
        self._template = (
            "listen: 127.0.0.1:{port}\nadmin_listen: 127.0.0.1:{admin}\nmspid: OrdererMSP\n"
            "msp_dir: msp\ndata_dir: data\n"
            + (tls + cluster + self.settings).replace("{", "{{").replace("}", "}}")
        )
        (self.root / "configtx.yaml").write_text(PROFILE.format(**self.batch))

    @property
    def data_dir(self) -> Path:
        return self.root / self.node / "data"

    def genesis(self) -> common_pb2.Block:
        """The channel's genesis block (made once: a new one would carry a new timestamp)."""
        if self._genesis is None:
            self._genesis = genesis_block(load_profile(self.root / "configtx.yaml"), CHANNEL)
        return self._genesis

    def start(self) -> None:
        """Start (or restart, on the same ports) the orderer process."""
        self.config_path.write_text(
            self._template.format(port=self.port or 0, admin=self.admin_port or 0)
        )
        self.process = NodeProcess(["node", "run", "orderer", "--config", str(self.config_path)])
        match = self.process.wait_for(r"listening on port (\d+) \(admin (\d+)\)")
        self.port, self.admin_port = int(match.group(1)), int(match.group(2))

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    # -- clients ----------------------------------------------------------------------

    def client_tls(self, mspid: str, name: str) -> dict[str, Path]:
        """A TLS client certificate (and its CA) of ``mspid``, for mutual TLS; made once
        per name, so every reader of the files sees one certificate and its key."""
        folder = self.root / "clients" / mspid / name
        paths = {
            "cert": folder / "server.crt",
            "key": folder / "server.key",
            "ca": folder / "ca.crt",
        }
        if all(path.exists() for path in paths.values()):
            return paths
        return write_tls(self.orgs[mspid], folder, name, ())

    def channel(self, client: dict[str, Path] | None = None) -> grpc.aio.Channel:
        """A channel to the orderer, presenting ``client``'s TLS certificate (``credentials``)."""
        target = f"127.0.0.1:{self.port}"
        if not self.tls:
            return grpc.aio.insecure_channel(target)
        return grpc.aio.secure_channel(target, self.credentials(client))

    def credentials(self, client: dict[str, Path] | None = None) -> grpc.ChannelCredentials:
        """TLS trusting the orderer's root, presenting ``client``'s certificate (an orderer
        that wants one gets Org1MSP's ``client1``'s otherwise)."""
        if client is None and self.mutual:
            client = self.client_tls("Org1MSP", "client1")
        return grpc.ssl_channel_credentials(
            self.tls_paths["ca"].read_bytes(),
            client["key"].read_bytes() if client else None,
            client["cert"].read_bytes() if client else None,
        )

    def admin_ssl(self) -> ssl.SSLContext | bool:
        if not self.tls:
            return False
        context = ssl.create_default_context(cafile=str(self.tls_paths["ca"]))
        if self.mutual:
            admin = self.client_tls("Org1MSP", "admin")
            context.load_cert_chain(admin["cert"], admin["key"])
        return context

    @property
    def admin_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.admin_port}/participation/v1/channels"

    async def join(self, block: common_pb2.Block | None = None) -> tuple[int, dict]:
        form = aiohttp.FormData()
        form.add_field(
            "config-block",
            (block or self.genesis()).SerializeToString(),
            filename="config.block",
            content_type="application/octet-stream",
        )
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.admin_url, data=form, ssl=self.admin_ssl()) as response,
        ):
            return response.status, await response.json()

    def client(self, mspid: str = "Org1MSP", name: str = "client1") -> SoftwareSigner:
        return self.orgs[mspid].identity(name, "client")

    async def broadcast(
        self, envelopes: Sequence[common_pb2.Envelope]
    ) -> list[ab_pb2.BroadcastResponse]:
        async with self.channel() as channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
            call = stub.Broadcast(iter(envelopes))
            return [response async for response in call]

    async def deliver(
        self,
        signer: SoftwareSigner,
        start: int | str = "oldest",
        stop: int | str = FOREVER,
        fail_if_not_ready: bool = True,
        channel_id: str = CHANNEL,
    ) -> tuple[list[common_pb2.Block], int]:
        """Blocks and the final status of one Deliver request."""
        seek = build_seek_envelope(signer, channel_id, start, stop, fail_if_not_ready)
        blocks: list[common_pb2.Block] = []
        async with self.channel() as channel:
            stub = ab_pb2_grpc.AtomicBroadcastStub(channel)
            async for response in stub.Deliver(iter([seek])):
                if response.WhichOneof("Type") == "block":
                    blocks.append(response.block)
                else:
                    return blocks, response.status
        raise AssertionError("Deliver ended without a status")


def transaction(
    signer: SoftwareSigner, endorser: SoftwareSigner, size: int = 1024, channel_id: str = CHANNEL
) -> common_pb2.Envelope:
    """A signed ENDORSER_TRANSACTION envelope of about ``size`` bytes."""
    proposal, _ = build_proposal(signer, channel_id, "basic", [b"CreateAsset", b"x" * size])
    payload = b"result"
    response = proposal_response_pb2.ProposalResponse(
        version=1,
        response=proposal_response_pb2.Response(status=200),
        payload=payload,
        endorsement=proposal_response_pb2.Endorsement(
            endorser=endorser.creator, signature=endorser.sign(payload + endorser.creator)
        ),
    )
    return build_transaction_envelope(signer, proposal, [response])
