"""The Python client of the ledgerdb service, with the embedded database's API shape.

``LedgerClient("host:port")`` answers the same calls as ``LedgerDatabase`` where they make
sense remotely — ``start_transaction`` (``execute``/``commit``/``abort``),
``execute_lambda`` with OCC retries and backoff (as pyqldb's driver does), ``execute``,
``explain``, ``digest``, ``get_block``, ``get_revision`` — plus ``export`` (a stream of
blocks) and ``health``. Code written against one runs against the other.

Failures raise the exception the embedded database would raise (``OccConflict``,
``PartiQLSyntaxError``, ``BlockNotFound``, …) with the server's message: the server names
the class in the trailing metadata. The client is thread-safe; it keeps a pool of idle
sessions so a transaction costs two round trips plus its statements.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import grpc
from amazon.ion import simpleion
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ledgerdb import errors
from ledgerdb.block import EPOCH, Block, BlockAddress, decode
from ledgerdb.journal import Digest
from ledgerdb.partiql import errors as _partiql_errors  # noqa: F401  (defines its LedgerErrors)
from ledgerdb.revision_proof import RevisionProof
from ledgerdb.service import ERROR_KEY, MAX_MESSAGE_BYTES, SERVICE_NAME, encode_values
from ledgerdb.sessions import TransactionNotOpen, UnknownSession
from ledgerdb.transaction import CommitResult, StatementOutcome
from proto import ledgerdb_pb2 as pb
from proto import ledgerdb_pb2_grpc as pb_grpc

T = TypeVar("T")
BACKOFF_BASE_SECONDS = 0.01
BACKOFF_CAP_SECONDS = 5.0


def _error_class(name: str) -> type[Exception] | None:
    """The database's exception class called ``name``: any ``LedgerError``, PartiQL's
    among them (imported above so that they are defined in a client-only process)."""
    pending: list[type[Exception]] = [errors.LedgerError]
    while pending:
        cls = pending.pop()
        if cls.__name__ == name:
            return cls
        pending.extend(cls.__subclasses__())
    return None


_BY_STATUS: dict[grpc.StatusCode, type[Exception]] = {
    grpc.StatusCode.ABORTED: errors.OccConflict,
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidInput,
    grpc.StatusCode.OUT_OF_RANGE: errors.BlockNotFound,
    grpc.StatusCode.NOT_FOUND: UnknownSession,
    grpc.StatusCode.FAILED_PRECONDITION: TransactionNotOpen,
    grpc.StatusCode.UNAVAILABLE: errors.LedgerUnavailable,
}


def _error(exc: grpc.RpcError, endpoint: str) -> Exception:
    """The exception the embedded database would have raised for this status."""
    name = dict(exc.trailing_metadata() or ()).get(ERROR_KEY, "")
    cls = _error_class(name) or _BY_STATUS.get(exc.code(), errors.LedgerError)
    message = exc.details() or exc.code().name
    if exc.code() is grpc.StatusCode.UNAVAILABLE and not name:
        message = f"ledgerdb service at {endpoint} is unavailable: {message}"
    # Rebuilt without the class's own __init__ (several take structured arguments): the
    # server already wrote the sentence, and isinstance checks are what callers rely on.
    rebuilt = cls.__new__(cls)
    Exception.__init__(rebuilt, message)
    return rebuilt


@dataclass(frozen=True)
class RemotePlan:
    """A statement's plan as the server described it (``Plan.describe()`` and its flags)."""

    text: str
    uses_index: bool
    scans: bool

    def describe(self) -> str:
        return self.text


def _plan(message: Any, present: bool) -> RemotePlan | None:
    if not present:
        return None
    return RemotePlan(message.text, message.uses_index, message.scans)


def _address(message: Any) -> BlockAddress:
    return BlockAddress(message.strand_id, message.sequence_no)


def _digest(message: Any) -> Digest:
    return Digest(message.digest, _address(message.tip))


def _commit_time(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)


def _values(data: Sequence[bytes]) -> list[Any]:
    return [simpleion.loads(item) for item in data]


