"""The ledgerdb service as clients use it: a real ``consortium ledger serve`` process, real
gRPC, the Python client and the raw stubs, and the CLI (query, revision, shell) both
against the server and embedded."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from amazon.ion import simpleion

from ledgerdb.block import new_id
from ledgerdb.client import LedgerClient
from ledgerdb.database import LedgerDatabase
from ledgerdb.errors import BlockNotFound, InvalidInput, LimitExceeded, OccConflict
from ledgerdb.hashing import dot
from ledgerdb.partiql.errors import PartiQLSyntaxError
from ledgerdb.service import ERROR_KEY, LedgerServer
from ledgerdb.sessions import TransactionNotOpen
from proto import ledgerdb_pb2 as pb
from proto import ledgerdb_pb2_grpc as pb_grpc
from tests.support.processes import NodeProcess, consortium

ROOT = Path(__file__).resolve().parents[2]
SERVING = r"ledgerdb serving .* on 127\.0\.0\.1:(\d+)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``consortium ledger serve`` subprocess; yields its endpoint."""
    directory = tmp_path_factory.mktemp("served") / "db"
    node = NodeProcess(["ledger", "serve", "--ledger", str(directory), "--port", "0"], cwd=ROOT)
    try:
        yield f"127.0.0.1:{node.wait_for(SERVING).group(1)}"
    finally:
        assert node.stop() == 0, node.output
        assert "ledgerdb stopped" in node.output


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[LedgerClient]:
    with LedgerClient(server) as connected:
        yield connected


@pytest.fixture(scope="module")
def stub(server: str) -> Iterator[pb_grpc.LedgerDBStub]:
    with grpc.insecure_channel(server) as channel:
        yield pb_grpc.LedgerDBStub(channel)


def _table(client: LedgerClient, *indexes: str) -> str:
    name = "T" + new_id()[:10]
    client.execute(f"CREATE TABLE {name}")
    for path in indexes:
        client.execute(f"CREATE INDEX ON {name} ({path})")
    return name


def _ion(value: object) -> bytes:
    return simpleion.dumps(value, binary=True)


def _status(call, *args) -> grpc.RpcError:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        call(*args)
    return caught.value


def _session_transaction(stub: pb_grpc.LedgerDBStub) -> tuple[str, str]:
    token = stub.StartSession(pb.StartSessionRequest()).session_token
    txid = stub.StartTransaction(pb.StartTransactionRequest(session_token=token)).transaction_id
    return token, txid


# ---- basics -------------------------------------------------------------------------------


def test_health_is_serving(client: LedgerClient) -> None:
    assert client.health()


def test_transaction_round_trip_and_revision_proof(client: LedgerClient) -> None:
    table = _table(client, "VIN")
    transaction = client.start_transaction()
    assert len(transaction.transaction_id) == 22 and transaction.transaction_id.isalnum()
    inserted = transaction.execute(f"INSERT INTO {table} ?", {"VIN": "1N4AL", "Year": 2020})
    document_id = str(inserted.values[0]["documentId"])
    commit = transaction.commit()
    assert commit.transaction_id == transaction.transaction_id
    assert commit.block_address is not None
    found = client.start_transaction()
    outcome = found.execute(f"SELECT * FROM {table} WHERE VIN = ?", "1N4AL", include_plan=True)
    found.commit()
    assert outcome.values == [{"VIN": "1N4AL", "Year": 2020}]
    assert outcome.plan is not None and outcome.plan.uses_index
    proof = client.get_revision(document_id, commit.block_address.sequence_no)
    assert proof.revision["data"] == {"VIN": "1N4AL", "Year": 2020}
    block, block_proof = client.get_block(commit.block_address.sequence_no)
    assert block.block_hash == proof.block.block_hash and block_proof == proof.block_proof
    exported = list(client.export(commit.block_address.sequence_no))
    assert exported[0].block_hash == block.block_hash


def test_explain_says_whether_an_index_is_used(client: LedgerClient) -> None:
    table = _table(client, "GovId")
    assert client.explain(f"SELECT * FROM {table} WHERE GovId = ?", "X").uses_index
    assert not client.explain(f"SELECT * FROM {table} WHERE Name = 'x'").uses_index


# ---- OCC ----------------------------------------------------------------------------------


