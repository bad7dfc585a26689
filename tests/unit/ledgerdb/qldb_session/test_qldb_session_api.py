"""The QLDB session API (ledgerdb.qldb_session) over real HTTP, in front of a real database:
the commands, paging, the commit digest check, and every error shape QLDB's drivers see."""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from amazon.ion import simpleion

from ledgerdb.commit_digest import CommitDigest
from ledgerdb.database import LedgerDatabase
from ledgerdb.qldb_session import QldbSessionLimits, start_qldb_session_server

SIGNATURE = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)
HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "X-Amz-Target": "QLDBSession.SendCommand",
    "Authorization": SIGNATURE.format(service="qldb"),
}


def ion(value: Any) -> dict[str, str]:
    return {"IonBinary": base64.b64encode(simpleion.dumps(value, binary=True)).decode()}


def values_of(page: dict[str, Any]) -> list[Any]:
    return [simpleion.loads(base64.b64decode(v["IonBinary"])) for v in page["Values"]]


class Api:
    """A raw SendCommand client: what a driver sends, without a driver's checks."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http = http
        self.url = url

    async def raw(self, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else None
        async with self.http.post(
            self.url,
            data=data,
            json=None if data is not None else body,
            headers=HEADERS if headers is None else headers,
        ) as response:
            assert response.headers["Content-Type"].startswith("application/x-amz-json-1.0")
            assert response.headers["x-amzn-RequestId"]
            return response.status, await response.json(content_type=None)

    async def ok(self, body: dict[str, Any]) -> dict[str, Any]:
        status, payload = await self.raw(body)
        assert status == 200, payload
        return payload

    async def error(self, body: Any, code: str, status: int = 400, **kwargs: Any) -> str:
        got, payload = await self.raw(body, **kwargs)
        assert (got, payload.get("__type")) == (status, code), payload
        return payload["message"]

    async def session(self) -> str:
        reply = await self.ok({"StartSession": {"LedgerName": "vehicles"}})
        return reply["StartSession"]["SessionToken"]

    async def begin(self, token: str) -> Transaction:
        reply = await self.ok({"SessionToken": token, "StartTransaction": {}})
        return Transaction(self, token, reply["StartTransaction"]["TransactionId"])

    async def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[Any]]:
        """One committed transaction in a new session, as a driver would run it."""
        transaction = await self.begin(await self.session())
        results = [await transaction.execute(s, *p) for s, p in statements]
        await transaction.commit()
        return results


class Transaction:
    def __init__(self, api: Api, token: str, transaction_id: str) -> None:
        self.api = api
        self.token = token
        self.id = transaction_id
        self.digest = CommitDigest(transaction_id)

    def execute_body(self, statement: str, *parameters: Any) -> dict[str, Any]:
        self.digest.add_statement(statement, parameters)
        return {
            "SessionToken": self.token,
            "ExecuteStatement": {
                "TransactionId": self.id,
                "Statement": statement,
                "Parameters": [ion(p) for p in parameters],
            },
        }

    async def execute(self, statement: str, *parameters: Any) -> list[Any]:
        reply = await self.api.ok(self.execute_body(statement, *parameters))
        return values_of(reply["ExecuteStatement"]["FirstPage"])

    def commit_body(self, digest: bytes | None = None) -> dict[str, Any]:
        claimed = self.digest.value if digest is None else digest
        return {
            "SessionToken": self.token,
            "CommitTransaction": {
                "TransactionId": self.id,
                "CommitDigest": base64.b64encode(claimed).decode(),
            },
        }

    async def commit(self) -> dict[str, Any]:
        return (await self.api.ok(self.commit_body()))["CommitTransaction"]


async def _serve(directory: Path, limits: QldbSessionLimits | None) -> AsyncIterator[Api]:
    database = LedgerDatabase.open(directory)
    runner, port = await start_qldb_session_server(
        database, "127.0.0.1", 0, ledger_name="vehicles", limits=limits
    )
    try:
        async with aiohttp.ClientSession() as http:
            yield Api(http, f"http://127.0.0.1:{port}/")
    finally:
        await runner.cleanup()
        database.close()


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async for client in _serve(tmp_path / "ledger", None):
        yield client


@pytest.fixture
async def vehicles(api: Api) -> Api:
    await api.run([("CREATE TABLE Vehicle", ()), ("CREATE INDEX ON Vehicle (VIN)", ())])
    return api


# --- the commands ------------------------------------------------------------------------------


async def test_a_transaction_runs_statements_and_commits_with_the_drivers_digest(
    vehicles: Api,
) -> None:
    transaction = await vehicles.begin(await vehicles.session())
    assert re.fullmatch(r"[A-Za-z0-9]{22}", transaction.id)
    inserted = await transaction.execute("INSERT INTO Vehicle ?", {"VIN": "V1", "Year": 2011})
    assert len(inserted) == 1 and len(inserted[0]["documentId"]) == 22
    body = transaction.execute_body("SELECT v.Year FROM Vehicle AS v WHERE v.VIN = ?", "V1")
    body["ExecuteStatement"]["Parameters"] = [{"IonText": '"V1"'}]  # Ion text works too
    reply = await vehicles.ok(body)
    assert values_of(reply["ExecuteStatement"]["FirstPage"]) == [{"Year": 2011}]
    assert "NextPageToken" not in reply["ExecuteStatement"]["FirstPage"]
    assert reply["ExecuteStatement"]["ConsumedIOs"]["ReadIOs"] >= 0
    assert isinstance(
        reply["ExecuteStatement"]["TimingInformation"]["ProcessingTimeMilliseconds"], int
    )
    committed = await transaction.commit()
    assert committed["TransactionId"] == transaction.id
    assert base64.b64decode(committed["CommitDigest"]) == transaction.digest.value
    [rows] = await vehicles.run([("SELECT * FROM Vehicle", ())])
    assert rows == [{"VIN": "V1", "Year": 2011}]


async def test_a_commit_digest_mismatch_is_refused_and_nothing_is_written(vehicles: Api) -> None:
    token = await vehicles.session()
    transaction = await vehicles.begin(token)
    await transaction.execute("INSERT INTO Vehicle ?", {"VIN": "FORGED"})
    # What a client would claim had a statement been altered on the way.
    forged = CommitDigest(transaction.id)
    forged.add_statement("INSERT INTO Vehicle ?", [{"VIN": "OTHER"}])
    message = await vehicles.error(transaction.commit_body(forged.value), "BadRequestException")
    assert "CommitDigest" in message
    [rows] = await vehicles.run([("SELECT * FROM Vehicle", ())])
    assert rows == []
    # The transaction is gone, the session goes on.
    await vehicles.error(transaction.commit_body(), "InvalidSessionException")
    again = await vehicles.begin(token)
    await again.execute("INSERT INTO Vehicle ?", {"VIN": "REAL"})
    await again.commit()


async def test_results_are_paged_and_fetch_page_returns_the_rest_once(vehicles: Api) -> None:
    for first in range(0, 250, 40):  # QLDB allows 40 documents per transaction
        await vehicles.run(
            [
                ("INSERT INTO Vehicle ?", ({"VIN": f"V{n}"},))
                for n in range(first, min(first + 40, 250))
            ]
        )
    transaction = await vehicles.begin(await vehicles.session())
    reply = await vehicles.ok(transaction.execute_body("SELECT VALUE v.VIN FROM Vehicle AS v"))
    first_page = reply["ExecuteStatement"]["FirstPage"]
    assert len(first_page["Values"]) == 200
    fetch = {
        "SessionToken": transaction.token,
        "FetchPage": {
            "TransactionId": transaction.id,
            "NextPageToken": first_page["NextPageToken"],
        },
    }
    page = (await vehicles.ok(fetch))["FetchPage"]["Page"]
    assert "NextPageToken" not in page
    vins = values_of(first_page) + values_of(page)
    assert sorted(vins) == sorted(f"V{n}" for n in range(250))
    message = await vehicles.error(fetch, "BadRequestException")  # a page is read once
    assert first_page["NextPageToken"] in message
    await transaction.commit()


async def test_abort_and_end_session_write_nothing(vehicles: Api) -> None:
    token = await vehicles.session()
    transaction = await vehicles.begin(token)
    await transaction.execute("INSERT INTO Vehicle ?", {"VIN": "ABORTED"})
    await vehicles.ok({"SessionToken": token, "AbortTransaction": {}})
    await vehicles.ok({"SessionToken": token, "AbortTransaction": {}})  # none open: fine
    ended = await vehicles.begin(token)
    await ended.execute("INSERT INTO Vehicle ?", {"VIN": "ENDED"})
    await vehicles.ok({"SessionToken": token, "EndSession": {}})
    message = await vehicles.error(ended.commit_body(), "InvalidSessionException")
    assert "session" in message.lower()
    [rows] = await vehicles.run([("SELECT * FROM Vehicle", ())])
    assert rows == []


# --- errors: AWS JSON 1.0 shapes, and the server keeps serving ---------------------------------


async def test_occ_conflict_between_two_sessions(vehicles: Api) -> None:
    await vehicles.run([("INSERT INTO Vehicle ?", ({"VIN": "C", "n": 0},))])
    first = await vehicles.begin(await vehicles.session())
    second = await vehicles.begin(await vehicles.session())
    for transaction in (first, second):
        await transaction.execute("SELECT * FROM Vehicle WHERE VIN = 'C'")
        await transaction.execute("UPDATE Vehicle SET n = n + 1 WHERE VIN = 'C'")
    await first.commit()
    await vehicles.error(second.commit_body(), "OccConflictException")
    [rows] = await vehicles.run([("SELECT n FROM Vehicle WHERE VIN = 'C'", ())])
    assert rows == [{"n": 1}]


def _body(command: str, arguments: dict[str, Any], token: str = "AAAA") -> dict[str, Any]:
    return {"SessionToken": token, command: arguments}


@pytest.mark.parametrize(
    ("body", "code", "names"),
    [
        ({"StartSession": {"LedgerName": "no--such"}}, "BadRequestException", "LedgerName"),
        ({"StartSession": {"LedgerName": "other"}}, "BadRequestException", "other"),
        ({"StartSession": {}}, "BadRequestException", "LedgerName"),
        ({}, "BadRequestException", "exactly one command"),
        (
            {"StartSession": {"LedgerName": "vehicles"}, "EndSession": {}},
            "BadRequestException",
            "exactly one command",
        ),
        ({"StartTransaction": {}}, "BadRequestException", "SessionToken"),
        ({"Bogus": {}}, "BadRequestException", "Bogus"),
        (
            _body("StartTransaction", {}, token="no such session"),
            "BadRequestException",
            "SessionToken",
        ),
        (_body("StartTransaction", {}), "InvalidSessionException", "session"),
        (_body("StartTransaction", {"Extra": 1}), "BadRequestException", "Extra"),
        (
            _body("ExecuteStatement", {"TransactionId": "short", "Statement": "SELECT 1"}),
            "BadRequestException",
            "TransactionId",
        ),
        (
            _body("ExecuteStatement", {"TransactionId": "A" * 22}),
            "BadRequestException",
            "Statement",
        ),
        (
            _body("CommitTransaction", {"TransactionId": "A" * 22, "CommitDigest": "***"}),
            "BadRequestException",
            "CommitDigest",
        ),
        (
            _body("FetchPage", {"TransactionId": "A" * 22, "NextPageToken": "!"}),
            "BadRequestException",
            "NextPageToken",
        ),
    ],
)
async def test_bad_requests_name_the_field(
    api: Api, body: dict[str, Any], code: str, names: str
) -> None:
    message = await api.error(body, code)
    assert names.lower() in message.lower()
    await api.session()  # still serving


@pytest.mark.parametrize(
    ("headers", "body", "status", "code"),
    [
        ({**HEADERS, "Authorization": ""}, None, 403, "MissingAuthenticationTokenException"),
        ({**HEADERS, "Authorization": "Bearer x"}, None, 400, "IncompleteSignatureException"),
        (
            {**HEADERS, "Authorization": SIGNATURE.format(service="dynamodb")},
            None,
            403,
            "InvalidSignatureException",
        ),
        ({**HEADERS, "X-Amz-Target": "QLDBSession.Other"}, None, 400, "UnknownOperationException"),
        ({**HEADERS, "Content-Type": "text/plain"}, None, 400, "BadRequestException"),
        (HEADERS, b"{not json", 400, "SerializationException"),
        (HEADERS, b"[1, 2]", 400, "SerializationException"),
        (HEADERS, b"[" * 100_000 + b"]" * 100_000, 400, "SerializationException"),
    ],
)
async def test_protocol_errors(
    api: Api, headers: dict[str, str], body: bytes | None, status: int, code: str
) -> None:
    await api.error(
        body or {"StartSession": {"LedgerName": "vehicles"}}, code, status, headers=headers
    )
    await api.session()


@pytest.mark.parametrize(
    ("holder", "names"),
    [
        ({"IonBinary": base64.b64encode(b"\xe0\x01\x00\xea\xff").decode()}, "IonBinary"),
        ({"IonBinary": base64.b64encode(b"not ion").decode()}, "IonBinary"),
        ({"IonBinary": "@@@"}, "base64"),
        ({"IonText": "{unclosed"}, "IonText"),
        ({"IonText": "1 2"}, "IonText"),
        ({"IonText": "1", "IonBinary": ion(1)["IonBinary"]}, "exactly one"),
        ({}, "exactly one"),
    ],
)
async def test_invalid_parameters_are_bad_requests_and_the_transaction_goes_on(
    vehicles: Api, holder: dict[str, str], names: str
) -> None:
    """A statement refused before it reaches the transaction is not part of it: the
    transaction goes on, and its digest covers only the statements that reached it."""
    transaction = await vehicles.begin(await vehicles.session())
    body = {
        "SessionToken": transaction.token,
        "ExecuteStatement": {
            "TransactionId": transaction.id,
            "Statement": "INSERT INTO Vehicle ?",
            "Parameters": [holder],
        },
    }
    message = await vehicles.error(body, "BadRequestException")
    assert "Parameters[0]" in message and names in message
    await transaction.execute("INSERT INTO Vehicle ?", {"VIN": "OK"})
    await transaction.commit()


async def test_partiql_errors_are_bad_requests(vehicles: Api) -> None:
    transaction = await vehicles.begin(await vehicles.session())
    syntax = await vehicles.error(
        transaction.execute_body("SELEC * FROM Vehicle"), "BadRequestException"
    )
    assert "line 1, column" in syntax
    unknown = await vehicles.error(
        transaction.execute_body("SELECT * FROM NoSuchTable"), "BadRequestException"
    )
    assert "NoSuchTable" in unknown
    long = transaction.execute_body("SELECT 1")
    long["ExecuteStatement"]["Statement"] = "x" * 100_001
    assert "Statement" in await vehicles.error(long, "BadRequestException")


@pytest.fixture
async def strict(tmp_path: Path) -> AsyncIterator[Api]:
    limits = QldbSessionLimits(
        max_sessions=3,
        max_open_transactions=2,
        transaction_lifetime=0.5,
        session_idle=1.5,
        max_body_bytes=256 * 1024,
    )
    async for client in _serve(tmp_path / "strict", limits):
        yield client


async def test_expired_transaction_is_an_invalid_session_the_drivers_recognise(
    strict: Api,
) -> None:
    token = await strict.session()
    transaction = await strict.begin(token)
    await asyncio.sleep(0.7)
    message = await strict.error(transaction.execute_body("SELECT 1"), "InvalidSessionException")
    assert re.search("Transaction .* has expired", message), message
    await strict.begin(token)  # the session can start another


async def test_idle_sessions_are_forgotten(strict: Api) -> None:
    token = await strict.session()
    await asyncio.sleep(2.8)  # idle limit 1.5 s, reaped each second
    await strict.error({"SessionToken": token, "StartTransaction": {}}, "InvalidSessionException")


async def test_too_many_sessions_and_transactions(strict: Api) -> None:
    tokens = [await strict.session() for _ in range(3)]
    await strict.error({"StartSession": {"LedgerName": "vehicles"}}, "RateExceededException")
    await strict.begin(tokens[0])
    await strict.begin(tokens[1])
    message = await strict.error(
        {"SessionToken": tokens[2], "StartTransaction": {}}, "LimitExceededException"
    )
    assert "2" in message
    await strict.ok({"SessionToken": tokens[0], "AbortTransaction": {}})
    await strict.begin(tokens[2])


async def test_an_oversized_body_is_a_bad_request(strict: Api) -> None:
    token = await strict.session()
    body = {"SessionToken": token, "EndSession": {}, "Padding": "x" * 300_000}
    message = await strict.error(body, "BadRequestException")
    assert "262144 bytes" in message
    await strict.ok({"SessionToken": token, "EndSession": {}})
