"""The two REST edges, fed malformed and mutated requests as real processes: a member CA
(``consortium ca serve``, Fabric CA's protocol) and the control plane (``consortium node
run control-plane``, AMB's). Every refusal is a 4xx in the edge's documented envelope,
the process still answers a good request, and a refused request changed nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import example, given
from hypothesis import strategies as st

from ca.client import FabricCaClient
from ca.token import make_token
from network.controlplane.operations import OPERATIONS
from tests.conformance.ca_process import start_ca, stop
from tests.support.fabric_network import FabricNetwork
from tests.support.fuzzing import TRIED, budget, mutated, orderer_height
from tests.support.orderer import CHANNEL

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)


def _request(
    url: str,
    method: str,
    body: bytes,
    headers: dict[str, str],
    context: ssl.SSLContext | None = None,
) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, data=body or None, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _tree_digest(folder: Path) -> str:
    """Every file under ``folder`` (names and bytes): a refused request changes none. Lock
    files (LMDB's reader table) and SQLite's shared-memory index (``-shm``) change on reads
    too, and hold no data."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".log" or "lock" in path.name or path.name.endswith("-shm"):
            continue
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


# ---- the member CA (Fabric CA REST) ----------------------------------------------------------

CA_PATHS = ("cainfo", "enroll", "reenroll", "register", "revoke", "gencrl", "identities", "x")


@pytest.fixture(scope="module")
def member_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, object]]:
    home = tmp_path_factory.mktemp("fuzz-ca") / "ca"
    process, url = start_ca(home)
    try:
        admin = FabricCaClient(url, "Org1MSP").enroll("admin", "adminpw")
        yield url, home, admin
    finally:
        stop(process)


def _header_value(text: str) -> str:
    """Only what HTTP allows in a header value: a control character is refused by the HTTP
    parser itself (plain 400, as Go's net/http does), before any API sees the request."""
    return "".join(c for c in text if " " <= c <= "~" or "\x80" <= c <= "\xff").strip()


_TOKENS: dict[tuple[int, str, str, bytes], str] = {}


@st.composite
def ca_requests(draw: st.DrawFn, admin: object) -> tuple[str, str, bytes, dict[str, str]]:
    """A method, an API path, a body and an Authorization header: each may be garbage, or
    a valid admin token over a body that is then mutated (so the token no longer fits)."""
    method = draw(st.sampled_from(("GET", "POST", "PUT", "DELETE")))
    path = "/api/v1/" + draw(st.sampled_from(CA_PATHS))
    body = draw(
        st.one_of(
            st.binary(max_size=200),
            JSON.map(lambda value: json.dumps(value).encode()),
            st.fixed_dictionaries(
                {"id": st.text(max_size=10), "type": st.text(max_size=8), "secret": st.text()},
                optional={"attrs": JSON, "max_enrollments": JSON, "affiliation": JSON},
            ).map(lambda value: json.dumps(value).encode()),
        )
    )
    key = (id(admin), method, path, body)
    if key not in _TOKENS:  # ECDSA signs at random: a replayed example needs the same token
        signer = admin.signer  # type: ignore[attr-defined]
        _TOKENS[key] = make_token(signer, signer.certificate_pem, method, path, body)
    token = _TOKENS[key]
    authorization = draw(
        st.one_of(
            st.none(),
            st.text(max_size=60),
            st.just(token),
            mutated(token.encode()).map(lambda raw: raw.decode("latin-1")),
            st.binary(max_size=30).map(lambda raw: "Basic " + base64.b64encode(raw).decode()),
        )
    )
    headers = {} if authorization is None else {"Authorization": _header_value(authorization)}
    if draw(st.booleans()) and body:
        body = draw(mutated(body))  # the token, if any, no longer covers the body
    return method, path, body, headers


def _csr_pem(name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM).decode()


CSR = _csr_pem("admin")
PEM_BEGIN, PEM_END = "-----BEGIN CERTIFICATE REQUEST-----", "-----END CERTIFICATE REQUEST-----"
ADMIN_BASIC = "Basic " + base64.b64encode(b"admin:adminpw").decode()


@st.composite
def enrollments(draw: st.DrawFn) -> tuple[str, str, bytes, dict[str, str]]:
    """The admin's enroll with its CSR mutated (DER inside the PEM, or the PEM text)."""
    der = x509.load_pem_x509_csr(CSR.encode()).public_bytes(serialization.Encoding.DER)
    body = base64.encodebytes(draw(mutated(der))).decode()
    pem = draw(
        st.one_of(
            st.just(
                f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n"
            ),
            mutated(CSR.encode()).map(lambda raw: raw.decode("latin-1")),
        )
    )
    request = json.dumps({"certificate_request": pem}).encode()
    return "POST", "/api/v1/enroll", request, {"Authorization": ADMIN_BASIC}


def test_member_ca_rest_api(member_ca: tuple[str, Path, object]) -> None:
    url, home, admin = member_ca

    @budget(120)
    @given(request=st.one_of(ca_requests(admin), enrollments()))
    def one(request: tuple[str, str, bytes, dict[str, str]]) -> None:
        TRIED["CA REST API (Fabric CA)"] += 1
        method, path, body, headers = request
        before = _tree_digest(home)
        status, _, raw = _request(url + path, method, body, headers)
        if status >= 300:
            assert 400 <= status < 500, (status, raw)
            envelope = json.loads(raw)
            assert envelope["success"] is False, envelope
            assert envelope["errors"][0]["message"], envelope
            assert _tree_digest(home) == before
        good, _, info = _request(url + "/api/v1/cainfo", "GET", b"", {})
        assert good == 200, info

    one()