def test_two_clients_read_modify_write_one_commits(server: str, stub: pb_grpc.LedgerDBStub) -> None:
    with LedgerClient(server) as first, LedgerClient(server) as second:
        table = _table(first)
        first.execute(f"INSERT INTO {table} ?", {"k": "a", "n": 0})
        one, two = first.start_transaction(), second.start_transaction()
        for transaction in (one, two):
            transaction.execute(f"SELECT * FROM {table} WHERE k = 'a'")
            transaction.execute(f"UPDATE {table} SET n = n + 1 WHERE k = 'a'")
        one.commit()
        with pytest.raises(OccConflict):
            two.commit()
        assert first.execute(f"SELECT VALUE n FROM {table}").values == [1]
    # the same conflict on the wire is ABORTED, named in the trailing metadata
    token_a, txid_a = _session_transaction(stub)
    token_b, txid_b = _session_transaction(stub)
    for token, txid in ((token_a, txid_a), (token_b, txid_b)):
        stub.ExecuteStatement(
            pb.ExecuteStatementRequest(
                session_token=token,
                transaction_id=txid,
                statement=f"UPDATE {table} SET n = n + 1 WHERE k = 'a'",
            )
        )
    stub.CommitTransaction(
        pb.CommitTransactionRequest(session_token=token_a, transaction_id=txid_a)
    )
    error = _status(
        stub.CommitTransaction,
        pb.CommitTransactionRequest(session_token=token_b, transaction_id=txid_b),
    )
    assert error.code() is grpc.StatusCode.ABORTED
    assert dict(error.trailing_metadata())[ERROR_KEY] == "OccConflict"


def test_execute_lambda_retries_conflicts_to_success(server: str) -> None:
    with LedgerClient(server) as setup:
        table = _table(setup)
        setup.execute(f"INSERT INTO {table} ?", {"k": "counter", "n": 0})
    increments, threads = 5, 4

    def bump(transaction) -> None:  # type: ignore[no-untyped-def]
        (n,) = transaction.execute(f"SELECT VALUE n FROM {table} WHERE k = 'counter'").values
        transaction.execute(f"UPDATE {table} SET n = ? WHERE k = 'counter'", n + 1)

    def worker() -> None:
        with LedgerClient(server) as client:
            for _ in range(increments):
                client.execute_lambda(bump, retry_limit=50)

    workers = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    with LedgerClient(server) as check:
        assert check.execute(f"SELECT VALUE n FROM {table}").values == [increments * threads]


# ---- paging -------------------------------------------------------------------------------


def test_large_results_come_in_pages(client: LedgerClient, stub: pb_grpc.LedgerDBStub) -> None:
    table = _table(client)
    for start in range(0, 450, 40):  # at most 40 documents per transaction, as QLDB
        rows = [{"n": n} for n in range(start, min(start + 40, 450))]
        client.execute(f"INSERT INTO {table} ?", rows)
    values = client.start_transaction().execute(f"SELECT VALUE n FROM {table}").values
    assert sorted(values) == list(range(450))
    token, txid = _session_transaction(stub)
    first = stub.ExecuteStatement(
        pb.ExecuteStatementRequest(
            session_token=token, transaction_id=txid, statement=f"SELECT * FROM {table}"
        )
    ).first_page
    assert len(first.values) == 200 and first.next_page_token
    fetch = pb.FetchPageRequest(
        session_token=token, transaction_id=txid, next_page_token=first.next_page_token
    )
    second = stub.FetchPage(fetch).page
    assert len(second.values) == 200 and second.next_page_token
    assert _status(stub.FetchPage, fetch).code() is grpc.StatusCode.INVALID_ARGUMENT
    third = stub.FetchPage(
        pb.FetchPageRequest(
            session_token=token, transaction_id=txid, next_page_token=second.next_page_token
        )
    ).page
    assert len(third.values) == 50 and not third.next_page_token


# ---- errors -------------------------------------------------------------------------------


