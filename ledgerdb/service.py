"""The ledgerdb gRPC service (``ledgerdb.v1.LedgerDB``) in front of one ``LedgerDatabase``.

The database is synchronous (LMDB and fsync), so every call into it runs on a thread
pool, never on the event loop; concurrent commits from many clients still share the
journal's group fsync. Each failure becomes one gRPC status with one sentence naming
the failing field or problem (``status_of``), and the error's class name travels in the
trailing metadata so the Python client can raise the same exception the embedded
database would. A failed call writes nothing and the server keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import grpc
from amazon.ion import simpleion
from grpc_health.v1 import health_pb2

from ledgerdb import errors
from ledgerdb.block import BlockAddress, encode
from ledgerdb.ion_input import load_untrusted
from ledgerdb.partiql.errors import PartiQLError
from ledgerdb.sessions import (
    SessionBusy,
    SessionTable,
    TransactionNotOpen,
    UnknownPage,
    UnknownSession,
    split_pages,
)
from proto import ledgerdb_pb2 as pb
from proto import ledgerdb_pb2_grpc as pb_grpc
from proto.server import add_health, new_server

SERVICE_NAME = "ledgerdb.v1.LedgerDB"
ERROR_KEY = "ledgerdb-error"
ION_BINARY_MARKER = b"\xe0\x01\x00\xea"
REAP_SECONDS = 1.0
WORKERS = 32
MAX_MESSAGE_BYTES = 64 * 1024 * 1024

log = logging.getLogger(__name__)
T = TypeVar("T")

# (exception class, status), most specific first: BlockNotFound is an InvalidInput.
_STATUSES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (errors.OccConflict, grpc.StatusCode.ABORTED),
    (errors.BlockNotFound, grpc.StatusCode.OUT_OF_RANGE),
    (PartiQLError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.LimitExceeded, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownPage, grpc.StatusCode.INVALID_ARGUMENT),
    (UnknownSession, grpc.StatusCode.NOT_FOUND),
    (TransactionNotOpen, grpc.StatusCode.FAILED_PRECONDITION),
    (SessionBusy, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.TransactionClosed, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.TransactionExpired, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.LedgerClosed, grpc.StatusCode.UNAVAILABLE),
    (errors.LedgerError, grpc.StatusCode.INTERNAL),
)


def status_of(exc: BaseException) -> grpc.StatusCode:
    for cls, code in _STATUSES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def decode_parameters(parameters: Sequence[bytes], field: str = "parameters") -> list[Any]:
    """Each parameter's Ion value; a bad one is InvalidInput naming its position (from 1)."""
    values = []
    for position, data in enumerate(parameters, start=1):
        if not data.startswith(ION_BINARY_MARKER) or len(data) == len(ION_BINARY_MARKER):
            raise errors.InvalidInput(
                f"{field}[{position}] is not Ion binary (it must start with the Ion version "
                "marker E0 01 00 EA and hold one value)"
            )
        try:
            values.append(load_untrusted(data))
        except Exception as exc:  # amazon.ion raises several unrelated types on bad bytes
            raise errors.InvalidInput(
                f"{field}[{position}] is not valid Ion binary: {exc}"
            ) from None
    return values


def encode_values(values: Sequence[Any]) -> list[bytes]:
    return [simpleion.dumps(value, binary=True) for value in values]


def plan_message(plan: Any) -> pb.PlanDescription | None:
    if plan is None:
        return None
    return pb.PlanDescription(
        text=plan.describe(), uses_index=bool(plan.uses_index), scans=bool(plan.scans)
    )


def address_message(address: BlockAddress | None) -> pb.BlockAddress | None:
    if address is None:
        return None
    return pb.BlockAddress(strand_id=address.strand_id, sequence_no=address.sequence_no)


def digest_message(digest: Any) -> pb.Digest:
    return pb.Digest(digest=digest.digest, tip=address_message(digest.tip))


