"""``consortium ledger serve --tls-cert --tls-key`` (issue 21): both ports, gRPC and QLDB's
session API, speak TLS only; a client holding the CA certificate works, a plaintext
client is refused, and the CLI reaches the server with ``--endpoint --tls-root``."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledgerdb.client import LedgerClient
from ledgerdb.errors import LedgerError
from tests.support.pki import make_org, write_tls
from tests.support.processes import NodeProcess, consortium

ROOT = Path(__file__).resolve().parents[2]
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/qldb/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


@dataclass
class Served:
    endpoint: str
    qldb_url: str
    ca: Path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("ledger-tls")
    tls = write_tls(make_org("LedgerOrg"), folder / "tls", "ledger", ("127.0.0.1", "localhost"))
    node = NodeProcess(
        [
            *("ledger", "serve", "--ledger", str(folder / "db"), "--port", "0"),
            *("--qldb-port", "0", "--tls-cert", str(tls["cert"]), "--tls-key", str(tls["key"])),
        ],
        cwd=ROOT,
    )
    try:
        url = node.wait_for(r"QLDB session API listening on (\S+)").group(1)
        port = node.wait_for(r"ledgerdb serving .* on 127\.0\.0\.1:(\d+)").group(1)
        yield Served(f"127.0.0.1:{port}", url, tls["ca"])
    finally:
        node.stop()


def test_grpc_over_tls_only(served: Served) -> None:
    with LedgerClient(served.endpoint, tls_root=served.ca.read_bytes(), timeout=10) as client:
        client.execute("CREATE TABLE Cars")
        client.execute("INSERT INTO Cars ?", {"VIN": "T1"})
        assert [dict(v) for v in client.execute("SELECT VIN FROM Cars").values] == [{"VIN": "T1"}]
    with LedgerClient(served.endpoint, timeout=3) as plaintext, pytest.raises(LedgerError):
        plaintext.execute("SELECT * FROM Cars")


def test_the_cli_reaches_it_with_its_ca(served: Served, tmp_path: Path) -> None:
    done = consortium(
        tmp_path,
        *("ledger", "query", "--endpoint", served.endpoint, "--tls-root", str(served.ca)),
        "SELECT VIN FROM Cars WHERE VIN = 'T1'",
    )
    assert "T1" in done.stdout


def _start_session(url: str, context: ssl.SSLContext | None) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps({"StartSession": {"LedgerName": "any"}}).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "QLDBSession.SendCommand",
            "Authorization": AUTHORIZATION,
        },
    )
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return response.status


def test_the_qldb_session_api_over_tls_only(served: Served) -> None:
    assert served.qldb_url.startswith("https://")
    context = ssl.create_default_context(cafile=str(served.ca))
    assert _start_session(served.qldb_url, context) == 200
    plain = served.qldb_url.replace("https://", "http://")
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        _start_session(plain, None)
