"""A running ``consortium ledger serve`` (gRPC and QLDB's session API) fed malformed
requests, PartiQL text and Ion documents: every refusal has the documented shape (a status
from ``ledgerdb.service``'s table with the error class in the trailing metadata, or QLDB's
``{"__type", "message"}`` with HTTP 4xx), the journal's digest is unchanged by every
refused input, and the server still answers a good request."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from amazon.ion import simpleion
from grpc_health.v1 import health_pb2
from hypothesis import given
from hypothesis import strategies as st

from ledgerdb.client import LedgerClient
from proto import ledgerdb_pb2 as pb
from tests.support.fuzzing import TRIED, budget, call_raw, check_answer, inputs, mutated
from tests.support.processes import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
SERVICE = pb.DESCRIPTOR.services_by_name["LedgerDB"]
HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"].methods_by_name["Check"]
# the statuses ledgerdb.service maps its errors to (ledgerdb/service.py _STATUSES)
REFUSALS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.ABORTED,
}
STATEMENTS = (
    "SELECT * FROM Cars WHERE VIN = 'A1'",
    "SELECT c.VIN, c.Owner.Name FROM Cars AS c WHERE c.Year > 2000 ORDER BY c.VIN",
    "SELECT * FROM _ql_committed_Cars BY id",
    "SELECT * FROM history(Cars) AS h WHERE h.metadata.id = 'x'",
    "UPDATE Cars SET Year = 2001 WHERE VIN = 'A1'",
    "INSERT INTO Cars << {'VIN': 'B2', 'Year': 1999} >>",
    "DELETE FROM Cars WHERE VIN = 'zz'",
    "CREATE INDEX ON Cars (Year)",
)
SEED_DOCUMENT = {"VIN": "A1", "Year": 2020, "Tags": ["a", 1.5], "Owner": {"Name": "Ann"}}


@dataclass
class Served:
    grpc_address: str
    qldb_url: str
    client: LedgerClient
    channel: grpc.Channel


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("fuzz-ledger") / "db"
    node = NodeProcess(
        ["ledger", "serve", "--ledger", str(directory), "--port", "0", "--qldb-port", "0"],
        cwd=ROOT,
    )
    try:
        qldb = node.wait_for(r"QLDB session API listening on (http://\S+)").group(1)
        port = node.wait_for(r"ledgerdb serving .* on 127\.0\.0\.1:(\d+)").group(1)
        address = f"127.0.0.1:{port}"
        with LedgerClient(address, timeout=10) as client, grpc.insecure_channel(address) as ch:
            client.execute("CREATE TABLE Cars")
            client.execute("INSERT INTO Cars ?", SEED_DOCUMENT)
            yield Served(address, qldb, client, ch)
    finally:
        node.stop()


def _serving(served: Served) -> None:
    assert served.client.health()


def _check_refusal(error: grpc.RpcError) -> None:
    assert error.code() in REFUSALS, (error.code(), error.details())
    assert error.details()
    classes = [value for key, value in error.trailing_metadata() or () if key == "ledgerdb-error"]
    assert classes, f"no ledgerdb-error metadata on {error.code()} {error.details()!r}"


@pytest.mark.parametrize("method", [*SERVICE.methods, HEALTH], ids=lambda m: m.full_name)
def test_every_method_answers_bad_requests_in_shape(served: Served, method: object) -> None:
    seeds = [
        pb.ExecuteRequest(statement=STATEMENTS[0]).SerializeToString(),
        pb.GetBlockRequest().SerializeToString(),
    ]

    @budget(25)
    @given(data=inputs(method.input_type, seeds))
    def one(data: bytes) -> None:
        TRIED[f"gRPC ledgerdb {method.full_name}"] += 1
        before = served.client.digest()
        answer = call_raw(served.channel, method, data)
        check_answer(method, data, answer)
        if isinstance(answer, grpc.RpcError):
            assert served.client.digest() == before
        _serving(served)

    one()


def _execute(served: Served, statement: str, parameters: list[bytes]) -> grpc.RpcError | None:
    request = pb.ExecuteRequest(statement=statement, parameters=parameters)
    call = served.channel.unary_stream(
        "/ledgerdb.v1.LedgerDB/Execute",
        request_serializer=pb.ExecuteRequest.SerializeToString,
        response_deserializer=pb.ExecuteResponse.FromString,
    )
    try:
        list(call(request, timeout=10))
    except grpc.RpcError as error:
        return error
    return None


PARTIQL_WORDS = st.sampled_from(
    (
        *("SELECT", "FROM", "WHERE", "INSERT", "INTO", "UPDATE", "SET", "DELETE", "CREATE"),
        *("TABLE", "INDEX", "ON", "DROP", "AS", "AT", "BY", "VALUE", "REMOVE", "AND", "OR"),
        *("NOT", "IN", "IS", "NULL", "MISSING", "EXISTS", "LIKE", "BETWEEN", "ORDER", "LIMIT"),
        *("Cars", "history", "(", ")", "[", "]", "{", "}", "<<", ">>", ",", ".", ":", "*"),
        *("?", "=", "<>", "<", ">", "+", "-", "/", "||", "'A1'", "1", "2.5", "`2020T`", "true"),
    )
)
PARTIQL = st.one_of(
    st.text(max_size=80),
    st.lists(PARTIQL_WORDS, max_size=14).map(" ".join),
    st.sampled_from(STATEMENTS).flatmap(
        lambda s: mutated(s.encode()).map(lambda b: b.decode("utf-8", "replace"))
    ),
)


@budget(150)
@given(statement=PARTIQL)
def test_partiql_text(served: Served, statement: str) -> None:
    """Text a user might type: refused as INVALID_ARGUMENT (or another mapped status)
    writing nothing; or run."""
    TRIED["PartiQL text (ledgerdb Execute)"] += 1
    before = served.client.digest()
    error = _execute(served, statement, [])
    if error is not None:
        _check_refusal(error)
        assert served.client.digest() == before
    _serving(served)


ION_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)
ION_VALUES = st.recursive(
    ION_SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ION_DOCUMENTS = st.dictionaries(st.text(max_size=8), ION_VALUES, max_size=5)
ION_BYTES = st.one_of(
    ION_DOCUMENTS.map(lambda doc: simpleion.dumps(doc, binary=True)),
    ION_DOCUMENTS.flatmap(lambda doc: mutated(simpleion.dumps(doc, binary=True))),
    st.binary(max_size=64).map(lambda tail: b"\xe0\x01\x00\xea" + tail),
    st.binary(max_size=64),
)


@budget(150)
@given(document=ION_BYTES)
def test_ion_documents(served: Served, document: bytes) -> None:
    """An Ion parameter inserted as a document: bytes that are not one Ion value are
    INVALID_ARGUMENT naming ``parameters[1]``; a non-struct is refused; nothing half-written."""
    TRIED["Ion documents (ledgerdb INSERT ?)"] += 1
    before = served.client.digest()
    error = _execute(served, "INSERT INTO Cars ?", [document])
    if error is not None:
        _check_refusal(error)
        assert served.client.digest() == before
    _serving(served)


# ---- QLDB's session API (HTTP, AWS JSON 1.0) -----------------------------------------------

AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/qldb/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)
JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text()),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
COMMANDS = st.sampled_from(
    [
        "StartSession",
        "StartTransaction",
        "EndSession",
        "CommitTransaction",
        "AbortTransaction",
        "ExecuteStatement",
        "FetchPage",
    ]
)


def _send(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "QLDBSession.SendCommand",
            "Authorization": AUTHORIZATION,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@st.composite
def qldb_bodies(draw: st.DrawFn, token: str) -> bytes:
    """Garbage, any JSON, or a SendCommand shaped body with fields drawn at random."""
    kind = draw(st.sampled_from(("bytes", "json", "command")))
    if kind == "bytes":
        return draw(st.binary(max_size=100))
    if kind == "json":
        return json.dumps(draw(JSON)).encode()
    command = draw(COMMANDS)
    arguments = draw(
        st.dictionaries(
            st.sampled_from(
                ["LedgerName", "TransactionId", "Statement", "Parameters", "NextPageToken"]
            ),
            JSON,
            max_size=3,
        )
    )
    if command == "ExecuteStatement" and draw(st.booleans()):
        arguments["Statement"] = draw(PARTIQL)
        ion = draw(st.lists(ION_BYTES, max_size=2))
        arguments["Parameters"] = [{"IonBinary": base64.b64encode(v).decode()} for v in ion]
    body = {command: arguments}
    if draw(st.booleans()):
        body["SessionToken"] = draw(st.one_of(st.just(token), st.text(max_size=30)))
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
def session_token(served: Served) -> str:
    status, answer = _send(served.qldb_url, b'{"StartSession": {"LedgerName": "ledger"}}')
    assert status == 200, answer
    return answer["StartSession"]["SessionToken"]


def test_qldb_session_api(served: Served, session_token: str) -> None:
    @budget(100)
    @given(body=qldb_bodies(session_token))
    def one(body: bytes) -> None:
        TRIED["QLDB session API (HTTP)"] += 1
        before = served.client.digest()
        status, answer = _send(served.qldb_url, body)
        if status != 200:
            assert 400 <= status < 500, (status, answer)
            assert set(answer) == {"__type", "message"} and answer["message"], answer
            assert served.client.digest() == before
        fresh, started = _send(served.qldb_url, b'{"StartSession": {"LedgerName": "ledger"}}')
        assert fresh == 200, started
        token = started["StartSession"]["SessionToken"]
        _send(served.qldb_url, json.dumps({"SessionToken": token, "EndSession": {}}).encode())

    one()