def micros_of(moment: Any) -> int:
    """A commit time (datetime, Ion timestamp, or microseconds) as Unix microseconds."""
    if isinstance(moment, int):
        return moment
    if isinstance(moment, datetime):
        return round(moment.timestamp() * 1_000_000)
    return round(float(moment) * 1_000_000)


def _optional(message: Any, name: str) -> int | None:
    return getattr(message, name) if message.HasField(name) else None


class LedgerService(pb_grpc.LedgerDBServicer):
    """The servicer: each RPC is one call into the session table or the database."""

    def __init__(self, database: Any, sessions: SessionTable, executor: ThreadPoolExecutor):
        self.database = database
        self.sessions = sessions
        self.executor = executor

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, partial(fn, *args))

    # -- sessions and transactions ----------------------------------------------------------

    async def StartSession(self, request: Any, context: Any) -> pb.StartSessionResponse:
        return pb.StartSessionResponse(session_token=self.sessions.start_session())

    async def EndSession(self, request: Any, context: Any) -> pb.EndSessionResponse:
        await self._run(self.sessions.end_session, request.session_token)
        return pb.EndSessionResponse()

    async def StartTransaction(self, request: Any, context: Any) -> pb.StartTransactionResponse:
        opened = await self._run(self.sessions.start_transaction, request.session_token)
        return pb.StartTransactionResponse(transaction_id=opened.transaction_id)

    def _execute_statement(self, request: Any) -> pb.ExecuteStatementResponse:
        parameters = decode_parameters(request.parameters)
        with self.sessions.using(request.session_token, request.transaction_id) as opened:
            outcome = opened.transaction.execute(request.statement, *parameters)
            values, token = opened.first_page(encode_values(outcome.values))
        return pb.ExecuteStatementResponse(
            first_page=pb.Page(values=values, next_page_token=token),
            read_ios=outcome.read_ios,
            processing_time_ms=outcome.processing_time_ms,
            plan=plan_message(outcome.plan) if request.include_plan else None,
        )

    async def ExecuteStatement(self, request: Any, context: Any) -> pb.ExecuteStatementResponse:
        return await self._run(self._execute_statement, request)

    def _fetch_page(self, request: Any) -> pb.FetchPageResponse:
        with self.sessions.using(request.session_token, request.transaction_id) as opened:
            values, token = opened.next_page(request.next_page_token)
        return pb.FetchPageResponse(page=pb.Page(values=values, next_page_token=token))

    async def FetchPage(self, request: Any, context: Any) -> pb.FetchPageResponse:
        return await self._run(self._fetch_page, request)

    def _commit(self, request: Any) -> pb.CommitTransactionResponse:
        with self.sessions.finishing(
            request.session_token, request.transaction_id, "committed"
        ) as transaction:
            result = transaction.commit()
        return pb.CommitTransactionResponse(
            transaction_id=result.transaction_id,
            block_address=address_message(result.block_address),
            commit_time_micros=micros_of(result.commit_time),
        )

    async def CommitTransaction(self, request: Any, context: Any) -> pb.CommitTransactionResponse:
        return await self._run(self._commit, request)

    def _abort(self, request: Any) -> pb.AbortTransactionResponse:
        with self.sessions.finishing(
            request.session_token, request.transaction_id, "aborted"
        ) as transaction:
            transaction.abort()
        return pb.AbortTransactionResponse()

    async def AbortTransaction(self, request: Any, context: Any) -> pb.AbortTransactionResponse:
        return await self._run(self._abort, request)

    # -- statements without a session -------------------------------------------------------

    def _explain(self, request: Any) -> pb.ExplainResponse:
        plan = self.database.explain(request.statement, *decode_parameters(request.parameters))
        return pb.ExplainResponse(plan=plan_message(plan))

    async def Explain(self, request: Any, context: Any) -> pb.ExplainResponse:
        return await self._run(self._explain, request)

    def _execute(self, request: Any) -> tuple[list[list[bytes]], pb.ExecuteSummary]:
        parameters = decode_parameters(request.parameters)
        transaction = self.database.start_transaction()
        try:
            outcome = transaction.execute(request.statement, *parameters)
            values = encode_values(outcome.values)
            result = transaction.commit()
        except BaseException:
            with contextlib.suppress(errors.LedgerError):
                transaction.abort()
            raise
        summary = pb.ExecuteSummary(
            transaction_id=result.transaction_id,
            block_address=address_message(result.block_address),
            commit_time_micros=micros_of(result.commit_time),
            read_ios=outcome.read_ios,
            processing_time_ms=outcome.processing_time_ms,
            plan=plan_message(outcome.plan) if request.include_plan else None,
        )
        return split_pages(values), summary

    async def Execute(self, request: Any, context: Any) -> AsyncIterator[pb.ExecuteResponse]:
        pages, summary = await self._run(self._execute, request)
        for page in pages[:-1]:
            yield pb.ExecuteResponse(values=page)
        yield pb.ExecuteResponse(values=pages[-1], summary=summary)

    # -- verification -----------------------------------------------------------------------

    def _digest(self, request: Any) -> pb.Digest:
        return digest_message(self.database.digest(_optional(request, "tip")))

    async def GetDigest(self, request: Any, context: Any) -> pb.Digest:
        return await self._run(self._digest, request)

    def _pinned_digest(self, digest_tip: int | None) -> Any:
        """The digest proofs are made against: at ``digest_tip``, or the tip right now.

        Fixing the tip first means the proof and the digest agree even while commits go on.
        """
        return self.database.digest(digest_tip)

    def _block(self, request: Any) -> pb.GetBlockResponse:
        digest = self._pinned_digest(_optional(request, "digest_tip"))
        block, proof = self.database.get_block(request.sequence_no, digest.tip.sequence_no)
        return pb.GetBlockResponse(block=encode(block), proof=proof, digest=digest_message(digest))

    async def GetBlock(self, request: Any, context: Any) -> pb.GetBlockResponse:
        return await self._run(self._block, request)

    def _revision(self, request: Any) -> pb.GetRevisionResponse:
        digest = self._pinned_digest(_optional(request, "digest_tip"))
        proof = self.database.get_revision(
            request.document_id, request.sequence_no, digest.tip.sequence_no
        )
        return pb.GetRevisionResponse(
            revision=simpleion.dumps(proof.revision, binary=True),
            block=encode(proof.block),
            block_proof=proof.block_proof,
            digest=digest_message(proof.digest),
        )

    async def GetRevision(self, request: Any, context: Any) -> pb.GetRevisionResponse:
        return await self._run(self._revision, request)

    def _export_range(self, request: Any) -> tuple[int, int]:
        tip = self.database.journal.tip
        newest = tip.sequence_no if tip is not None else -1
        last = _optional(request, "last")
        last = newest if last is None else last
        if request.first < 0 or last > newest:
            raise errors.BlockNotFound(
                f"first/last must lie within 0..{newest}, got {request.first}..{last}"
            )
        return request.first, last

    def _read_blocks(self, first: int, stop: int) -> list[bytes]:
        return [encode(block) for block in self.database.journal.read_range(first, stop)]

    async def ExportJournal(self, request: Any, context: Any) -> AsyncIterator[pb.ExportedBlock]:
        first, last = await self._run(self._export_range, request)
        batch = 64
        for start in range(first, last + 1, batch):
            stop = min(start + batch, last + 1)
            for data in await self._run(self._read_blocks, start, stop):
                yield pb.ExportedBlock(block=data)


