"""The control plane's engine: every operation runs here, the same way.

An operation (``network/controlplane/operations/``) only reads, or checks and stages;
everything around it is here, written once: its input is checked against its shape,
due expiries are written first, then it runs as one database transaction
(``network/controlplane/ledger.py``) that reads a snapshot and commits its staged
documents as one journal block, or writes nothing. An operation with a
ClientRequestToken runs at most once per token: a retry gets the first answer, read
from the ``requests`` table in the same transaction.

Transactions run on a thread pool, so concurrent requests share the journal's fsyncs;
optimistic concurrency catches two operations that read what the other changed (the
loser is retried), and mutations of one network are queued so votes on a busy
proposal do not keep conflicting. A commit returns once the block is durable and
applied, so the next request sees it; only then are the governance events published.

Time-driven changes (proposals and invitations expiring) are written by ``sweep`` as
their own transactions, before any operation and periodically by the server; it knows
the next deadline, so an operation that has nothing to expire does not look.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ledgerdb.database import LedgerDatabase
from ledgerdb.errors import LedgerError, OccConflict
from ledgerdb.partiql.errors import PartiQLError
from network.controlplane import resources as res
from network.controlplane.clock import Clock, SystemClock
from network.controlplane.errors import (
    InternalServiceErrorException,
    InvalidRequestException,
    StoreError,
)
from network.controlplane.events import EventBus, EventFeed, GovernanceEvent, events_for
from network.controlplane.ledger import Txn, journal_events
from network.controlplane.operations import BY_PYTHON_NAME
from network.controlplane.operations.base import TOKEN, Call, Environment, Operation
from network.controlplane.passwords import Secrets

log = logging.getLogger(__name__)

OCC_RETRIES = 10  # a conflicting transaction is retried this often, with backoff
WORKERS = 16  # threads running transactions (fsyncs are shared between them)
T = TypeVar("T")
Stage = Callable[[Txn], Any]


def _earliest(*moments: str | None) -> str | None:
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


class ControlPlane:
    """The engine the operations run in: the database and its worker threads, the
    queues, the expiry sweep and the events feed, shared by every operation."""

    def __init__(
        self,
        database: LedgerDatabase,
        clock: Clock | None = None,
        *,
        region: str = res.DEFAULT_REGION,
        reconcile: str = "immediate",
        secrets: Secrets | None = None,
        bus: EventBus | None = None,
        member_quota: int | None = None,
    ) -> None:
        """``member_quota`` replaces the edition's member limit (AMB's quota increase)."""
        if reconcile not in ("immediate", "external"):
            raise ValueError(f"reconcile must be 'immediate' or 'external', not {reconcile!r}")
        self.db = database
        self.clock = clock or SystemClock()
        self.env = Environment(
            database, self.clock, region, reconcile, secrets or Secrets(None), member_quota
        )
        self.bus = bus or EventBus()
        self._broken: str | None = None
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="controlplane")
        self._queues: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._sweeping = asyncio.Lock()
        self._expiry_known = False
        self._next_expiry: str | None = None  # the earliest deadline of anything pending
        self._lowered: str | None = None  # deadlines written while a sweep ran
        self.feed = EventFeed(
            self.tip if self.tip is not None else -1,
            lambda first, last, limit: journal_events(database, first, last, limit),
        )

    @property
    def tip(self) -> int | None:
        address = self.db.journal.tip
        return None if address is None else address.sequence_no

    def close(self) -> None:
        """Stop the worker threads and close the database (its journal and LMDB)."""
        self._pool.shutdown(wait=True)
        try:
            self.db.close()
        except LedgerError as exc:
            raise StoreError(f"the control-plane ledger did not close cleanly: {exc}") from exc

    # ---- running transactions -------------------------------------------------------------

    @property
    def broken(self) -> str | None:
        """Why the ledger failed, if it did: the process must restart."""
        return self._broken

    def _check_healthy(self) -> None:
        if self._broken is not None:
            raise InternalServiceErrorException(f"the control plane stopped: {self._broken}")

    async def _run(self, work: Callable[[], T]) -> T:
        """``work`` on a worker thread; a failed database stops the service."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        except OccConflict as exc:
            raise InternalServiceErrorException(
                f"the request kept conflicting with concurrent changes; retry it ({exc})"
            ) from exc
        except PartiQLError:
            raise  # a statement refused is not a failed ledger
        except LedgerError as exc:
            self._broken = str(exc)
            log.error("control-plane ledger failed; refusing further requests: %s", exc)
            raise InternalServiceErrorException(str(exc)) from exc

    def _write(self, build: Callable[[Txn], T]) -> tuple[T, int | None, list]:
        """One transaction: ``build`` checks and stages, its documents commit as one block."""

        def attempt(transaction: Any) -> tuple[T, int | None, list]:
            txn = Txn(transaction)
            answer = build(txn)
            transitions = txn.flush()
            address = transaction.commit().block_address
            return answer, None if address is None else address.sequence_no, transitions

        return self.db.execute_lambda(attempt, retry_limit=OCC_RETRIES)

    def _read_now(self, read: Callable[[Txn], T]) -> T:
        with self.db.start_transaction() as transaction:
            return read(Txn(transaction))

    async def _transact(self, build: Callable[[Txn], T], queue: str | None = None) -> T:
        """Commit ``build``'s changes (queued behind other changes of ``queue``), then
        publish their events."""
        async with self._queues[queue] if queue else contextlib.nullcontext():
            answer, sequence_no, transitions = await self._run(lambda: self._write(build))
        if sequence_no is not None:
            self._deliver(sequence_no, events_for(transitions))
            self._note_deadlines(transitions)
        return answer

    def _deliver(self, sequence_no: int, events: list[GovernanceEvent]) -> None:
        """The one place events leave: once their block is durable, in block order."""
        self.bus.publish(self.feed.record(sequence_no, events))

    def _note_deadlines(self, transitions: list) -> None:
        for table, _, after in transitions:
            pending = (table, after.get("Status")) in (
                ("proposals", "IN_PROGRESS"),
                ("invitations", "PENDING"),
            )
            if pending:
                self._next_expiry = _earliest(self._next_expiry, after["ExpirationDate"])
                self._lowered = _earliest(self._lowered, after["ExpirationDate"])

    async def sweep(self) -> int:
        """Expire proposals and invitations whose deadline has passed; returns how many."""
        async with self._sweeping:
            now = res.iso(self.clock.now())
            if self._expiry_known and (self._next_expiry is None or now < self._next_expiry):
                return 0
            self._lowered = None
            expired, upcoming = await self._transact(lambda txn: self._expire(txn, now))
            self._next_expiry = _earliest(upcoming, self._lowered)
            self._expiry_known = True
            return expired

    def _expire(self, txn: Txn, now: str) -> tuple[int, str | None]:
        """Stage the expiries due at ``now``; returns how many and the next deadline."""
        expired, upcoming = 0, None
        for table, status in (("proposals", "IN_PROGRESS"), ("invitations", "PENDING")):
            for document in txn.where(table, "Status", status):
                if document["ExpirationDate"] <= now:
                    txn.put(table, {**document, "Status": "EXPIRED"})
                    expired += 1
                else:
                    upcoming = _earliest(upcoming, document["ExpirationDate"])
        return expired, upcoming

    # ---- operations --------------------------------------------------------------------

    async def perform(
        self, operation: Operation, caller: str, ids: Sequence[str] = (), payload: Any = None
    ) -> Any:
        """Run ``operation`` for ``caller`` on the route's ``ids`` with its input."""
        params = operation.check(payload)  # a malformed request is refused even when broken
        self._check_healthy()
        await self.sweep()

        def run(txn: Txn) -> Any:
            return operation.run(Call(txn, caller, params, self.env), *ids)

        if not operation.writes:
            return await self._run(lambda: self._read_now(run))
        if operation.idempotent:
            run = _once(operation.name, caller, params, run)
        return await self._transact(run, operation.queue(ids))

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        """Each operation under boto3's name, for Python callers (tests, tools):
        ``create_member(caller, network_id, body)`` takes the caller, the route's ids
        in order, then the input if the operation takes one."""
        operation = BY_PYTHON_NAME.get(name)
        if operation is None:
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

        async def call(caller: str, *args: Any) -> Any:
            ids, payload = operation.arguments(args)
            return await self.perform(operation, caller, ids, payload)

        return call