def test_error_statuses_name_the_problem(client: LedgerClient, stub: pb_grpc.LedgerDBStub) -> None:
    table = _table(client)
    tip = client.digest().tip.sequence_no
    token, txid = _session_transaction(stub)

    def execute(statement: str, *parameters: bytes) -> grpc.RpcError:
        request = pb.ExecuteStatementRequest(
            session_token=token, transaction_id=txid, statement=statement, parameters=parameters
        )
        return _status(stub.ExecuteStatement, request)

    syntax = execute("SELECT * FROM WHERE")
    assert syntax.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "line 1, column" in syntax.details()
    bad_ion = execute(
        f"INSERT INTO {table} VALUE {{'a': ?, 'b': ?}}", _ion(1), b"\xe0\x01\x00\xea\xff"
    )
    assert bad_ion.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "parameters[2]" in bad_ion.details()
    not_binary = execute("SELECT ? FROM <<1>>", b"{a: 1}")
    assert "parameters[1]" in not_binary.details()
    unknown_table = execute("SELECT * FROM NoSuchTable")
    assert unknown_table.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "NoSuchTable" in unknown_table.details()
    # the transaction survives failed statements, and commits without having written
    stub.CommitTransaction(pb.CommitTransactionRequest(session_token=token, transaction_id=txid))
    after_commit = execute("SELECT 1 FROM <<1>>")
    assert after_commit.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "committed" in after_commit.details()
    unknown_session = _status(
        stub.StartTransaction, pb.StartTransactionRequest(session_token="no-such-session")
    )
    assert unknown_session.code() is grpc.StatusCode.NOT_FOUND
    assert "session_token" in unknown_session.details()
    unknown_transaction = _status(
        stub.CommitTransaction, pb.CommitTransactionRequest(session_token=token, transaction_id="x")
    )
    assert unknown_transaction.code() is grpc.StatusCode.FAILED_PRECONDITION
    beyond = _status(stub.GetBlock, pb.GetBlockRequest(sequence_no=10**9))
    assert beyond.code() is grpc.StatusCode.OUT_OF_RANGE
    # nothing above wrote a block, and the server still serves
    assert client.digest().tip.sequence_no == tip
    assert client.health()


def test_client_raises_the_embedded_exceptions(client: LedgerClient) -> None:
    table = _table(client, "a", "b", "c", "d", "e")
    with pytest.raises(LimitExceeded, match="indexes per table"):
        client.execute(f"CREATE INDEX ON {table} (f)")
    with pytest.raises(PartiQLSyntaxError, match="line 1"):
        client.execute("SELEC 1")
    with pytest.raises(InvalidInput):
        client.execute(f"INSERT INTO {table} ?", {"big": "x" * 200_000})
    with pytest.raises(BlockNotFound):
        client.get_block(10**9)
    transaction = client.start_transaction()
    transaction.commit()
    with pytest.raises(TransactionNotOpen):
        transaction.execute("SELECT 1 FROM <<1>>")
    assert client.execute(f"SELECT COUNT(*) FROM {table}").values == [{"_1": 0}]


# ---- expiry (an in-process server with short limits; same gRPC, same database) ------------


class _ThreadServer:
    def __init__(self, directory: Path, **limits: float) -> None:
        self.database = LedgerDatabase.open(directory, create=True)
        self.server = LedgerServer(self.database, **limits)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        port = asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1:0"), self.loop).result(
            10
        )
        self.endpoint = f"127.0.0.1:{port}"

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(1), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.database.close()


def test_transactions_expire_and_idle_sessions_are_reaped(tmp_path: Path) -> None:
    served = _ThreadServer(
        tmp_path / "db", transaction_lifetime=0.3, session_idle=0.8, reap_every=0.1
    )
    try:
        with grpc.insecure_channel(served.endpoint) as channel:
            stub = pb_grpc.LedgerDBStub(channel)
            token, txid = _session_transaction(stub)
            time.sleep(0.4)
            expired = _status(
                stub.CommitTransaction,
                pb.CommitTransactionRequest(session_token=token, transaction_id=txid),
            )
            assert expired.code() is grpc.StatusCode.FAILED_PRECONDITION
            assert "expired" in expired.details()
            time.sleep(1.1)  # idle for longer than 0.8 s: the reaper ended the session
            gone = _status(stub.StartTransaction, pb.StartTransactionRequest(session_token=token))
            assert gone.code() is grpc.StatusCode.NOT_FOUND
    finally:
        served.close()


# ---- the CLI --------------------------------------------------------------------------------


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return consortium(ROOT, "ledger", *args, check=False, stdin=stdin)


@dataclass
class Target:
    """Where the CLI points (--endpoint or --ledger) and a fast way to prepare tables there."""

    args: list[str]
    endpoint: str | None = None
    directory: Path | None = None

    def prepare(self, *statements: str) -> list[Any]:
        """Run statements in-process (each committed); returns the last one's values."""
        if self.endpoint is not None:
            with LedgerClient(self.endpoint) as client:
                return [client.execute(s).values for s in statements][-1]
        with LedgerDatabase.open(self.directory) as database:
            return [database.execute(s).values for s in statements][-1]


@pytest.fixture(params=["endpoint", "embedded"])
def target(request: pytest.FixtureRequest, server: str, tmp_path: Path) -> Target:
    if request.param == "endpoint":
        return Target(["--endpoint", server], endpoint=server)
    directory = tmp_path / "embedded"
    return Target(["--ledger", str(directory)], directory=directory)


