"""``consortium ca serve`` as a real process: bad input, restarts, TLS, keys at rest.

Every refused request must leave nothing written and the server still serving.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca import certificates
from ca.client import FabricCaClient
from ca.errors import CaRequestError
from ca.issuing import Issuer, ca_name, self_signed_ca
from ca.keystore import EncryptedKeyStore, SoftwareCaKey
from ca.registry import Registry
from ca.signing import SoftwareSigner
from ca.token import make_token
from tests.conformance.ca_process import start_ca, stop

MSPID = "Org1MSP"


class Server:
    def __init__(self, home: Path, *extra: str) -> None:
        self.home = home
        self.process = None
        self.url = ""
        self.start(*extra)

    def start(self, *extra: str) -> None:
        self.process, self.url = start_ca(self.home, *extra)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None

    def client(self, context: ssl.SSLContext | None = None) -> FabricCaClient:
        return FabricCaClient(self.url, MSPID, context)

    def raw(self, method: str, path: str, body: bytes | None, headers: dict[str, str]):
        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        payload = json.loads(response.read())
        conn.close()
        return response.status, payload


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("ca") / "home")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def admin(server: Server) -> SoftwareSigner:
    return server.client().enroll("admin", "adminpw").signer


def _fails(call, status: int, code: int, message: str = "") -> None:
    with pytest.raises(CaRequestError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (status, code), caught.value.message
    assert message in caught.value.message


def _still_serving(server: Server) -> None:
    assert server.client().cainfo()["CAName"] == "ca"


def _registry_counts(server: Server) -> tuple[int, int]:
    registry = Registry(server.home / "registry.db")
    try:
        ids = len(registry.all())
        certs = sum(len(registry.certificates_of(r.id)) for r in registry.all())
    finally:
        registry.close()
    return ids, certs


def test_cainfo_envelope_and_chain(server: Server) -> None:
    status, body = server.raw("GET", "/api/v1/cainfo", None, {})
    assert status == 200
    assert set(body) == {"success", "result", "errors", "messages"}
    assert body["success"] is True and body["errors"] == [] and body["messages"] == []
    chain = certificates.load_certificate(base64.b64decode(body["result"]["CAChain"]))
    assert chain.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    tls = server.client().cainfo("tlsca")
    assert tls["CAName"] == "tlsca" and tls["CAChain"] != body["result"]["CAChain"]
    _fails(lambda: server.client().cainfo("nope"), 404, 19, "does not exist")


def test_bad_enrollments_write_nothing(server: Server, admin: SoftwareSigner) -> None:
    client = server.client()
    client.register(admin, "once", affiliation="org1", max_enrollments=1, secret="oncepw")
    before = _registry_counts(server)
    _fails(lambda: client.enroll("admin", "nope"), 401, 20, "Authentication failure")
    _fails(lambda: client.enroll("ghost", "x"), 401, 20, "Authentication failure")
    status, body = server.raw("POST", "/api/v1/enroll", b"{}", {})
    assert (status, body["errors"][0]["code"]) == (401, 2)
    basic = "Basic " + base64.b64encode(b"once:oncepw").decode()
    status, body = server.raw(
        "POST", "/api/v1/enroll", b'{"certificate_request": "junk"}', {"Authorization": basic}
    )
    assert (status, body["errors"][0]["code"]) == (400, 31)
    status, body = server.raw("POST", "/api/v1/enroll", b"{not json", {"Authorization": basic})
    assert (status, body["errors"][0]["code"]) == (400, 5)
    # A CSR whose CN is someone else.
    key = ec.generate_private_key(ec.SECP256R1())
    other = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")]))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )
    status, body = server.raw(
        "POST",
        "/api/v1/enroll",
        json.dumps({"certificate_request": other}).encode(),
        {"Authorization": basic},
    )
    assert (status, body["errors"][0]["code"]) == (403, 31)
    assert "must equal the enrollment ID" in body["errors"][0]["message"]
    assert _registry_counts(server) == before
    # The one allowed enrollment works, the second is refused and writes nothing.
    client.enroll("once", "oncepw")
    after_one = _registry_counts(server)
    _fails(lambda: client.enroll("once", "oncepw"), 401, 20)
    assert _registry_counts(server) == after_one
    _still_serving(server)


def test_bad_registrations(server: Server, admin: SoftwareSigner) -> None:
    client = server.client()
    client.register(admin, "dup", affiliation="org1.department1")
    before = _registry_counts(server)
    _fails(lambda: client.register(admin, "dup"), 500, 0, "already registered")
    _fails(lambda: client.register(admin, "t1", type="wizard"), 400, 5, "'wizard' is not one of")
    _fails(lambda: client.register(admin, "t2", affiliation="nowhere"), 500, 0, "affiliation")
    _fails(lambda: client.register(admin, "t3", max_enrollments="x"), 400, 5, "max_enrollments")
    _fails(lambda: client.register(admin, "", type="client"), 400, 5, "'id' is required")
    plain = client.enroll("dup2", client.register(admin, "dup2")).signer
    _fails(lambda: client.register(plain, "t4"), 403, 71, "Authorization failure")
    _fails(lambda: client.revoke(plain, id="dup"), 403, 71)
    _fails(lambda: client.gencrl(plain), 403, 71)
    # A limited registrar may not hand out powers it lacks.
    secret = client.register(
        admin,
        "registrar",
        attrs=[
            {"name": "hf.Registrar.Roles", "value": "client"},
            {"name": "hf.Registrar.Attributes", "value": "app.*"},
        ],
    )
    registrar = client.enroll("registrar", secret).signer
    _fails(lambda: client.register(registrar, "p1", type="peer"), 403, 71)
    _fails(
        lambda: client.register(registrar, "r1", attrs=[{"name": "hf.Revoker", "value": "true"}]),
        403,
        71,
    )
    client.register(registrar, "appuser", attrs=[{"name": "app.level", "value": "3"}])
    assert _registry_counts(server)[0] == before[0] + 3  # dup2, registrar, appuser
    _still_serving(server)


def _token_headers(signer: SoftwareSigner, method: str, uri: str, body: bytes) -> dict[str, str]:
    return {"Authorization": make_token(signer, signer.certificate_pem, method, uri, body)}


def test_token_checks(server: Server, admin: SoftwareSigner) -> None:
    body = json.dumps({"id": "tok1"}).encode()
    # Token signed over a different body.
    headers = _token_headers(admin, "POST", "/api/v1/register", b'{"id": "other"}')
    status, reply = server.raw("POST", "/api/v1/register", body, headers)
    assert (status, reply["errors"][0]) == (401, {"code": 20, "message": "Authentication failure"})
    # Token signed for another path.
    headers = _token_headers(admin, "POST", "/api/v1/revoke", body)
    assert server.raw("POST", "/api/v1/register", body, headers)[0] == 401
    # Token from a certificate this CA never issued (a foreign CA with the same names).
    foreign_key = SoftwareCaKey(ec.generate_private_key(ec.SECP256R1()))
    foreign = Issuer(self_signed_ca(foreign_key, ca_name("ca.org1", "Org1"), 10), foreign_key)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = foreign.issue(key.public_key(), "admin", ous=("client",))
    stranger = SoftwareSigner(MSPID, certificates.to_pem(cert), key)
    headers = _token_headers(stranger, "POST", "/api/v1/register", body)
    assert server.raw("POST", "/api/v1/register", body, headers)[0] == 401
    # No header at all.
    status, reply = server.raw("POST", "/api/v1/register", body, {})
    assert (status, reply["errors"][0]["code"]) == (401, 2)
    # A revoked identity's token is refused.
    client = server.client()
    victim = client.enroll("victim", client.register(admin, "victim", type="client")).signer
    client.revoke(admin, id="victim")
    _fails(lambda: client.identities(victim), 401, 20)
    assert "tok1" not in {i["id"] for i in client.identities(admin)["identities"]}
    _still_serving(server)


def test_chunked_register_body(server: Server, admin: SoftwareSigner) -> None:
    body = json.dumps({"id": "chunky", "affiliation": "org1", "type": "peer"}).encode()
    headers = _token_headers(admin, "POST", "/api/v1/register", body)
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.request(
        "POST",
        "/api/v1/register",
        body=iter([body[:10], body[10:25], body[25:]]),
        headers={**headers, "Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    response = conn.getresponse()
    payload = json.loads(response.read())
    conn.close()
    assert response.status == 201 and payload["result"]["secret"]
    record = server.client().identities(admin, "chunky")
    assert record["type"] == "peer" and record["affiliation"] == "org1"


def test_revoke_by_serial_and_crl_filters(server: Server, admin: SoftwareSigner) -> None:
    client = server.client()
    secret = client.register(admin, "multi", max_enrollments=-1)
    first = client.enroll("multi", secret).signer
    second = client.enroll("multi", secret).signer
    cert = certificates.load_certificate(first.certificate_pem)
    serial = certificates.hex_id(cert.serial_number)
    aki = certificates.hex_id(certificates.authority_key_id(cert))
    result = client.revoke(admin, serial=serial.upper(), aki=aki, reason="superseded", gencrl=True)
    assert result["RevokedCerts"] == [{"Serial": serial, "AKI": aki}]
    crl = certificates.load_crl(base64.b64decode(result["CRL"]))
    entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == (
        x509.ReasonFlags.superseded
    )
    _fails(lambda: client.revoke(admin, serial=serial, aki=aki), 404, 66, "already revoked")
    _fails(lambda: client.revoke(admin, serial="abc", aki=aki), 404, 8)
    _fails(lambda: client.revoke(admin), 400, 15)
    _fails(lambda: client.revoke(admin, id="multi", reason="bored"), 400, 5, "Invalid reason")
    # The second certificate of the same identity still works.
    client.reenroll(second)
    future = client.gencrl(admin, revokedAfter="2999-01-01T00:00:00Z")
    assert len(list(certificates.load_crl(future))) == 0
    _fails(lambda: client.gencrl(admin, revokedAfter="yesterday"), 400, 36)


def test_tls_ca_issues_server_certificates(server: Server) -> None:
    enrollment = server.client().enroll(
        "admin", "adminpw", profile="tls", hosts=["localhost", "127.0.0.1"]
    )
    cert = certificates.load_certificate(enrollment.signer.certificate_pem)
    tls_root = certificates.load_certificate(
        base64.b64decode(server.client().cainfo("tlsca")["CAChain"])
    )
    assert certificates.issued_by(cert, tls_root)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in usage
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]


@pytest.mark.slow
def test_state_survives_restart_and_tls_serving(tmp_path: Path) -> None:
    server = Server(tmp_path / "home")
    try:
        client = server.client()
        admin = client.enroll("admin", "adminpw").signer
        secret = client.register(admin, "keeper", affiliation="org2.department1")
        tls = client.enroll("admin", "adminpw", caname="tlsca", hosts=["127.0.0.1"])
        root_pem = base64.b64decode(client.cainfo()["CAChain"])
        tls_root_pem = base64.b64decode(client.cainfo("tlsca")["CAChain"])
        server.stop()

        cert_file, key_file = tmp_path / "tls.pem", tmp_path / "tls.key"
        cert_file.write_bytes(tls.signer.certificate_pem)
        key_file.write_bytes(
            tls.signer.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        server.start("--tls-cert", str(cert_file), "--tls-key", str(key_file))
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cadata=tls_root_pem.decode())
        client = server.client(context)
        assert base64.b64decode(client.cainfo()["CAChain"]) == root_pem  # same CA key/cert
        keeper = client.enroll("keeper", secret).signer  # registered before the restart
        ous = certificates.organizational_units(
            certificates.load_certificate(keeper.certificate_pem)
        )
        assert sorted(ous) == ["client", "department1", "org2"]
        assert client.identities(admin, "keeper")["affiliation"] == "org2.department1"
    finally:
        server.stop()


def test_ca_keys_are_encrypted_at_rest(server: Server) -> None:
    master = (server.home / "master.key").read_bytes().strip()
    assert oct((server.home / "master.key").stat().st_mode & 0o777) == "0o600"
    store = EncryptedKeyStore(server.home / "keys", master)
    for name in ("ca", "tlsca"):
        data = store.path(name).read_bytes()
        assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert oct(store.path(name).stat().st_mode & 0o777) == "0o600"
        scalar = store.load(name)._key.private_numbers().private_value.to_bytes(32, "big")
        for path in server.home.rglob("*"):
            if path.is_file():
                content = path.read_bytes()
                assert scalar not in content and scalar.hex().encode() not in content, path


def test_concurrent_enrollments_never_pass_the_maximum(server: Server, admin) -> None:
    client = server.client()
    secret = client.register(admin, "racer", max_enrollments=3)

    def attempt(_: int) -> bool:
        try:
            client.enroll("racer", secret)
        except CaRequestError as exc:
            assert (exc.status, exc.code) == (401, 20)
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(attempt, range(12)))
    assert outcomes.count(True) == 3
    registry = Registry(server.home / "registry.db")
    try:
        assert len(registry.certificates_of("racer")) == 3
        assert registry.get("racer").enrollments == 3
    finally:
        registry.close()


def test_serving_tls_from_its_own_tls_ca(tmp_path: Path) -> None:
    server = Server(tmp_path / "home", "--tls-hosts", "127.0.0.1,localhost")
    try:
        assert server.url.startswith("https://")
        context = ssl.create_default_context(cafile=str(server.home / "tlsca-cert.pem"))
        client = server.client(context)
        assert client.enroll("admin", "adminpw").signer.certificate_pem
        key_file = server.home / "server-tls" / "server.key"
        assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert oct(key_file.stat().st_mode & 0o777) == "0o600"
        # A client that does not trust the member's TLS CA is refused.
        with pytest.raises(OSError):
            server.client(ssl.create_default_context()).cainfo()
    finally:
        server.stop()
