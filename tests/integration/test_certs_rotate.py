"""`consortium certs rotate` on a running network under load: every identity and TLS
certificate renewed (the contract's TLS server certificate too), each node using the new
ones without a restart, and no transaction failed — real processes, real CA, the CLI as
a user types it."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509

from tests.integration.test_up import spec_with_free_ports
from tests.support.processes import consortium

NETWORK = "two-members"
LOAD_SECONDS = 60.0  # the load stops when the rotation ends, or after this at the latest
LOAD_MAX = 400


def _status(tmp_path: Path) -> dict:
    return json.loads(consortium(tmp_path, "status", "-o", "json").stdout)


def _served_serial(address: str) -> int:
    """The serial number of the TLS certificate a node presents at a new handshake."""
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_alpn_protocols(["h2"])
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _client(tmp_path: Path):
    from network.gateway_client import GatewayClient

    connection = tmp_path / ".consortium" / NETWORK / "connection" / "org1.json"
    return GatewayClient.from_connection(json.loads(connection.read_text()), "user1")


async def _load(tmp_path: Path, done: threading.Event, outcomes: list[str]) -> None:
    """CreateAsset one after another through org1's gateway until ``done``; each outcome
    is "VALID" or the error a client saw."""
    started = time.monotonic()
    async with _client(tmp_path) as client:
        for n in range(LOAD_MAX):
            if done.is_set() or time.monotonic() - started > LOAD_SECONDS:
                return
            try:
                await client.submit("mychannel", "basic", "CreateAsset", f"r{n}", "red", "1",
                                    "Rot", "1")  # fmt: skip
                outcomes.append("VALID")
            except Exception as exc:  # any failure is what the test counts
                outcomes.append(f"{type(exc).__name__}: {exc}")


async def _endorser_serial(tmp_path: Path) -> int:
    """The serial of the certificate org1's peer endorses with now."""
    from fabric_protos.msp import identities_pb2

    async with _client(tmp_path) as client:
        response = await client.propose("mychannel", "basic", "GetAllAssets")
    identity = identities_pb2.SerializedIdentity.FromString(response.endorsement.endorser)
    return x509.load_pem_x509_certificate(identity.id_bytes).serial_number


@pytest.mark.slow
def test_rotation_under_load_renews_every_certificate_and_fails_no_transaction(
    tmp_path: Path,
) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        before = _status(tmp_path)["nodes"]
        peer = before["peer-org1-peer0"]["address"]
        orderer = before["orderer-orderer0"]["address"]
        old = (
            _served_serial(peer),
            _served_serial(orderer),
            asyncio.run(_endorser_serial(tmp_path)),
        )
        state = json.loads((tmp_path / ".consortium" / NETWORK / "state.json").read_text())
        contract = f"127.0.0.1:{state['chaincodes']['basic']['port']}"
        old_contract = _served_serial(contract)  # mutual TLS: the server speaks first

        done, outcomes = threading.Event(), []
        load = threading.Thread(target=lambda: asyncio.run(_load(tmp_path, done, outcomes)))
        load.start()
        try:
            time.sleep(1.0)  # the load is under way when the rotation starts
            rotated = json.loads(consortium(tmp_path, "certs", "rotate", "-o", "json").stdout)[
                "rotated"
            ]
        finally:
            time.sleep(1.0)  # and goes on a little after it
            done.set()
            load.join(timeout=LOAD_SECONDS + 30)

        owners = {(r["owner"], r["kind"]) for r in rotated}
        assert {
            ("peer-org1-peer0", "identity"),
            ("peer-org1-peer0", "tls"),
            ("peer-org2-peer0", "tls"),
            ("orderer-orderer0", "identity"),
            ("orderer-orderer0", "tls"),
            ("org1/user1", "identity"),
            ("org1/user1", "tls"),  # the TLS client certificate it presents (mutual TLS)
            ("org2/orgadmin", "identity"),
            ("chaincode-basic", "tls"),  # the contract's server pair, from org1's TLS CA
        } <= owners
        assert len(outcomes) >= 3 and set(outcomes) == {"VALID"}, outcomes
        # Every node presents and signs with the new certificates; none restarted.
        after = _status(tmp_path)["nodes"]
        for name in ("peer-org1-peer0", "peer-org2-peer0", "orderer-orderer0"):
            assert after[name]["pid"] == before[name]["pid"], name
        new = {(r["owner"], r["kind"]): int(r["serial"], 16) for r in rotated}
        assert _served_serial(peer) == new[("peer-org1-peer0", "tls")] != old[0]
        assert _served_serial(orderer) == new[("orderer-orderer0", "tls")] != old[1]
        assert _served_serial(contract) == new[("chaincode-basic", "tls")] != old_contract
        endorser = asyncio.run(_endorser_serial(tmp_path))
        assert endorser == new[("peer-org1-peer0", "identity")] != old[2]
        # Each peer dials orderers and peers with its new TLS certificate as client too
        # (tests/integration/test_peer_client_tls_reload.py shows what a server sees)
        logs = tmp_path / ".consortium" / NETWORK / "logs"
        for name in ("peer-org1-peer0", "peer-org2-peer0"):
            serial = f"{new[(name, 'tls')]:x}"
            assert (
                f"TLS client certificate reloaded (serial {serial})"
                in (logs / f"{name}.log").read_text()
            ), name
        # The CLI's own identities were renewed too, and still transact.
        consortium(tmp_path, "invoke", "basic", "CreateAsset", "after", "blue", "1", "Z", "1",
                   "--member", "org2")  # fmt: skip

        # One node; a name that is not one answers exit 2 naming it.
        one = json.loads(
            consortium(
                tmp_path, "certs", "rotate", "--node", "peer-org2-peer0", "-o", "json"
            ).stdout
        )["rotated"]
        assert {r["owner"] for r in one} == {"peer-org2-peer0"}
        bad = consortium(tmp_path, "certs", "rotate", "--node", "peer-org9-peer0", check=False)
        assert bad.returncode == 2 and "--node peer-org9-peer0" in bad.stderr
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)


def test_rotate_without_a_network_says_so(tmp_path: Path) -> None:
    answer = consortium(tmp_path, "certs", "rotate", check=False)
    assert answer.returncode == 2 and "network" in answer.stderr.lower(), answer.stderr
