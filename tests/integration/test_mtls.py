"""Mutual TLS on a network `up` started (issue 21): on every port kind a client without a
certificate, and one whose certificate comes from a CA outside the network, is refused
at the handshake; a member's client (its TLS certificate from `up`) is let in. The
chaincode port (CCaaS, the peer dials the contract) too: its package's connection.json
asks for mutual TLS, and only the client certificate it carries (from the chaincode's
owner member's TLS CA) is let in."""

from __future__ import annotations

import asyncio
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chaincode.endpoint import ChaincodeEndpoint
from chaincode.packaging import read_package
from chaincode.server_info import server_info
from chaincode.transport import ClientTLS
from proto.credentials import TlsIdentity, channel_credentials
from tests.integration.test_up import spec_with_free_ports
from tests.support.pki import make_org, write_tls
from tests.support.processes import consortium

TIMEOUT = 10


def _health(address: str, root: bytes | None, client: TlsIdentity | None) -> str:
    """SERVING, or the gRPC status code name the call ended with (plaintext when
    ``root`` is None)."""
    options = [("grpc.ssl_target_name_override", "localhost")]
    if root is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, channel_credentials(root, client), options=options)
    with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
        except grpc.RpcError as exc:
            return exc.code().name
        return health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)


def _admin(url: str, root: Path, client: TlsIdentity | None, folder: Path) -> str:
    """``ok`` when the orderer's participation API answered, else why not."""
    context = ssl.create_default_context(cafile=str(root))
    context.check_hostname = False
    if client is not None:
        cert, key = folder / "c.crt", folder / "c.key"
        cert.write_bytes(client.cert)
        key.write_bytes(client.key)
        context.load_cert_chain(cert, key)
    try:
        with urllib.request.urlopen(url, context=context, timeout=TIMEOUT) as answer:
            json.loads(answer.read())
            return "ok"
    except (urllib.error.URLError, ssl.SSLError, ConnectionError) as exc:
        return f"refused: {exc}"


def _registers(address: str, tls: ClientTLS, package_id: str) -> bool:
    """Whether the contract at ``address`` took the shim's REGISTER over ``tls``, dialled
    as the peer dials it (``ChaincodeEndpoint``)."""

    async def dial() -> bool:
        endpoint = ChaincodeEndpoint(address, tls=tls, expected_name=package_id, dial_timeout=30)
        try:
            await endpoint.handler()
            return True
        finally:
            await endpoint.close()

    return asyncio.run(dial())


def _chaincode_refusals(network: Path, stranger: TlsIdentity, org2: TlsIdentity) -> None:
    """The chaincode port: the package's connection.json as Fabric reads it asks for
    mutual TLS; its client certificate is let in, none, a stranger's, another member's
    (org2's: the contract trusts its owner org1's TLS CA) or plaintext are refused at
    the handshake (UNAVAILABLE; the contract serves no health service, so a client let
    in gets UNIMPLEMENTED)."""
    record = json.loads((network / "state.json").read_text())["chaincodes"]["basic"]
    package_id = record["package_id"]
    package = (network / "chaincodes" / f"{package_id}.tar.gz").read_bytes()
    connection = json.loads(read_package(package)[1]["connection.json"])
    assert connection["tls_required"] and connection["client_auth_required"]
    server = server_info(json.dumps(connection).encode())
    assert server.tls is not None and server.tls.certificate_chain is not None
    assert server.tls.private_key is not None
    assert _registers(server.address, server.tls, package_id)
    root = server.tls.root_certificates
    package_client = TlsIdentity(server.tls.certificate_chain, server.tls.private_key)
    assert _health(server.address, root, package_client) == "UNIMPLEMENTED"
    for name, client in {"no certificate": None, "stranger": stranger, "org2 user": org2}.items():
        assert _health(server.address, root, client) == "UNAVAILABLE", name
    assert _health(server.address, None, None) == "UNAVAILABLE", "plaintext"


@pytest.mark.slow
def test_every_port_refuses_clients_without_a_members_tls_certificate(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    network = tmp_path / ".consortium" / "two-members"
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        connection = json.loads((network / "connection" / "org1.json").read_text())
        member = TlsIdentity.from_files(
            Path(connection["clientTls"]["cert"]), Path(connection["clientTls"]["key"])
        )
        org2 = json.loads((network / "connection" / "org2.json").read_text())
        stranger_files = write_tls(make_org("Stranger"), tmp_path / "stranger", "x", ("localhost",))
        stranger = TlsIdentity.from_files(stranger_files["cert"], stranger_files["key"])

        ports = {
            "org1 peer": connection["gateway"],
            "org2 peer": org2["gateway"],
            "orderer": connection["orderers"][0],
        }
        for kind, end in ports.items():
            root = Path(end["tlsRootCert"]).read_bytes()
            address = end["endpoint"]
            assert _health(address, root, None) == "UNAVAILABLE", kind
            assert _health(address, root, stranger) == "UNAVAILABLE", kind
            assert _health(address, root, member) == "SERVING", kind

        orderer_yaml = (network / "ordering" / "orderer0" / "orderer.yaml").read_text()
        admin = next(
            line.split(": ", 1)[1] for line in orderer_yaml.splitlines() if "admin_listen" in line
        )
        url = f"https://{admin}/participation/v1/channels"
        root = network / "ordering" / "orderer0" / "tls" / "ca.crt"
        admin_tls = TlsIdentity.from_folder(network / "ordering" / "admin" / "tls")
        assert _admin(url, root, None, tmp_path).startswith("refused"), "admin without cert"
        assert _admin(url, root, stranger, tmp_path).startswith("refused"), "admin stranger"
        assert _admin(url, root, admin_tls, tmp_path) == "ok"

        org2_user = TlsIdentity.from_files(
            Path(org2["clientTls"]["cert"]), Path(org2["clientTls"]["key"])
        )
        _chaincode_refusals(network, stranger, org2_user)

        # the CLI presents the member's certificate from the connection file;
        # both members' peers dial the contract with mutual TLS to endorse
        created = consortium(
            tmp_path, "invoke", "basic", "CreateAsset", "m1", "red", "3", "Ann", "9",
            "--member", "org1", "-o", "json",
        )  # fmt: skip
        assert json.loads(created.stdout)["status"] == "VALID"
    finally:
        consortium(tmp_path, "down", check=False)