async def _fail(context: Any, exc: BaseException) -> None:
    code = status_of(exc)
    if code is grpc.StatusCode.INTERNAL and not isinstance(exc, errors.LedgerError):
        log.exception("ledgerdb: unexpected error", exc_info=exc)
        message = f"internal error: {type(exc).__name__}: {exc}"
    else:
        message = str(exc)
    context.set_trailing_metadata(((ERROR_KEY, type(exc).__name__),))
    await context.abort(code, message)


def _unary(handler: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def wrapped(request: Any, context: Any) -> Any:
        try:
            return await handler(request, context)
        except Exception as exc:
            await _fail(context, exc)

    return wrapped


def _streaming(handler: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
    async def wrapped(request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for item in handler(request, context):
                yield item
        except Exception as exc:
            await _fail(context, exc)

    return wrapped


class _Guarded(pb_grpc.LedgerDBServicer):
    """The servicer with every handler wrapped so that errors become statuses."""

    def __init__(self, inner: LedgerService) -> None:
        for name in (
            "StartSession",
            "EndSession",
            "StartTransaction",
            "ExecuteStatement",
            "FetchPage",
            "CommitTransaction",
            "AbortTransaction",
            "Explain",
            "GetDigest",
            "GetBlock",
            "GetRevision",
        ):
            setattr(self, name, _unary(getattr(inner, name)))
        for name in ("Execute", "ExportJournal"):
            setattr(self, name, _streaming(getattr(inner, name)))


class LedgerServer:
    """A running service: the gRPC server, its health service, and the session reaper."""

    def __init__(
        self,
        database: Any,
        *,
        transaction_lifetime: float | None = None,
        session_idle: float | None = None,
        reap_every: float = REAP_SECONDS,
    ) -> None:
        self.database = database
        self.reap_every = reap_every
        limits = {}
        if transaction_lifetime is not None:
            limits["transaction_lifetime"] = transaction_lifetime
        if session_idle is not None:
            limits["session_idle"] = session_idle
        self.sessions = SessionTable(database, **limits)
        self.executor = ThreadPoolExecutor(WORKERS, thread_name_prefix="ledgerdb")
        self.port = 0
        self._server: grpc.aio.Server | None = None
        self._reaper: asyncio.Task[None] | None = None

    async def start(self, address: str, credentials: grpc.ServerCredentials | None = None) -> int:
        """Listen on ``address`` (TLS with ``credentials``); returns the bound port."""
        server = new_server(
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ]
        )
        service = LedgerService(self.database, self.sessions, self.executor)
        pb_grpc.add_LedgerDBServicer_to_server(_Guarded(service), server)
        health_servicer = add_health(server)
        if credentials is None:
            self.port = server.add_insecure_port(address)
        else:
            self.port = server.add_secure_port(address, credentials)
        if self.port == 0:
            raise errors.LedgerUnavailable(f"cannot listen on {address}")
        await server.start()
        self._server = server
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._reaper = asyncio.create_task(self._reap())
        return self.port

    async def _reap(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.reap_every)
            await loop.run_in_executor(self.executor, self.sessions.reap)

    async def stop(self, grace: float = 5.0) -> None:
        """Finish the calls under way (up to ``grace`` seconds), then abort what is left."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        if self._server is not None:
            await self._server.stop(grace)
        await asyncio.get_running_loop().run_in_executor(self.executor, self.sessions.close)
        self.executor.shutdown(wait=True)


async def serve(
    database: Any,
    address: str,
    announce: Callable[[int], None],
    credentials: grpc.ServerCredentials | None = None,
) -> None:
    """Serve ``database`` on ``address`` until SIGTERM or SIGINT, then stop gracefully.

    ``announce`` gets the bound port once the server accepts calls (``--port 0`` picks one);
    with ``credentials`` the port speaks TLS only.
    """
    server = LedgerServer(database)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    port = await server.start(address, credentials)
    announce(port)
    started = time.monotonic()
    await stop.wait()
    log.info("ledgerdb: stopping after %.0f s", time.monotonic() - started)
    await server.stop()
