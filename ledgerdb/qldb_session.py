"""QLDB's own session API (``QLDBSession.SendCommand``) in front of one ``LedgerDatabase``.

QLDB is gone and its users' code talks to this API through the QLDB drivers, so ledgerdb
serves it as botocore's ``qldb-session`` 2019-07-11 model defines it: ``POST /`` with
``X-Amz-Target: QLDBSession.SendCommand``, AWS JSON 1.0 bodies (blobs in base64), one
command per request next to the ``SessionToken``, errors as ``{"__type", "message"}`` with
HTTP 400. The unmodified ``pyqldb`` driver works against it with ``endpoint_url``
(``tests/conformance/test_pyqldb.py``).

What QLDB does, this does too:
- CommitTransaction carries the driver's commit digest; the server computes the same
  digest over the statements it was asked to run (``ledgerdb.commit_digest``) and refuses
  a mismatch with BadRequestException before committing; the transaction is then aborted,
  so nothing is written.
- Transaction ids are the database's: exactly 22 alphanumerics (botocore rejects others).
  A transaction lives 30 s; after that its session answers InvalidSessionException
  "Transaction <id> has expired", the message the drivers recognise.
- Sessions idle too long are forgotten (InvalidSessionException, which the drivers answer
  with a new session). Too many sessions is RateExceededException; too many transactions
  open at once (QLDB's active-session quota) is LimitExceededException.
- Requests must carry a SigV4 ``Authorization`` header scoped to service ``qldb``. With
  credentials configured (``ledgerdb.sigv4``) the signature is verified as AWS verified
  it: another secret, an unknown access key or a date more than 5 minutes off is refused
  with QLDB's error code. Without credentials only the header's shape is checked.

Sessions and their open transactions live in ``ledgerdb.sessions.SessionTable``, shared
with the gRPC service. The database is synchronous, so every call into it runs on a
thread pool, never on the event loop; a bad request changes nothing and the server keeps
serving.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import ssl
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from aiohttp import web
from amazon.ion import simpleion

from ledgerdb import errors
from ledgerdb.commit_digest import CommitDigest
from ledgerdb.ion_input import load_untrusted
from ledgerdb.partiql.errors import PartiQLError
from ledgerdb.qldb_permissions import LedgerAccess
from ledgerdb.sessions import (
    TRANSACTION_LIFETIME_SECONDS,
    SessionBusy,
    SessionTable,
    TransactionNotOpen,
    UnknownPage,
    UnknownSession,
)
from ledgerdb.sigv4 import Authorization, Credentials, SignatureProblem, SignedRequest, verify

__all__ = [
    "BadRequestException",
    "InvalidSessionException",
    "LimitExceededException",
    "OccConflictException",
    "QldbSessionError",
    "QldbSessionLimits",
    "QldbSessionServer",
    "RateExceededException",
    "start_qldb_session_server",
]

TARGET = "QLDBSession.SendCommand"
CONTENT_TYPE = "application/x-amz-json-1.0"
SIGNING_NAME = "qldb"
COMMANDS = (
    "StartSession",
    "StartTransaction",
    "ExecuteStatement",
    "FetchPage",
    "CommitTransaction",
    "AbortTransaction",
    "EndSession",
)
ION_BINARY_MARKER = b"\xe0\x01\x00\xea"
REAP_SECONDS = 1.0

log = logging.getLogger(__name__)
T = TypeVar("T")

# Field constraints of the qldb-session model, checked here so a hand-made request gets
# the same answer botocore's client-side validation gives.
_LEDGER_NAME = re.compile(r"(?!^.*--)(?!^[0-9]+$)(?!^-)(?!.*-$)^[A-Za-z0-9-]{1,32}$")
_TOKEN = re.compile(r"^[A-Za-z0-9+/=-]{4,1024}$")
_TRANSACTION_ID = re.compile(r"^[A-Za-z0-9]{22}$")
_MAX_STATEMENT = 100_000
_MAX_ION_BINARY = 131_072
_MAX_ION_TEXT = 1_048_576
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/"
    r"(?P<service>[^/,\s]+)/aws4_request,\s*SignedHeaders=[^,\s]+,\s*Signature=[0-9a-f]{64}$"
)


# --- errors: the model's exception shapes ---------------------------------------------------


class QldbSessionError(errors.LedgerError):
    """An error answered in AWS JSON 1.0 shape; the class name is the ``__type``."""

    status = 400

    @property
    def code(self) -> str:
        return type(self).__name__

    def body(self) -> dict[str, str]:
        return {"__type": self.code, "message": str(self)}


class BadRequestException(QldbSessionError):
    """The request or its statement is wrong (syntax, types, limits, a field); names it."""


class InvalidSessionException(QldbSessionError):
    """No such session, or no such open transaction in it (ended, expired, never begun)."""


class OccConflictException(QldbSessionError):
    """Another transaction changed what this one read; nothing was written, retry."""


class RateExceededException(QldbSessionError):
    """Too many sessions are open; end idle ones (the drivers retry)."""


class LimitExceededException(QldbSessionError):
    """Too many transactions are open at once (QLDB's active-session quota)."""


class SerializationException(QldbSessionError):
    """The body is not a JSON object."""


class UnknownOperationException(QldbSessionError):
    """The ``X-Amz-Target`` header names no operation of this service."""


class MissingAuthenticationTokenException(QldbSessionError):
    """The request carries no SigV4 ``Authorization`` header at all."""

    status = 403


class IncompleteSignatureException(QldbSessionError):
    """The ``Authorization`` header is not a SigV4 header."""


class InvalidSignatureException(QldbSessionError):
    """The SigV4 signature does not hold: another service's scope, another secret, a
    changed request, or a date more than 5 minutes from the server's clock."""

    status = 403


class AccessDeniedException(QldbSessionError):
    """STANDARD permissions mode: no policy allows the caller this statement's action on
    this table (``ledgerdb.qldb_permissions``)."""


class UnrecognizedClientException(QldbSessionError):
    """The SigV4 access key is none of the configured credentials."""

    status = 403


class InternalFailure(QldbSessionError):
    """The database failed (storage, a bug); the drivers retry on HTTP 500."""

    status = 500


def _expired_message(transaction_id: str) -> str:
    # The drivers match "Transaction .* has expired" to tell expiry from a lost session.
    return f"Transaction {transaction_id} has expired"


def translate(exc: BaseException, transaction_id: str = "") -> QldbSessionError:
    """The wire error for an exception raised by the session table or the database."""
    if isinstance(exc, QldbSessionError):
        return exc
    if isinstance(exc, errors.OccConflict):
        return OccConflictException(str(exc))
    if isinstance(exc, errors.TransactionExpired):
        return InvalidSessionException(_expired_message(transaction_id or "?"))
    if isinstance(exc, UnknownSession):
        return InvalidSessionException(f"No such session: {exc}")
    if isinstance(exc, TransactionNotOpen | errors.TransactionClosed):
        return InvalidSessionException(str(exc))
    if isinstance(exc, PartiQLError | UnknownPage | SessionBusy | errors.InvalidInput):
        return BadRequestException(str(exc))
    if isinstance(exc, errors.LimitExceeded):  # per-transaction limits: QLDB says BadRequest
        return BadRequestException(str(exc))
    if isinstance(exc, errors.LedgerError):
        return InternalFailure(f"the ledger failed: {exc}")
    return InternalFailure("internal error; see the server log")


# --- request fields --------------------------------------------------------------------------


def _string(value: Any, field: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str):
        raise BadRequestException(f"{field} must be a string, not {type(value).__name__}")
    if pattern is not None and not pattern.match(value):
        raise BadRequestException(
            f"{field} {value[:64]!r} is malformed (pattern {pattern.pattern})"
        )
    return value


def _struct(value: Any, field: str, required: Sequence[str] = (), allowed: Sequence[str] = ()):
    """A request structure: a JSON object with its required members and no others."""
    if not isinstance(value, dict):
        raise BadRequestException(f"{field} must be an object, not {type(value).__name__}")
    for name in required:
        if name not in value or value[name] is None:
            raise BadRequestException(f"{field}.{name} is required")
    for name in value:
        if name not in required and name not in allowed:
            raise BadRequestException(f"{field}.{name} is not a member of {field}")
    return value


def _blob(value: Any, field: str) -> bytes:
    text = _string(value, field)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequestException(f"{field} is not valid base64") from None


def decode_parameter(holder: Any, field: str) -> Any:
    """One ValueHolder (``{"IonBinary": base64}`` or ``{"IonText": text}``) as an Ion value."""
    holder = _struct(holder, field, allowed=("IonBinary", "IonText"))
    present = [name for name in ("IonBinary", "IonText") if holder.get(name) is not None]
    if len(present) != 1:
        raise BadRequestException(f"{field} must hold exactly one of IonBinary and IonText")
    name = present[0]
    if name == "IonBinary":
        data = _blob(holder[name], f"{field}.IonBinary")
        if not 1 <= len(data) <= _MAX_ION_BINARY:
            raise BadRequestException(
                f"{field}.IonBinary is {len(data)} bytes; 1 to {_MAX_ION_BINARY} are allowed"
            )
        if not data.startswith(ION_BINARY_MARKER):
            raise BadRequestException(
                f"{field}.IonBinary is not Ion binary (no version marker E0 01 00 EA)"
            )
    else:
        text = _string(holder[name], f"{field}.IonText")
        if not 1 <= len(text) <= _MAX_ION_TEXT:
            raise BadRequestException(
                f"{field}.IonText is {len(text)} characters; 1 to {_MAX_ION_TEXT} are allowed"
            )
        data = text.encode("utf-8")
    try:
        return load_untrusted(data)
    except Exception as exc:  # amazon.ion raises several unrelated types on bad input
        raise BadRequestException(f"{field}.{name} is not one valid Ion value: {exc}") from None


def encode_value(value: Any) -> dict[str, str]:
    return {"IonBinary": base64.b64encode(simpleion.dumps(value, binary=True)).decode()}


_SIGNATURE_ERRORS: dict[str, type[QldbSessionError]] = {
    "missing": MissingAuthenticationTokenException,
    "incomplete": IncompleteSignatureException,
    "scope": InvalidSignatureException,
    "mismatch": InvalidSignatureException,
    "expired": InvalidSignatureException,
    "unknown_key": UnrecognizedClientException,
}


async def authenticate(
    request: web.Request, credentials: Credentials | None, max_body_bytes: int
) -> Authorization:
    """Check the request's SigV4 signature (see ``ledgerdb.sigv4``) and answer who signed
    it, for which region; refused requests raise QLDB's error for the reason."""
    signed = SignedRequest(request.method, request.raw_path, request.headers, b"")
    if credentials is not None:
        signed = SignedRequest(
            signed.method, signed.raw_path, signed.headers, await _raw(request, max_body_bytes)
        )
    try:
        return verify(signed, SIGNING_NAME, credentials)
    except SignatureProblem as problem:
        raise _SIGNATURE_ERRORS[problem.kind](str(problem)) from None


async def _raw(request: web.Request, max_body_bytes: int) -> bytes:
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise BadRequestException(f"request body exceeds {max_body_bytes} bytes") from None


# --- the server ------------------------------------------------------------------------------


@dataclass(frozen=True)
class QldbSessionLimits:
    """How much the API accepts; defaults are QLDB's where it documents one."""

    max_sessions: int = 10_000
    max_open_transactions: int = 1_500  # QLDB's active sessions per ledger
    transaction_lifetime: float = TRANSACTION_LIFETIME_SECONDS
    session_idle: float = 15 * 60.0
    max_body_bytes: int = 8 * 1024 * 1024
    workers: int = 16


@dataclass
class _TransactionState:
    """What this API keeps beside the session table: the driver-visible digest."""

    session_token: str
    digest: CommitDigest
    started: float


class QldbSessionServer:
    """The aiohttp application serving ``SendCommand`` for one database."""

    def __init__(
        self,
        database: Any,
        *,
        ledger_name: str | None = None,
        limits: QldbSessionLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        credentials: Credentials | None = None,
        access: LedgerAccess | None = None,
    ) -> None:
        self.database = database
        self.credentials = credentials
        self.access = access  # None: every statement runs (ALLOW_ALL)
        self.ledger_name = ledger_name
        self.limits = limits or QldbSessionLimits()
        self._clock = clock
        self.sessions = SessionTable(
            database,
            transaction_lifetime=self.limits.transaction_lifetime,
            session_idle=self.limits.session_idle,
            clock=clock,
        )
        self._executor = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="qldb")
        self._lock = threading.Lock()
        self._transactions: dict[str, _TransactionState] = {}  # by transaction id
        self._current: dict[str, str] = {}  # session token -> its open transaction id
        self._reaper: asyncio.Task[None] | None = None
        self.app = web.Application(client_max_size=self.limits.max_body_bytes)
        self.app.router.add_post("/", self._handle)
        self.app.on_startup.append(self._on_startup)
        self.app.on_cleanup.append(self._on_cleanup)

    # -- lifecycle --------------------------------------------------------------------------

    async def _on_startup(self, _: web.Application) -> None:
        self.start()

    async def _on_cleanup(self, _: web.Application) -> None:
        await self.close()

    def start(self) -> None:
        """Start sweeping expired transactions and idle sessions (needs a running loop)."""
        if self._reaper is None:
            self._reaper = asyncio.create_task(self._reap_forever())

    async def close(self) -> None:
        """Stop sweeping, abort open transactions, stop the workers."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        await self._run(self.sessions.close)
        self._executor.shutdown(wait=True)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(REAP_SECONDS)
            try:
                await self._run(self.reap)
            except Exception:  # the sweep must outlive any one failure
                log.exception("reaping QLDB sessions failed")

    def reap(self) -> None:
        """Abort expired transactions, forget idle sessions and their digests."""
        self.sessions.reap()
        horizon = self._clock() - 2 * self.limits.transaction_lifetime
        with self._lock:
            for transaction_id, state in list(self._transactions.items()):
                if state.started < horizon:
                    self._forget(transaction_id)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args))

    # -- HTTP -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        return await send_command(
            request, self.answer, self.limits.max_body_bytes, self.credentials
        )

    async def answer(
        self, command: str, arguments: dict[str, Any], token: str | None, caller: str = ""
    ) -> dict:
        """Run one command on the thread pool; the result is the command's response member.
        ``caller`` is the access key that signed the request (for STANDARD mode)."""
        if command == "ExecuteStatement":
            return await self._run(self._ExecuteStatement, arguments, token, caller)
        return await self._run(self._dispatch, command, arguments, token)

    # -- commands (run on the thread pool) ---------------------------------------------------

    def _dispatch(self, command: str, arguments: dict[str, Any], token: str | None) -> dict:
        handler = getattr(self, f"_{command}")
        return handler(arguments, token)

    def _StartSession(self, arguments: dict[str, Any], _: str | None) -> dict:
        _struct(arguments, "StartSession", required=("LedgerName",))
        name = _string(arguments["LedgerName"], "StartSession.LedgerName", _LEDGER_NAME)
        if self.ledger_name is not None and name != self.ledger_name:
            raise BadRequestException(
                f"Ledger {name!r} does not exist (this is {self.ledger_name!r})"
            )
        if len(self.sessions) >= self.limits.max_sessions:
            raise RateExceededException(
                f"{self.limits.max_sessions} sessions are open; end idle sessions and retry"
            )
        return {"SessionToken": self.sessions.start_session()}

    def _StartTransaction(self, _: dict[str, Any], token: str) -> dict:
        with self._lock:
            horizon = self._clock() - self.limits.transaction_lifetime
            open_now = sum(1 for state in self._transactions.values() if state.started > horizon)
        if open_now >= self.limits.max_open_transactions:
            raise LimitExceededException(
                f"{self.limits.max_open_transactions} transactions are open at once; "
                "commit or abort some and retry"
            )
        opened = self.sessions.start_transaction(token)
        transaction_id = opened.transaction_id
        with self._lock:
            previous = self._current.pop(token, None)
            if previous is not None:
                self._forget(previous)
            self._current[token] = transaction_id
            self._transactions[transaction_id] = _TransactionState(
                token, CommitDigest(transaction_id), self._clock()
            )
        return {"TransactionId": transaction_id}

    def _ExecuteStatement(self, arguments: dict[str, Any], token: str, caller: str = "") -> dict:
        _struct(
            arguments,
            "ExecuteStatement",
            required=("TransactionId", "Statement"),
            allowed=("Parameters",),
        )
        transaction_id = self._transaction_id(arguments, "ExecuteStatement")
        statement = _string(arguments["Statement"], "ExecuteStatement.Statement")
        if not 1 <= len(statement) <= _MAX_STATEMENT:
            raise BadRequestException(
                f"ExecuteStatement.Statement is {len(statement)} characters; "
                f"1 to {_MAX_STATEMENT} are allowed"
            )
        holders = arguments.get("Parameters") or []
        if not isinstance(holders, list):
            raise BadRequestException("ExecuteStatement.Parameters must be a list")
        parameters = [
            decode_parameter(holder, f"ExecuteStatement.Parameters[{i}]")
            for i, holder in enumerate(holders)
        ]
        state = self._state(transaction_id, token)
        try:
            with self.sessions.using(token, transaction_id) as opened:
                state.digest.add_statement(statement, parameters)
                self._authorize(caller, statement, parameters, opened.transaction)
                outcome = opened.transaction.execute(statement, *parameters)
                values = [simpleion.dumps(value, binary=True) for value in outcome.values]
                first, next_token = opened.first_page(values)
        except Exception as exc:
            raise self._failure(exc, transaction_id) from None
        return {
            "FirstPage": _page(first, next_token),
            "TimingInformation": {"ProcessingTimeMilliseconds": round(outcome.processing_time_ms)},
            "ConsumedIOs": {"ReadIOs": int(outcome.read_ios), "WriteIOs": 0},
        }

    def _authorize(
        self, caller: str, statement: str, parameters: list[Any], transaction: Any
    ) -> None:
        """STANDARD mode: the statement runs only if a policy allows it to ``caller``. The
        statement still counts in the commit digest (the driver counted it too)."""
        if self.access is None:
            return

        def table_id(name: str) -> str | None:
            table = transaction.catalog.table(name)
            return None if table is None else str(table.table_id)

        denied = self.access.check(caller, statement, parameters, table_id)
        if denied is not None:
            raise AccessDeniedException(denied.message)

    def _FetchPage(self, arguments: dict[str, Any], token: str) -> dict:
        _struct(arguments, "FetchPage", required=("TransactionId", "NextPageToken"))
        transaction_id = self._transaction_id(arguments, "FetchPage")
        page_token = _string(arguments["NextPageToken"], "FetchPage.NextPageToken", _TOKEN)
        try:
            with self.sessions.using(token, transaction_id) as opened:
                values, next_token = opened.next_page(page_token)
        except Exception as exc:
            raise self._failure(exc, transaction_id) from None
        return {"Page": _page(values, next_token), "ConsumedIOs": {"ReadIOs": 0, "WriteIOs": 0}}

    def _CommitTransaction(self, arguments: dict[str, Any], token: str) -> dict:
        _struct(arguments, "CommitTransaction", required=("TransactionId", "CommitDigest"))
        transaction_id = self._transaction_id(arguments, "CommitTransaction")
        claimed = _blob(arguments["CommitDigest"], "CommitTransaction.CommitDigest")
        state = self._state(transaction_id, token)
        try:
            with self.sessions.finishing(token, transaction_id, "committed") as transaction:
                if not state.digest.matches(claimed):
                    transaction.abort()
                    raise BadRequestException(
                        f"CommitTransaction.CommitDigest does not match the digest of the "
                        f"statements transaction {transaction_id} ran; it was aborted and "
                        "nothing was written"
                    )
                try:
                    transaction.commit()
                except Exception:
                    with contextlib.suppress(errors.LedgerError):
                        transaction.abort()  # a failed commit leaves nothing open
                    raise
        except Exception as exc:
            raise self._failure(exc, transaction_id) from None
        finally:
            with self._lock:
                self._forget(transaction_id)
        return {
            "TransactionId": transaction_id,
            "CommitDigest": base64.b64encode(state.digest.value).decode(),
        }

    def _AbortTransaction(self, _: dict[str, Any], token: str) -> dict:
        """Abort the session's open transaction; with none open there is nothing to do."""
        with self._lock:
            transaction_id = self._current.get(token)
        if transaction_id is None:
            self._touch(token)
            return {}
        try:
            with self.sessions.finishing(token, transaction_id, "aborted") as transaction:
                transaction.abort()
        except (TransactionNotOpen, errors.TransactionClosed, errors.TransactionExpired):
            pass  # already gone (expired and reaped): aborting it again is not an error
        finally:
            with self._lock:
                self._forget(transaction_id)
        return {}

    def _EndSession(self, _: dict[str, Any], token: str) -> dict:
        self.sessions.end_session(token)
        with self._lock:
            transaction_id = self._current.pop(token, None)
            if transaction_id is not None:
                self._forget(transaction_id)
        return {}

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _transaction_id(arguments: dict[str, Any], command: str) -> str:
        return _string(arguments["TransactionId"], f"{command}.TransactionId", _TRANSACTION_ID)

    def _touch(self, token: str) -> None:
        """Fail for an unknown session (and keep a known one alive): the session table's
        transaction lookup checks the session first; no transaction has an empty id."""
        with contextlib.suppress(TransactionNotOpen), self.sessions.using(token, ""):
            pass

    def _state(self, transaction_id: str, token: str) -> _TransactionState:
        with self._lock:
            state = self._transactions.get(transaction_id)
        if state is None or state.session_token != token:
            # Let the session table say why (unknown session, finished, expired...).
            try:
                with self.sessions.using(token, transaction_id):
                    pass
            except Exception as exc:
                raise self._failure(exc, transaction_id) from None
            raise InvalidSessionException(
                f"TransactionId {transaction_id} is not open in this session"
            )
        return state

    def _failure(self, exc: Exception, transaction_id: str) -> QldbSessionError:
        """The wire error, telling an expired transaction from one that is merely gone."""
        with self._lock:
            state = self._transactions.get(transaction_id)
        expired = state is not None and (
            self._clock() - state.started > self.limits.transaction_lifetime
        )
        if isinstance(exc, TransactionNotOpen | errors.TransactionExpired) and expired:
            return InvalidSessionException(_expired_message(transaction_id))
        return translate(exc, transaction_id)

    def _forget(self, transaction_id: str) -> None:
        """Drop a finished transaction's state (caller holds ``self._lock``)."""
        state = self._transactions.pop(transaction_id, None)
        if state is not None and self._current.get(state.session_token) == transaction_id:
            del self._current[state.session_token]