# ---- idempotency tokens ----------------------------------------------------------------


def _once(operation: str, caller: str, params: Mapping[str, Any], stage: Stage) -> Stage:
    """``stage`` at most once per (caller, operation, ClientRequestToken): a retry with
    the same request gets the first answer; the same token on another request is refused."""

    def build(txn: Txn) -> Any:
        token = params[TOKEN]
        key = hashlib.sha256(f"{caller}\0{operation}\0{token}".encode()).hexdigest()[:32]
        done = txn.get("requests", key)
        if done is not None:
            if done["Fingerprint"] != _fingerprint(params):
                raise InvalidRequestException(
                    f"ClientRequestToken '{token}' was already used for a different "
                    f"{operation} request."
                )
            return done["Response"]
        answer = stage(txn)
        txn.put(
            "requests",
            {
                "Key": key,
                "Account": caller,
                "Operation": operation,
                "Fingerprint": _fingerprint(params),
                "Response": answer,
            },
        )
        return answer

    return build


def _fingerprint(params: Mapping[str, Any]) -> str:
    """What an idempotent retry must repeat: the request minus its token and any password."""

    def scrub(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                key: scrub(item)
                for key, item in value.items()
                if key not in (TOKEN, "AdminPassword")
            }
        return value

    text = json.dumps(scrub(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