# ---- the control plane (AMB REST) ------------------------------------------------------------

ACCOUNT = "111111111111"
ROUTES = sorted({(op.method, op.path) for op in OPERATIONS if not op.local})


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    data = tmp_path_factory.mktemp("fuzz-control-plane") / "data"
    command = [sys.executable, "-c", "from network.cli import main; main()"]
    command += ["node", "run", "control-plane", "--data", str(data), "--port", "0"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert "http://" in line, line
        yield line[line.index("http://") :].split()[0].rstrip("."), data
    finally:
        process.terminate()
        process.wait(timeout=20)


def _signed(method: str, url: str, body: bytes) -> dict[str, str]:
    """A SigV4 signature as boto3 makes it, so the fuzz reaches past authentication."""
    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials(ACCOUNT, "any"), "managedblockchain", "us-east-1").add_auth(request)
    return dict(request.headers.items())


SEGMENT = st.one_of(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz-0123456789", min_size=1, max_size=32),
    st.text(max_size=10).map(lambda text: urllib.request.quote(text, safe="") or "x"),
)


@st.composite
def amb_requests(draw: st.DrawFn, base: str) -> tuple[str, str, bytes]:
    method, path = draw(st.sampled_from(ROUTES))
    for placeholder in ("{networkId}", "{memberId}", "{nodeId}", "{proposalId}", "{invitationId}"):
        while placeholder in path:
            path = path.replace(placeholder, draw(SEGMENT), 1)
    path = path.replace("{resourceArn}", draw(SEGMENT))
    query = draw(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=2))
    url = base + path + ("?" + urllib.parse.urlencode(query) if query else "")
    body = draw(
        st.one_of(st.binary(max_size=100), JSON.map(lambda value: json.dumps(value).encode()))
    )
    return method, url, body if method in ("POST", "PATCH", "PUT") else b""


def test_control_plane_rest_api(control_plane: tuple[str, Path]) -> None:
    base, data = control_plane
    listing = base + "/networks"

    @budget(150)
    @given(request=amb_requests(base))
    def one(request: tuple[str, str, bytes]) -> None:
        TRIED["control plane REST API (AMB)"] += 1
        method, url, body = request
        before = _tree_digest(data)
        status, headers, raw = _request(url, method, body, _signed(method, url, body))
        if status >= 300:
            assert 400 <= status < 500, (status, raw)
            assert headers.get("x-amzn-ErrorType"), headers
            assert json.loads(raw)["message"], raw
            assert _tree_digest(data) == before
        good, _, answer = _request(listing, "GET", b"", _signed("GET", listing, b""))
        assert good == 200, answer

    one()


# ---- the orderer's channel participation API (Fabric's admin REST) ---------------------------

PARTICIPATION = "/participation/v1/channels"
CHANNEL_NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.-_%", max_size=20).filter(
    lambda name: name != CHANNEL  # never DELETE the channel every other test uses
)


def _multipart(field: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
            'filename="config.block"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


@st.composite
def participation_requests(draw: st.DrawFn, genesis: bytes) -> tuple[str, str, bytes, dict]:
    method = draw(st.sampled_from(("GET", "POST", "DELETE")))
    path = PARTICIPATION + draw(st.one_of(st.just(""), CHANNEL_NAMES.map(lambda n: "/" + n)))
    if method != "POST":
        return method, path, b"", {}
    block = draw(st.one_of(st.binary(max_size=200), mutated(genesis)))
    field = draw(st.sampled_from(("config-block", "other")))
    if draw(st.booleans()):
        body, content_type = _multipart(field, block)
    else:
        body, content_type = block, draw(st.sampled_from(("application/json", "text/plain")))
    return method, PARTICIPATION, body, {"Content-Type": content_type}


def test_channel_participation_api(fabric: FabricNetwork) -> None:
    """Fabric's ``{"error": …}`` with a 4xx; the channel list and height unchanged."""
    orderer = fabric.orderer
    context = orderer.admin_ssl()
    assert isinstance(context, ssl.SSLContext)
    base = f"https://127.0.0.1:{orderer.admin_port}"
    genesis = orderer.genesis().SerializeToString()

    def listing() -> bytes:
        status, _, raw = _request(base + PARTICIPATION, "GET", b"", {}, context)
        assert status == 200, raw
        return raw

    @budget(60)
    @given(request=participation_requests(genesis))
    @example(request=("DELETE", PARTICIPATION, b"", {}))  # found: aiohttp's plain-text 405
    @example(request=("PUT", PARTICIPATION + "/x/y", b"", {}))  # and its plain-text 404
    def one(request: tuple[str, str, bytes, dict]) -> None:
        TRIED["channel participation API (orderer admin)"] += 1
        method, path, body, headers = request
        before = listing(), orderer_height(fabric)
        status, _, raw = _request(base + path, method, body, headers, context)
        if status >= 300:
            assert 400 <= status < 500, (status, raw)
            assert json.loads(raw)["error"], raw
            assert (listing(), orderer_height(fabric)) == before

    one()