_MEMBERS: dict[str, tuple[str, ...]] = {
    "StartSession": ("LedgerName",),
    "StartTransaction": (),
    "ExecuteStatement": ("TransactionId", "Statement", "Parameters"),
    "FetchPage": ("TransactionId", "NextPageToken"),
    "CommitTransaction": ("TransactionId", "CommitDigest"),
    "AbortTransaction": (),
    "EndSession": (),
}


def _page(values: Sequence[bytes], next_token: str) -> dict[str, Any]:
    page: dict[str, Any] = {
        "Values": [{"IonBinary": base64.b64encode(value).decode()} for value in values]
    }
    if next_token:
        page["NextPageToken"] = next_token
    return page


Answer = Callable[[str, dict[str, Any], "str | None", str], Awaitable[dict]]


async def send_command(
    request: web.Request,
    answer: Answer,
    max_body_bytes: int,
    credentials: Credentials | None = None,
) -> web.Response:
    """One ``SendCommand`` request: check the envelope, let ``answer`` run the command.

    ``answer`` is one ledger's ``QldbSessionServer.answer`` or a router choosing the ledger
    (``ledgerdb.qldb_control``); either way the errors come back in the same shape.
    """
    started = time.perf_counter()
    try:
        caller = (await authenticate(request, credentials, max_body_bytes)).access_key_id
        target = request.headers.get("X-Amz-Target", "")
        if target != TARGET:
            raise UnknownOperationException(
                f"X-Amz-Target {target!r} is not an operation of this service ({TARGET})"
            )
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type not in (CONTENT_TYPE, "application/json"):
            raise BadRequestException(f"Content-Type {content_type!r} is not {CONTENT_TYPE}")
        body = await _body(request, max_body_bytes)
        command, arguments, token = parse_command(body)
        result = await answer(command, arguments, token, caller)
        elapsed = max(0, round((time.perf_counter() - started) * 1000))
        result.setdefault("TimingInformation", {"ProcessingTimeMilliseconds": elapsed})
        return _respond(200, {command: result})
    except Exception as exc:
        error = translate(exc)
        if isinstance(error, InternalFailure):
            log.exception("QLDB session request failed")
        return _respond(error.status, error.body())


