"""The peer side of Fabric's chaincode shim protocol.

One ``ChaincodeHandler`` per connected chaincode. It answers registration
(REGISTER → REGISTERED → READY), sends INIT / TRANSACTION, serves the state requests the
contract makes while it runs (against a ``TxSimulator``, which records the read/write set),
and returns the contract's COMPLETED response and chaincode event — or an error after the
per-call timeout. Message payloads and replies follow Fabric's ``core/chaincode/handler.go``
so Go and Node shims work unchanged, including messages the Python shim never sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

from fabric_protos.ledger.queryresult import kv_query_result_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    chaincode_shim_pb2,
    proposal_pb2,
    proposal_response_pb2,
)
from google.protobuf import timestamp_pb2
from google.protobuf.message import DecodeError

from chaincode.errors import (
    ChaincodeDisconnected,
    ChaincodeError,
    ChaincodeTimeout,
    CollectionAccessError,
    ShimError,
)
from chaincode.simulation import TxSimulator
from chaincode.transport import ChaincodeStream, Message

log = logging.getLogger(__name__)
T = Message.Type
shim = chaincode_shim_pb2

MAX_RESULT_LIMIT = 100
"""Results per QueryResponse before the shim must ask QUERY_STATE_NEXT (Fabric's value)."""
TOTAL_QUERY_LIMIT = 100_000
"""Fabric's ``ledger.state.totalQueryLimit`` default for unpaginated queries."""


EMPTY_KEY_SUBSTITUTE = "\x01"
"""What Fabric's Go, Node and Java shims send for an empty range start, so a simple-key
range never reaches composite keys (which begin with "\x00"); the Python shim sends ""."""


class ChaincodeFailed(ShimError):
    """The chaincode answered ERROR instead of COMPLETED."""


class CollectionGuard(Protocol):
    def check(self, namespace: str, collection: str, creator: bytes, write: bool) -> None:
        """Raise ``CollectionAccessError`` if ``creator`` may not use the collection."""
        ...

    def require_defined(self, namespace: str, collection: str) -> None:
        """Raise ``CollectionAccessError`` if the chaincode defines no such collection."""
        ...


Invoker = Callable[[str, str, chaincode_pb2.ChaincodeInput, "TxContext"], Awaitable[Message]]
"""(chaincode name, channel, input, caller's context) → the callee's COMPLETED/ERROR message."""


@dataclass(frozen=True)
class ExecuteResult:
    response: proposal_response_pb2.Response
    event: chaincode_event_pb2.ChaincodeEvent | None


def _nothing() -> None:
    return None


@dataclass
class _OpenQuery:
    results: Iterator[bytes]
    paginated: bool
    limit: int
    bookmark: Callable[[], str] = lambda: ""
    close: Callable[[], None] = _nothing
    returned: int = 0
    pending: bytes | None = None


@dataclass
class TxContext:
    """What the handler knows about one in-flight transaction."""

    channel_id: str
    txid: str
    namespace: str
    simulator: TxSimulator
    creator: bytes = b""
    is_init: bool = False
    signed_proposal: proposal_pb2.SignedProposal | None = None
    collections: CollectionGuard | None = None
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    queries: dict[str, _OpenQuery] = field(default_factory=dict)
    next_query: int = 0


def registration_matches(registered: str, expected: str) -> bool:
    """Whether a contract that sent REGISTER as ``registered`` is the one dialled for
    ``expected`` (a package ID ``label:hash``, a label, or a chaincode name).

    Fabric's peer wants the package ID (``CHAINCODE_ID``); contracts are also commonly
    started with the package's label (``basic_1.0``), so the label part must match, and
    for a bare chaincode name (dev mode, a peer config's ``chaincodes`` entry) the label
    must be that name or start with ``<name>_``. What is refused is another contract
    answering at the address, e.g. ``auction_1.0`` where ``basic`` was dialled."""
    if registered == expected:
        return True
    label, wanted = registered.split(":", 1)[0], expected.split(":", 1)[0]
    if ":" in expected:
        return label == wanted
    return label == wanted or label.startswith(f"{wanted}_")


class ChaincodeHandler:
    """Speaks the shim protocol with one chaincode over a ``ChaincodeStream``."""

    def __init__(
        self,
        stream: ChaincodeStream,
        *,
        invoker: Invoker | None = None,
        timeout: float = 30.0,
        keepalive: float | None = None,
        max_result_limit: int = MAX_RESULT_LIMIT,
        total_query_limit: int = TOTAL_QUERY_LIMIT,
    ) -> None:
        self._stream = stream
        self._invoker = invoker
        self.timeout = timeout
        self._keepalive = keepalive
        self._max_batch = max_result_limit
        self._total_limit = total_query_limit
        self._contexts: dict[tuple[str, str], TxContext] = {}
        self._send_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._closed: ChaincodeError | None = None
        self.name = ""

    # --- connection ------------------------------------------------------------------

    async def register(self, expected_name: str | None = None, timeout: float = 10.0) -> str:
        """Wait for REGISTER, answer REGISTERED and READY, then serve the stream."""
        try:
            first = await asyncio.wait_for(self._stream.recv(), timeout)
        except TimeoutError:
            raise ShimError(f"chaincode did not send REGISTER within {timeout:g}s") from None
        if first is None or first.type != T.REGISTER:
            kind = "end of stream" if first is None else T.Name(first.type)
            raise ShimError(f"chaincode sent {kind} where REGISTER was expected")
        try:
            chaincode_id = chaincode_pb2.ChaincodeID.FromString(first.payload)
        except DecodeError as exc:
            raise ShimError(f"REGISTER payload is not a ChaincodeID ({exc})") from None
        if not chaincode_id.name:
            raise ShimError("REGISTER payload: ChaincodeID.name is empty")
        if expected_name is not None and not registration_matches(chaincode_id.name, expected_name):
            await self._send(Message(type=T.ERROR, payload=b"unexpected chaincode name"))
            raise ShimError(
                f"chaincode registered as {chaincode_id.name!r}, expected {expected_name!r}"
            )
        self.name = chaincode_id.name
        await self._send(Message(type=T.REGISTERED))
        await self._send(Message(type=T.READY))
        self._spawn(self._read_loop())
        if self._keepalive:
            self._spawn(self._keepalive_loop(self._keepalive))
        return self.name

    @property
    def connected(self) -> bool:
        return self._closed is None and bool(self.name)

    async def close(self) -> None:
        self._fail_all(ChaincodeDisconnected(f"chaincode {self.name}: connection closed"))
        for task in list(self._tasks):
            task.cancel()
        await self._stream.close()

    def _spawn(self, coroutine: Awaitable) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, message: Message) -> None:
        async with self._send_lock:
            await self._stream.send(message)

    async def _keepalive_loop(self, interval: float) -> None:
        while self._closed is None:
            await asyncio.sleep(interval)
            with contextlib.suppress(ChaincodeError):
                await self._send(Message(type=T.KEEPALIVE))

    async def _read_loop(self) -> None:
        error: ChaincodeError = ChaincodeDisconnected(f"chaincode {self.name}: stream ended")
        try:
            while True:
                message = await self._stream.recv()
                if message is None:
                    break
                await self._dispatch(message)
        except ChaincodeError as exc:
            error = exc
        finally:
            self._fail_all(error)

    def _fail_all(self, error: ChaincodeError) -> None:
        if self._closed is None:
            self._closed = error
        for context in list(self._contexts.values()):
            if not context.done.done():
                context.done.set_exception(error)

    # --- executing a transaction -----------------------------------------------------

    async def execute(
        self,
        channel_id: str,
        txid: str,
        chaincode_input: chaincode_pb2.ChaincodeInput,
        simulator: TxSimulator,
        *,
        signed_proposal: proposal_pb2.SignedProposal | None = None,
        creator: bytes = b"",
        is_init: bool = False,
        namespace: str | None = None,
        collections: CollectionGuard | None = None,
        timeout: float | None = None,
    ) -> ExecuteResult:
        """Run one INIT/TRANSACTION to COMPLETED; raise ``ChaincodeFailed`` on ERROR.

        ``namespace`` is the chaincode *name* of the definition, whose state the contract
        sees; it defaults to the registered name, which for CCaaS is the package ID.
        """
        if not self.name:
            raise ShimError("chaincode has not registered yet; call register() first")
        if self._closed is not None:
            raise ChaincodeDisconnected(f"chaincode {self.name}: not connected ({self._closed})")
        key = (channel_id, txid)
        if key in self._contexts:
            raise ShimError(f"txid {txid}: already executing on channel {channel_id}")
        context = TxContext(
            channel_id=channel_id,
            txid=txid,
            namespace=namespace or self.name,
            simulator=simulator,
            creator=creator,
            is_init=is_init,
            signed_proposal=signed_proposal,
            collections=collections,
        )
        self._contexts[key] = context
        timeout = self.timeout if timeout is None else timeout
        try:
            await self._send(
                Message(
                    type=T.INIT if is_init else T.TRANSACTION,
                    payload=chaincode_input.SerializeToString(),
                    txid=txid,
                    channel_id=channel_id,
                    proposal=signed_proposal,
                )
            )
            reply: Message = await asyncio.wait_for(context.done, timeout)
        except TimeoutError:
            raise ChaincodeTimeout(
                f"chaincode {self.name}: timeout expired while executing transaction {txid} "
                f"({timeout:g}s)"
            ) from None
        finally:
            del self._contexts[key]
            for query in context.queries.values():
                query.close()
            context.queries.clear()
        return self._result(reply, txid, context.namespace)

    def _result(self, reply: Message, txid: str, namespace: str) -> ExecuteResult:
        if reply.type == T.ERROR:
            text = reply.payload.decode("utf-8", "replace")
            raise ChaincodeFailed(f"transaction returned with failure: {text}")
        try:
            response = proposal_response_pb2.Response.FromString(reply.payload)
        except DecodeError as exc:
            raise ShimError(f"COMPLETED payload is not a Response ({exc})") from None
        event = None
        if reply.HasField("chaincode_event") and reply.chaincode_event.event_name:
            event = chaincode_event_pb2.ChaincodeEvent()
            event.CopyFrom(reply.chaincode_event)
            event.chaincode_id = namespace
            event.tx_id = txid
        return ExecuteResult(response, event)

    # --- incoming messages -----------------------------------------------------------

    async def _dispatch(self, message: Message) -> None:
        kind = message.type
        if kind == T.KEEPALIVE:
            return
        context = self._contexts.get((message.channel_id, message.txid))
        if kind in (T.COMPLETED, T.ERROR):
            if context is None:
                log.warning(
                    "chaincode %s: %s for unknown txid %s", self.name, T.Name(kind), message.txid
                )
            elif not context.done.done():
                context.done.set_result(message)
            return
        handler = _REQUESTS.get(kind)
        if handler is None:
            await self._reply_error(
                message, f"peer cannot handle message ({T.Name(kind)}) while in ready state"
            )
            return
        if context is None:
            await self._reply_error(
                message,
                f"no transaction context for txid {message.txid} on channel "
                f"{message.channel_id} ({T.Name(kind)})",
            )
            return
        if kind == T.INVOKE_CHAINCODE:
            self._spawn(self._serve(handler, context, message))
        else:
            await self._serve(handler, context, message)

    async def _serve(self, handler, context: TxContext, message: Message) -> None:
        try:
            payload = handler(self, context, message)
            if asyncio.iscoroutine(payload):
                payload = await payload
        except (ChaincodeError, DecodeError, ValueError) as exc:
            await self._reply_error(message, f"{T.Name(message.type)} failed: {exc}")
            return
        except Exception as exc:  # a state backend fault must not end the connection
            log.exception("chaincode %s: %s failed", self.name, T.Name(message.type))
            await self._reply_error(
                message, f"{T.Name(message.type)} failed: internal error ({type(exc).__name__})"
            )
            return
        await self._send(
            Message(
                type=T.RESPONSE,
                payload=payload,
                txid=message.txid,
                channel_id=message.channel_id,
            )
        )

    async def _reply_error(self, message: Message, text: str) -> None:
        with contextlib.suppress(ChaincodeError):
            await self._send(
                Message(
                    type=T.ERROR,
                    payload=text.encode(),
                    txid=message.txid,
                    channel_id=message.channel_id,
                )
            )

    # --- request handlers: each returns the RESPONSE payload ---------------------------

    def _guard(self, context: TxContext, collection: str, write: bool) -> None:
        if context.is_init:
            raise CollectionAccessError("private data APIs are not allowed in chaincode Init()")
        if context.collections is None:
            raise CollectionAccessError(
                f"collection {collection!r}: no collections are defined for chaincode "
                f"{context.namespace}"
            )
        context.collections.check(context.namespace, collection, context.creator, write)

    def _get_state(self, context: TxContext, message: Message) -> bytes:
        request = shim.GetState.FromString(message.payload)
        sim, ns = context.simulator, context.namespace
        if request.collection:
            self._guard(context, request.collection, write=False)
            return sim.get_private(ns, request.collection, request.key) or b""
        return sim.get_state(ns, request.key) or b""

    def _get_state_multiple(self, context: TxContext, message: Message) -> bytes:
        request = shim.GetStateMultiple.FromString(message.payload)
        sim, ns = context.simulator, context.namespace
        if request.collection:
            self._guard(context, request.collection, write=False)
            values = [sim.get_private(ns, request.collection, k) or b"" for k in request.keys]
        else:
            values = [sim.get_state(ns, k) or b"" for k in request.keys]
        return shim.GetStateMultipleResult(values=values).SerializeToString()

    def _get_private_data_hash(self, context: TxContext, message: Message) -> bytes:
        request = shim.GetState.FromString(message.payload)
        if not request.collection:
            raise ChaincodeError("collection: must not be empty for GET_PRIVATE_DATA_HASH")
        if context.collections is None:
            raise CollectionAccessError(f"collection {request.collection!r}: none defined")
        # Hashes are on every peer of the channel: no membership check, only existence.
        context.collections.require_defined(context.namespace, request.collection)
        value = context.simulator.get_private_hash(
            context.namespace, request.collection, request.key
        )
        return value or b""

    def _get_state_metadata(self, context: TxContext, message: Message) -> bytes:
        request = shim.GetStateMetadata.FromString(message.payload)
        sim, ns = context.simulator, context.namespace
        if request.collection:
            self._guard(context, request.collection, write=False)
            metadata = sim.get_private_metadata(ns, request.collection, request.key)
        else:
            metadata = sim.get_state_metadata(ns, request.key)
        entries = [shim.StateMetadata(metakey=k, value=v) for k, v in sorted(metadata.items())]
        return shim.StateMetadataResult(entries=entries).SerializeToString()

    def _put_state(self, context: TxContext, message: Message) -> bytes:
        request = shim.PutState.FromString(message.payload)
        self._write(context, T.PUT_STATE, request.collection, request.key, request.value)
        return b""

    def _del_state(self, context: TxContext, message: Message) -> bytes:
        request = shim.DelState.FromString(message.payload)
        self._write(context, T.DEL_STATE, request.collection, request.key)
        return b""

    def _purge_private_data(self, context: TxContext, message: Message) -> bytes:
        request = shim.PurgePrivateState.FromString(message.payload)
        self._write(context, T.PURGE_PRIVATE_DATA, request.collection, request.key)
        return b""

    def _put_state_metadata(self, context: TxContext, message: Message) -> bytes:
        request = shim.PutStateMetadata.FromString(message.payload)
        self._write(
            context,
            T.PUT_STATE_METADATA,
            request.collection,
            request.key,
            metadata={request.metadata.metakey: request.metadata.value},
        )
        return b""

    def _write_batch(self, context: TxContext, message: Message) -> bytes:
        batch = shim.WriteBatchState.FromString(message.payload)
        kinds = shim.WriteRecord.Type
        for record in batch.rec:
            if record.type == kinds.UNDEFINED:
                raise ChaincodeError(f"write batch: record for key {record.key!r} has no type")
            metadata = {record.metadata.metakey: record.metadata.value}
            self._write(context, record.type, record.collection, record.key, record.value, metadata)
        return b""

    def _write(
        self,
        context: TxContext,
        kind: int,
        collection: str,
        key: str,
        value: bytes = b"",
        metadata: dict[str, bytes] | None = None,
    ) -> None:
        sim, ns = context.simulator, context.namespace
        if collection:
            self._guard(context, collection, write=True)
            if kind == T.PUT_STATE:
                sim.put_private(ns, collection, key, value)
            elif kind == T.DEL_STATE:
                sim.delete_private(ns, collection, key)
            elif kind == T.PURGE_PRIVATE_DATA:
                sim.purge_private(ns, collection, key)
            else:
                sim.put_private_metadata(ns, collection, key, metadata or {})
        elif kind == T.PUT_STATE:
            sim.put_state(ns, key, value)
        elif kind == T.DEL_STATE:
            sim.delete_state(ns, key)
        elif kind == T.PURGE_PRIVATE_DATA:
            raise ChaincodeError("collection: must not be empty for PURGE_PRIVATE_DATA")
        else:
            sim.put_state_metadata(ns, key, metadata or {})

    def _get_state_by_range(self, context: TxContext, message: Message) -> bytes:
        request = shim.GetStateByRange.FromString(message.payload)
        metadata = _query_metadata(request.metadata)
        sim, ns = context.simulator, context.namespace
        start = request.startKey or EMPTY_KEY_SUBSTITUTE
        if request.collection:
            self._guard(context, request.collection, write=False)
            scan = sim.private_range_scan(ns, request.collection, start, request.endKey)
            paginated, limit = False, self._total_limit
        elif metadata is not None:
            start = metadata.bookmark or start
            scan = sim.range_scan(ns, start, request.endKey, page_size=metadata.pageSize)
            paginated, limit = True, metadata.pageSize or self._total_limit
        else:
            scan = sim.range_scan(ns, start, request.endKey)
            paginated, limit = False, self._total_limit
        return self._open(
            context, _kv_results(ns, scan), paginated, limit, scan.bookmark, scan.close
        )

    def _get_query_result(self, context: TxContext, message: Message) -> bytes:
        request = shim.GetQueryResult.FromString(message.payload)
        metadata = _query_metadata(request.metadata)
        sim, ns = context.simulator, context.namespace
        if request.collection:
            self._guard(context, request.collection, write=False)
            page = sim.private_rich_query(ns, request.collection, request.query)
            return self._open(context, _kv_pairs(ns, page.results), False, self._total_limit)
        if metadata is not None:
            page = sim.rich_query(ns, request.query, metadata.pageSize, metadata.bookmark)
            results = _kv_pairs(ns, page.results)
            limit = metadata.pageSize or self._total_limit
            return self._open(context, results, True, limit, lambda: page.bookmark)
        page = sim.rich_query(ns, request.query)
        return self._open(context, _kv_pairs(ns, page.results), False, self._total_limit)

    def _get_history_for_key(self, context: TxContext, message: Message) -> bytes:
        request = shim.GetHistoryForKey.FromString(message.payload)
        history = context.simulator.history(context.namespace, request.key)
        results = (
            kv_query_result_pb2.KeyModification(
                tx_id=m.tx_id,
                value=m.value,
                timestamp=_timestamp(m.timestamp),
                is_delete=m.is_delete,
            ).SerializeToString()
            for m in history
        )
        return self._open(context, results, False, self._total_limit)

    def _query_state_next(self, context: TxContext, message: Message) -> bytes:
        request = shim.QueryStateNext.FromString(message.payload)
        query = context.queries.get(request.id)
        if query is None:
            raise ChaincodeError(f"query iterator {request.id!r} not found")
        return self._page(context, request.id, query)

    def _query_state_close(self, context: TxContext, message: Message) -> bytes:
        request = shim.QueryStateClose.FromString(message.payload)
        query = context.queries.pop(request.id, None)
        if query is not None:
            query.close()
        return shim.QueryResponse(has_more=False, id=request.id).SerializeToString()

    async def _invoke_chaincode(self, context: TxContext, message: Message) -> bytes:
        spec = chaincode_pb2.ChaincodeSpec.FromString(message.payload)
        target = spec.chaincode_id.name
        if not target:
            raise ChaincodeError("INVOKE_CHAINCODE payload: ChaincodeSpec.chaincode_id is empty")
        name, _, channel = target.partition("/")
        if self._invoker is None:
            raise ChaincodeError(f"chaincode {name}: chaincode-to-chaincode calls not configured")
        reply = await self._invoker(name, channel or context.channel_id, spec.input, context)
        return reply.SerializeToString()

    # --- query paging (Fabric's QueryResponseBuilder) ---------------------------------

    def _open(
        self,
        context: TxContext,
        results: Iterator[bytes],
        paginated: bool,
        limit: int,
        bookmark: Callable[[], str] = lambda: "",
        close: Callable[[], None] = _nothing,
    ) -> bytes:
        query_id = f"{context.txid[:8]}-{context.next_query}"
        context.next_query += 1
        query = _OpenQuery(results, paginated, limit, bookmark, close)
        context.queries[query_id] = query
        return self._page(context, query_id, query)

    def _page(self, context: TxContext, query_id: str, query: _OpenQuery) -> bytes:
        batch: list[bytes] = []
        while query.returned < query.limit:
            item = query.pending if query.pending is not None else next(query.results, None)
            query.pending = None
            if item is None:
                break
            if len(batch) == self._max_batch:
                query.pending = item
                return shim.QueryResponse(
                    results=[shim.QueryResultBytes(resultBytes=b) for b in batch],
                    has_more=True,
                    id=query_id,
                ).SerializeToString()
            batch.append(item)
            query.returned += 1
        del context.queries[query_id]
        query.close()
        response = shim.QueryResponse(
            results=[shim.QueryResultBytes(resultBytes=b) for b in batch],
            has_more=False,
            id=query_id,
        )
        if query.paginated:
            response.metadata = shim.QueryResponseMetadata(
                fetched_records_count=query.returned, bookmark=query.bookmark()
            ).SerializeToString()
        return response.SerializeToString()


