"""A peer presents its rotated TLS client certificate without a restart (issue 21).

A real peer node (in this process, real gRPC on loopback, real files) dials a spy server
as its orderer and as another member's peer. The spy requires mutual TLS and records the
certificate each connection presents. Then the peer's TLS files are replaced, as
``certs rotate`` replaces them, by a certificate of a new CA, and the spy's trusted roots
by that new CA alone: the old certificate is refused from then on. After the reload
(what SIGHUP runs), the node's connections to the other peer and its Broadcast to the
orderer succeed again and present the new certificate; without the reload they would
keep presenting the refused one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2, ab_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ca import certificates
from peers.channel import OrdererEndpoint
from peers.node import PeerConfig, PeerNode, RemotePeerConfig
from proto.credentials import TlsIdentity, channel_credentials, server_credentials
from tests.support.pki import make_org, write_local_msp, write_tls

pytestmark = pytest.mark.asyncio


def _serial(pem: bytes) -> int:
    return certificates.load_certificate(pem).serial_number


class Spy(health_pb2_grpc.HealthServicer, ab_pb2_grpc.AtomicBroadcastServicer):
    """Health and Broadcast, recording the serial of each caller's TLS certificate."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def _record(self, context: grpc.aio.ServicerContext) -> None:
        self.seen.append(_serial(context.auth_context()["x509_pem_cert"][0]))

    async def Check(self, request, context):
        self._record(context)
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    async def Broadcast(self, request_iterator, context):
        self._record(context)
        async for _ in request_iterator:
            yield ab_pb2.BroadcastResponse(status=common_pb2.SUCCESS)


async def _start_spy(
    tls: dict[str, Path], roots: Path, address: str = "127.0.0.1:0"
) -> tuple[grpc.aio.Server, str, Spy]:
    """The spy, requiring client certificates chained to the CAs in ``roots``."""
    spy = Spy()
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(spy, server)
    ab_pb2_grpc.add_AtomicBroadcastServicer_to_server(spy, server)
    port = server.add_secure_port(address, server_credentials(tls["cert"], tls["key"], [roots]))
    assert port
    await server.start()
    return server, f"127.0.0.1:{port}", spy


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[dict]:
    org, new_ca, spy_org = make_org("Org1MSP"), make_org("Org1MSP"), make_org("Org2MSP")
    signer = write_local_msp(org, tmp_path / "msp", "peer0", "peer")
    old = write_tls(org, tmp_path / "tls", "peer0", ("localhost", "127.0.0.1"))
    spy_tls = write_tls(spy_org, tmp_path / "spy", "spy", ("localhost", "127.0.0.1"))
    roots = tmp_path / "roots.pem"
    roots.write_bytes(old["ca"].read_bytes())
    server, address, spy = await _start_spy(spy_tls, roots)
    client = TlsIdentity.from_files(old["cert"], old["key"])
    config = PeerConfig(
        listen="127.0.0.1:0",
        mspid="Org1MSP",
        msp_dir=tmp_path / "msp",
        data_dir=tmp_path / "data",
        tls_cert=old["cert"],
        tls_key=old["key"],
        orderers=(OrdererEndpoint(address, spy_tls["ca"].read_bytes(), "", client),),
        client_identity=client,
        peers=(RemotePeerConfig("Org2MSP", address, spy_tls["ca"]),),
    )
    node = PeerNode(config, signer)
    await node.start()
    state = {
        "node": node, "spy": spy, "server": server, "roots": roots, "tmp": tmp_path,
        "old": client, "new_ca": new_ca, "spy_tls": spy_tls, "address": address,
    }  # fmt: skip
    try:
        yield state
    finally:
        await node.stop()
        await state["server"].stop(None)


async def _check(channel: grpc.aio.Channel) -> str:
    try:
        await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        return "SERVING"
    except grpc.aio.AioRpcError as exc:
        return exc.code().name


async def _broadcast(node: PeerNode) -> int:
    assert node.gateway is not None
    endpoint = node.config.orderers[0]
    answer = await node.gateway._broadcaster(endpoint).broadcast(common_pb2.Envelope(), 5)
    return answer.status


async def test_rotated_client_certificate_is_presented_and_the_old_one_refused(setup) -> None:
    node, spy = setup["node"], setup["spy"]
    old_serial = _serial(setup["old"].cert)
    assert await _check(node.remote_peers[0].channel) == "SERVING"
    assert await _broadcast(node) == common_pb2.SUCCESS
    assert spy.seen == [old_serial, old_serial]

    # rotate: new files in place (a new CA's certificate), the spy trusts the new CA only,
    # and restarts so every connection must shake hands again
    fresh = write_tls(setup["new_ca"], setup["tmp"] / "tls", "peer0", ("localhost", "127.0.0.1"))
    setup["roots"].write_bytes(fresh["ca"].read_bytes())
    await setup["server"].stop(None)
    setup["server"], _, spy = await _start_spy(setup["spy_tls"], setup["roots"], setup["address"])

    # the old certificate is refused now, and so is the node until it reloads
    root = setup["spy_tls"]["ca"].read_bytes()
    options = [("grpc.ssl_target_name_override", "localhost")]
    async with grpc.aio.secure_channel(
        setup["address"], channel_credentials(root, setup["old"]), options=options
    ) as stale:
        assert await _check(stale) == "UNAVAILABLE"
    assert await _check(node.remote_peers[0].channel) == "UNAVAILABLE"

    assert node.reload_client_tls() is True
    assert node.reload_client_tls() is False  # unchanged files: nothing to do
    new_serial = _serial(fresh["cert"].read_bytes())
    assert await _check(node.remote_peers[0].channel) == "SERVING"
    assert await _broadcast(node) == common_pb2.SUCCESS
    assert spy.seen == [new_serial, new_serial]