def _respond(status: int, payload: Mapping[str, Any]) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(payload, separators=(",", ":")).encode(),
        headers={"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())},
    )


async def _body(request: web.Request, max_body_bytes: int) -> dict[str, Any]:
    raw = await _raw(request, max_body_bytes)
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SerializationException(f"request body is not JSON: {exc}") from None
    except RecursionError:
        raise SerializationException("request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise SerializationException("request body must be a JSON object")
    return body


def parse_command(body: dict[str, Any]) -> tuple[str, dict[str, Any], str | None]:
    """(command, its arguments, session token): one command per request."""
    unknown = sorted(set(body) - {"SessionToken", *COMMANDS})
    if unknown:
        raise BadRequestException(f"{unknown[0]} is not a member of SendCommandRequest")
    present = [name for name in COMMANDS if body.get(name) is not None]
    if len(present) != 1:
        raise BadRequestException(
            "SendCommandRequest must carry exactly one command of "
            f"{', '.join(COMMANDS)} (got {', '.join(present) or 'none'})"
        )
    command = present[0]
    token = body.get("SessionToken")
    if command == "StartSession":
        if token is not None:
            raise BadRequestException("StartSession must not carry a SessionToken")
    elif token is None:
        raise BadRequestException(f"SessionToken is required with {command}")
    else:
        _string(token, "SessionToken", _TOKEN)
    return command, _struct(body[command], command, allowed=_MEMBERS[command]), token


async def start_qldb_session_server(
    database: Any,
    host: str,
    port: int,
    *,
    ledger_name: str | None = None,
    limits: QldbSessionLimits | None = None,
    ssl_context: ssl.SSLContext | None = None,
    credentials: Credentials | None = None,
) -> tuple[web.AppRunner, int]:
    """Serve the QLDB session API for ``database``; returns the runner and the bound port.

    ``await runner.cleanup()`` stops it (open transactions are aborted). ``port`` 0 picks a
    free port. With ``ledger_name`` set, StartSession accepts only that name.
    """
    server = QldbSessionServer(
        database, ledger_name=ledger_name, limits=limits, credentials=credentials
    )
    runner = web.AppRunner(server.app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner, runner.addresses[0][1]