def test_cli_query_plan_json_and_errors(target: Target) -> None:
    table = "Q" + new_id()[:8]
    target.prepare(f"CREATE TABLE {table}", f"CREATE INDEX ON {table} (VIN)")
    inserted = cli(
        "query", *target.args, f"INSERT INTO {table} ?", "--param", '{VIN: "V1", Year: 2020}'
    )
    assert inserted.returncode == 0, inserted.stderr
    assert "documentId" in inserted.stdout
    found = cli(
        "query", *target.args, f"SELECT * FROM {table} WHERE VIN = ?", "--param", '"V1"', "--plan"
    )
    assert found.returncode == 0, found.stderr
    values = [line for line in found.stdout.splitlines() if not line.startswith("//")]
    assert simpleion.loads("\n".join(values)) == {"VIN": "V1", "Year": 2020}
    assert "index used" in found.stdout
    as_json = cli("query", *target.args, f"SELECT VALUE Year FROM {table}", "--output", "json")
    assert json.loads(as_json.stdout)["values"] == [2020]
    bad = cli("query", *target.args, "SELECT * FROM")
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1


def test_cli_revision_is_verified(target: Target) -> None:
    table = "R" + new_id()[:8]
    target.prepare(f"CREATE TABLE {table}")
    inserted = cli("query", *target.args, f"INSERT INTO {table} VALUE {{'a': 1}}", "-o", "json")
    record = json.loads(inserted.stdout)
    document_id = record["values"][0]["documentId"]
    sequence_no = str(record["blockAddress"]["sequenceNo"])
    shown = cli(
        "revision", *target.args, "--document-id", document_id, "--seq", sequence_no, "-o", "json"
    )
    assert shown.returncode == 0, shown.stderr
    answer = json.loads(shown.stdout)
    assert answer["verified"] is True and answer["revision"]["data"] == {"a": 1}
    folded = base64.b64decode(answer["revision"]["hash"])
    for sibling in answer["qldbProof"]:  # QLDB's shape: from the revision hash, with dot
        folded = dot(folded, base64.b64decode(sibling))
    assert base64.b64encode(folded).decode() == answer["digest"]
    wrong = cli("revision", *target.args, "--document-id", "nope", "--seq", sequence_no)
    assert wrong.returncode == 2 and "nope" in wrong.stderr


def test_cli_shell_piped(target: Target) -> None:
    table = "S" + new_id()[:8]
    script = f"""CREATE TABLE {table};
INSERT INTO {table}
  VALUE {{'name': 'auto'}};
start transaction
INSERT INTO {table} VALUE {{'name': 'kept'}};
commit
begin
INSERT INTO {table} VALUE {{'name': 'dropped'}};
abort
SELECT VALUE name FROM {table}
  WHERE name <> 'x'

help
exit
SELECT 'never' FROM <<1>>;
"""
    result = cli("shell", *target.args, stdin=script)
    assert result.returncode == 0, result.stderr
    assert "committed (block" in result.stdout and "aborted" in result.stdout
    assert '"auto"' in result.stdout and '"kept"' in result.stdout
    assert '"dropped"' not in result.stdout.split("aborted")[1]
    assert "read IOs" in result.stdout and "start transaction" in result.stdout
    assert "never" not in result.stdout
    failing = cli("shell", *target.args, stdin="SELECT * FROM;\nSELECT 1 FROM <<1>>;\n")
    assert failing.returncode == 2 and "error: " in failing.stderr
    assert "1 document(s)" in failing.stdout  # the shell went on after the error


def test_rebuild_refuses_a_served_database_and_works_embedded(tmp_path: Path) -> None:
    directory = tmp_path / "db"
    Target([], directory=directory).prepare(
        "CREATE TABLE Car", "INSERT INTO Car VALUE {'VIN': 'V'}"
    )
    node = NodeProcess(["ledger", "serve", "--ledger", str(directory), "--port", "0"], cwd=ROOT)
    try:
        node.wait_for(SERVING)
        refused = cli("rebuild", "--ledger", str(directory))
        assert refused.returncode == 2 and "cannot rebuild" in refused.stderr
    finally:
        node.stop()
    rebuilt = cli("rebuild", "--ledger", str(directory))
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert Target([], directory=directory).prepare("SELECT VALUE VIN FROM Car") == ["V"]
    verified = cli("verify", "--ledger", str(directory))  # a database dir: its journal/
    assert verified.returncode == 0, verified.stderr