def _query_metadata(raw: bytes) -> shim.QueryMetadata | None:
    """Fabric treats a query as paginated when its metadata sets a page size or bookmark."""
    if not raw:
        return None
    metadata = shim.QueryMetadata.FromString(raw)
    if metadata.pageSize < 0:
        raise ChaincodeError(f"pageSize: must not be negative (got {metadata.pageSize})")
    if metadata.pageSize == 0 and not metadata.bookmark:
        return None
    return metadata


def _kv_results(namespace: str, scan) -> Iterator[bytes]:
    while (item := scan.next()) is not None:
        key, value = item
        yield kv_query_result_pb2.KV(
            namespace=namespace, key=key, value=value.value
        ).SerializeToString()


def _kv_pairs(namespace: str, pairs: list[tuple[str, bytes]]) -> Iterator[bytes]:
    for key, value in pairs:
        yield kv_query_result_pb2.KV(namespace=namespace, key=key, value=value).SerializeToString()


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    whole = int(seconds)
    return timestamp_pb2.Timestamp(seconds=whole, nanos=int((seconds - whole) * 1e9))


_REQUESTS = {
    T.GET_STATE: ChaincodeHandler._get_state,
    T.GET_STATE_MULTIPLE: ChaincodeHandler._get_state_multiple,
    T.GET_PRIVATE_DATA_HASH: ChaincodeHandler._get_private_data_hash,
    T.GET_STATE_METADATA: ChaincodeHandler._get_state_metadata,
    T.PUT_STATE: ChaincodeHandler._put_state,
    T.DEL_STATE: ChaincodeHandler._del_state,
    T.PURGE_PRIVATE_DATA: ChaincodeHandler._purge_private_data,
    T.PUT_STATE_METADATA: ChaincodeHandler._put_state_metadata,
    T.WRITE_BATCH_STATE: ChaincodeHandler._write_batch,
    T.GET_STATE_BY_RANGE: ChaincodeHandler._get_state_by_range,
    T.GET_QUERY_RESULT: ChaincodeHandler._get_query_result,
    T.GET_HISTORY_FOR_KEY: ChaincodeHandler._get_history_for_key,
    T.QUERY_STATE_NEXT: ChaincodeHandler._query_state_next,
    T.QUERY_STATE_CLOSE: ChaincodeHandler._query_state_close,
    T.INVOKE_CHAINCODE: ChaincodeHandler._invoke_chaincode,
}