class LedgerClient:
    """A connection to ``consortium ledger serve`` (``endpoint`` is ``host:port``)."""

    def __init__(
        self, endpoint: str, *, timeout: float | None = 60.0, tls_root: bytes | None = None
    ) -> None:
        """``tls_root``: the PEM CA that signed a TLS server's certificate (``ledger serve
        --tls-cert``); without it the connection is plaintext."""
        self.endpoint = endpoint
        self.timeout = timeout
        options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if tls_root is None:
            self._channel = grpc.insecure_channel(endpoint, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(tls_root)
            self._channel = grpc.secure_channel(endpoint, credentials, options=options)
        self._stub = pb_grpc.LedgerDBStub(self._channel)
        self._idle_sessions: list[str] = []
        self._lock = threading.Lock()

    def call(self, method: str, request: Any) -> Any:
        """One unary RPC; a gRPC error becomes the database's own exception."""
        try:
            return getattr(self._stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise _error(exc, self.endpoint) from None

    def _stream(self, method: str, request: Any) -> Iterator[Any]:
        try:
            yield from getattr(self._stub, method)(request, timeout=self.timeout)
        except grpc.RpcError as exc:
            raise _error(exc, self.endpoint) from None

    # -- sessions ---------------------------------------------------------------------------

    def _take_session(self) -> str:
        with self._lock:
            if self._idle_sessions:
                return self._idle_sessions.pop()
        return self.call("StartSession", pb.StartSessionRequest()).session_token

    def _return_session(self, token: str) -> None:
        with self._lock:
            self._idle_sessions.append(token)

    def start_transaction(self) -> RemoteTransaction:
        """A new transaction in an idle session of the pool, or in a new session.

        When the server no longer knows a pooled session (reaped, or the server restarted)
        every pooled session is dropped and a new one started, once.
        """
        token = self._take_session()
        request = pb.StartTransactionRequest(session_token=token)
        try:
            answer = self.call("StartTransaction", request)
        except UnknownSession:
            with self._lock:
                self._idle_sessions.clear()
            token = self.call("StartSession", pb.StartSessionRequest()).session_token
            request = pb.StartTransactionRequest(session_token=token)
            answer = self.call("StartTransaction", request)
        return RemoteTransaction(self, token, answer.transaction_id)

    def execute_lambda(self, fn: Callable[[RemoteTransaction], T], *, retry_limit: int = 4) -> T:
        """Run ``fn(transaction)`` and commit; on an OCC conflict start over, with backoff.

        As pyqldb's driver: at most ``retry_limit`` retries, each after a random wait of up
        to 10 ms × 2^attempt (capped at 5 s); any other error aborts and propagates.
        """
        attempt = 0
        while True:
            transaction = self.start_transaction()
            try:
                result = fn(transaction)
                transaction.commit()
                return result
            except (errors.OccConflict, UnknownSession):
                transaction.abort()
                if attempt >= retry_limit:
                    raise
                attempt += 1
                ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
                time.sleep(random.uniform(0, ceiling))
            except BaseException:
                transaction.abort()
                raise

    def execute(self, statement: str, *parameters: Any) -> StatementOutcome:
        """``statement`` in its own transaction, committed before this returns."""
        return self.execute_with_summary(statement, *parameters)[0]

    def execute_with_summary(
        self, statement: str, *parameters: Any, include_plan: bool = False
    ) -> tuple[StatementOutcome, CommitResult]:
        """As ``execute``, also returning the commit (transaction id, block address)."""
        request = pb.ExecuteRequest(
            statement=statement, parameters=encode_values(parameters), include_plan=include_plan
        )
        values: list[Any] = []
        summary = None
        for message in self._stream("Execute", request):
            values += _values(message.values)
            if message.HasField("summary"):
                summary = message.summary
        if summary is None:
            raise errors.LedgerUnavailable(f"{self.endpoint} ended Execute without a summary")
        outcome = StatementOutcome(
            values,
            _plan(summary.plan, summary.HasField("plan")),
            summary.read_ios,
            summary.processing_time_ms,
        )
        commit = CommitResult(
            summary.transaction_id,
            _address(summary.block_address) if summary.HasField("block_address") else None,
            _commit_time(summary.commit_time_micros),
        )
        return outcome, commit

    def explain(self, statement: str, *parameters: Any) -> RemotePlan:
        request = pb.ExplainRequest(statement=statement, parameters=encode_values(parameters))
        answer = self.call("Explain", request)
        return RemotePlan(answer.plan.text, answer.plan.uses_index, answer.plan.scans)

    # -- verification -----------------------------------------------------------------------

    def digest(self, tip: int | None = None) -> Digest:
        return _digest(self.call("GetDigest", pb.GetDigestRequest(tip=tip)))

    def get_block(
        self, sequence_no: int, digest_tip: int | None = None
    ) -> tuple[Block, list[bytes]]:
        """The block and its inclusion proof in the digest at ``digest_tip`` (default: now)."""
        return self.get_block_with_digest(sequence_no, digest_tip)[:2]

    def get_block_with_digest(
        self, sequence_no: int, digest_tip: int | None = None
    ) -> tuple[Block, list[bytes], Digest]:
        request = pb.GetBlockRequest(sequence_no=sequence_no, digest_tip=digest_tip)
        answer = self.call("GetBlock", request)
        return decode(answer.block), list(answer.proof), _digest(answer.digest)

    def get_revision(
        self, document_id: str, sequence_no: int, digest_tip: int | None = None
    ) -> RevisionProof:
        request = pb.GetRevisionRequest(
            document_id=document_id, sequence_no=sequence_no, digest_tip=digest_tip
        )
        answer = self.call("GetRevision", request)
        return RevisionProof(
            simpleion.loads(answer.revision),
            decode(answer.block),
            list(answer.block_proof),
            _digest(answer.digest),
        )

    def export(self, first: int = 0, last: int | None = None) -> Iterator[Block]:
        """Blocks ``first``..``last`` (default: the tip when the export starts), in order."""
        request = pb.ExportJournalRequest(first=first, last=last)
        for message in self._stream("ExportJournal", request):
            yield decode(message.block)

    def health(self) -> bool:
        """Whether the server answers its health check with SERVING."""
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            answer = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE_NAME), timeout=5)
        except grpc.RpcError:
            return False
        return answer.status == health_pb2.HealthCheckResponse.SERVING

    def close(self) -> None:
        """End the idle sessions (best effort) and close the channel."""
        with self._lock:
            tokens, self._idle_sessions = self._idle_sessions, []
        for token in tokens:
            try:
                self._stub.EndSession(pb.EndSessionRequest(session_token=token), timeout=2)
            except grpc.RpcError:
                break
        self._channel.close()

    def __enter__(self) -> LedgerClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class RemoteTransaction:
    """One transaction on the server; one thread at a time, as an embedded transaction."""

    def __init__(self, client: LedgerClient, session_token: str, transaction_id: str) -> None:
        self._client = client
        self._session = session_token
        self.transaction_id = transaction_id
        self._open = True

    @property
    def state(self) -> str:
        """ "open" until this client commits or aborts it (the server may expire it sooner)."""
        return "open" if self._open else "closed"

    def execute(
        self, statement: str, *parameters: Any, include_plan: bool = False
    ) -> StatementOutcome:
        """Run one statement; every page of its result is fetched before this returns."""
        request = pb.ExecuteStatementRequest(
            session_token=self._session,
            transaction_id=self.transaction_id,
            statement=statement,
            parameters=encode_values(parameters),
            include_plan=include_plan,
        )
        answer = self._client.call("ExecuteStatement", request)
        values = _values(answer.first_page.values)
        token = answer.first_page.next_page_token
        while token:
            page = self._client.call(
                "FetchPage",
                pb.FetchPageRequest(
                    session_token=self._session,
                    transaction_id=self.transaction_id,
                    next_page_token=token,
                ),
            ).page
            values += _values(page.values)
            token = page.next_page_token
        return StatementOutcome(
            values,
            _plan(answer.plan, answer.HasField("plan")),
            answer.read_ios,
            answer.processing_time_ms,
        )

    def commit(self) -> CommitResult:
        request = pb.CommitTransactionRequest(
            session_token=self._session, transaction_id=self.transaction_id
        )
        try:
            answer = self._client.call("CommitTransaction", request)
        finally:
            self._release()
        return CommitResult(
            answer.transaction_id,
            _address(answer.block_address) if answer.HasField("block_address") else None,
            _commit_time(answer.commit_time_micros),
        )

    def abort(self) -> None:
        """Abort; aborting a finished transaction does nothing (it has nothing to undo)."""
        if not self._open:
            return
        request = pb.AbortTransactionRequest(
            session_token=self._session, transaction_id=self.transaction_id
        )
        try:
            self._client.call("AbortTransaction", request)
        except (TransactionNotOpen, UnknownSession):
            pass
        finally:
            self._release()

    def _release(self) -> None:
        if self._open:
            self._open = False
            self._client._return_session(self._session)
