"""A journal's blocks in a NATS JetStream stream: names, message layout, conditional
appends and reads. ``ledgerdb.replicated`` builds the journal on top of this.

One stream per journal, replicated on three servers (JetStream's Raft does the
replication and the ordering; nothing here votes or elects):

- stream ``LEDGERDB_<name>``, one subject ``ledgerdb.journal.<name>``;
- block ``n`` is message ``n + 1`` (JetStream counts from 1), and nothing else is ever
  in the stream; the stream refuses deletes and purges and has no limits, so a block,
  once acknowledged, stays at its position;
- a message's data is the block's record exactly as a segment file stores it
  (``segments.frame(block.encode(block))``: length, CRC32C, header CRC, block bytes);
- its headers make the append conditional: ``Nats-Expected-Last-Sequence: n`` (the
  position: the stream holds exactly blocks ``0..n-1``), ``Nats-Expected-Last-Msg-Id``
  the hex of the previous block's hash (the chain: block ``n-1`` is the one this block
  was sealed on), and ``Nats-Msg-Id`` its own block hash (duplicate detection, and the
  next block's link).

Both conditions are needed: a writer sends several blocks back to back without waiting
(group commit), and if its first block loses the position to another writer, the
position check alone would let its second block land on top of the other writer's block.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)

from ledgerdb.block import Block, derived_id, encode
from ledgerdb.errors import (
    InvalidInput,
    LedgerClosed,
    LedgerError,
    LedgerUnavailable,
    ReplicationUnavailable,
)
from ledgerdb.segments import frame

T = TypeVar("T")

STREAM_PREFIX = "LEDGERDB_"
SUBJECT_PREFIX = "ledgerdb.journal."
REPLICAS = 3
_NAME = re.compile(r"[A-Za-z0-9_-]{1,128}")

MSG_ID = "Nats-Msg-Id"
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
HEADER_ALLOWANCE = 512
"""Bytes of a message's size limit (``max_payload``) left for its headers, which count."""

WRONG_LAST_MSG_ID = 10070
WRONG_LAST_SEQUENCE = 10071
CONSUMER_IDLE_SECONDS = 60.0
"""A reader's consumer is deleted by the servers after this long unused (a crashed reader
leaves nothing behind for longer)."""


@dataclass(frozen=True)
class StreamLayout:
    """Where a journal named ``journal`` lives in JetStream."""

    journal: str

    @property
    def stream(self) -> str:
        return STREAM_PREFIX + self.journal

    @property
    def subject(self) -> str:
        return SUBJECT_PREFIX + self.journal

    @property
    def strand_id(self) -> str:
        """The journal's strand: derived from the stream name, so every writer and reader
        agrees on it before block 0 exists."""
        return derived_id(b"ledgerdb stream " + self.stream.encode())

    def config(self, replicas: int) -> StreamConfig:
        return StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            description=f"ledgerdb journal {self.journal}: block n is message n+1",
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.NEW,
            storage=StorageType.FILE,
            num_replicas=replicas,
            deny_delete=True,
            deny_purge=True,
        )


def layout(journal: str) -> StreamLayout:
    """The layout of journal ``journal`` (letters, digits, ``_`` and ``-``: the name goes
    into a stream name and a subject token, where ``.``, ``*``, ``>`` and spaces mean
    something)."""
    if not isinstance(journal, str) or not _NAME.fullmatch(journal):
        raise InvalidInput(
            f"journal name {journal!r} must be 1 to 128 letters, digits, '_' or '-' "
            "(a channel's dots must be mapped by the caller)"
        )
    return StreamLayout(journal)


def message(block: Block) -> tuple[bytes, dict[str, str]]:
    """A block's message: its record as a segment stores it, and the conditional headers."""
    headers = {
        MSG_ID: block.block_hash.hex(),
        EXPECTED_LAST_SEQUENCE: str(block.sequence_no),
    }
    if block.sequence_no:
        headers[EXPECTED_LAST_MSG_ID] = block.previous_block_hash.hex()
    return frame(encode(block)), headers


def is_closed(exc: BaseException) -> bool:
    """The connection was closed (by us): no retry can help. Any other failure of the
    client or the servers (no answer, no leader during an election, a reconnect, a lost
    consumer) is worth another try until the caller's deadline."""
    return isinstance(exc, nats.errors.ConnectionClosedError)


PING_SECONDS = 1
"""How often the client pings its server. A server on a host cut off the network closes
nothing; nats-py's default (two minutes, two pings outstanding) would keep an orderer on
it for minutes, so a connection whose pings go unanswered ``MAX_OUTSTANDING_PINGS`` times
is dropped and another server of the cluster is used, within a few seconds."""
MAX_OUTSTANDING_PINGS = 3


async def connect(servers: Sequence[str], timeout: float) -> NATS:
    """A connection to any of ``servers``, tried again and again for ``timeout`` seconds.

    Once connected, the client reconnects by itself to whichever server answers (for
    ever: the journal, not the connection, decides how long an append may wait).
    """
    if not servers:
        raise InvalidInput("servers: name at least one NATS server (nats://host:port)")
    errors: list[BaseException] = []

    async def remember(exc: Exception) -> None:
        errors.append(exc)

    try:
        return await asyncio.wait_for(
            nats.connect(
                servers=list(servers),
                connect_timeout=min(2.0, timeout),
                reconnect_time_wait=0.2,
                max_reconnect_attempts=-1,
                ping_interval=PING_SECONDS,
                max_outstanding_pings=MAX_OUTSTANDING_PINGS,
                error_cb=remember,
            ),
            timeout,
        )
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        last = errors[-1] if errors else exc
        raise ReplicationUnavailable(
            f"no NATS server answered within {timeout:g}s; tried {', '.join(servers)} "
            f"(last error: {type(last).__name__}: {last})"
        ) from None


async def until_available(attempt: Callable[[], Awaitable[T]], what: str, timeout: float) -> T:
    """``attempt()`` again and again until it answers or ``timeout`` seconds pass.

    Right after a server of the cluster restarts, JetStream has no meta leader for a few
    seconds and every API request times out; a node starting then must wait, not exit.
    Our own refusals (``LedgerError``) and a closed connection are final.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await attempt()
        except LedgerError:
            raise
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            if is_closed(exc):
                raise closed_error(what, exc) from None
            last: BaseException = exc
        if loop.time() >= deadline:
            raise ReplicationUnavailable(
                f"{what} not available within {timeout:g}s "
                f"(last error: {type(last).__name__}: {last})"
            )
        await asyncio.sleep(0.2)


async def ensure_stream(
    js: JetStreamContext, where: StreamLayout, replicas: int, timeout: float
) -> StreamInfo:
    """The journal's stream, created if it does not exist yet.

    An existing stream is taken only if it is laid out as a journal stream: its subjects,
    at least ``replicas`` replicas, no deletes; it is never changed.
    """

    async def attempt() -> StreamInfo:
        try:
            info = await js.stream_info(where.stream)
        except nats.js.errors.NotFoundError:
            try:
                info = await js.add_stream(where.config(replicas))
            except nats.js.errors.BadRequestError as exc:
                if "already in use" in str(exc.description):  # made meanwhile: look again
                    raise
                raise LedgerUnavailable(
                    f"stream {where.stream} cannot be created: {exc.description}"
                ) from None
        _check_stream(info, where, replicas)
        return info

    return await until_available(attempt, f"stream {where.stream}", timeout)


def _check_stream(info: StreamInfo, where: StreamLayout, replicas: int) -> None:
    config = info.config
    problems = []
    if list(config.subjects or []) != [where.subject]:
        problems.append(f"its subjects are {config.subjects}, not [{where.subject!r}]")
    if (config.num_replicas or 1) < replicas:
        problems.append(f"it has {config.num_replicas or 1} replicas, not {replicas}")
    if not config.deny_delete or not config.deny_purge:
        problems.append("it allows deleting or purging messages")
    if problems:
        raise LedgerUnavailable(
            f"stream {where.stream} exists but is not laid out as a journal stream: "
            + "; ".join(problems)
        )


# ---- appending ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    """JetStream stored the message at ``sequence`` (or had it already: ``duplicate``)."""

    sequence: int
    duplicate: bool = False


@dataclass(frozen=True)
class Refused:
    """JetStream answered with an error (``err_code`` 10071/10070: a condition failed)."""

    code: int
    err_code: int
    description: str

    @property
    def conflict(self) -> bool:
        return self.err_code in (WRONG_LAST_SEQUENCE, WRONG_LAST_MSG_ID)

    @property
    def transient(self) -> bool:
        return self.code >= 500


@dataclass(frozen=True)
class NoAnswer:
    """No answer in time (or no server had the stream's leader): the message may or may
    not have been stored."""

    reason: str


Outcome = Stored | Refused | NoAnswer


class Publisher:
    """Sends messages back to back and collects every answer.

    Its own reply subscription rather than nats-py's ``publish_async``: in nats-py 2.16
    an error answer raises inside that method's reply callback and its future is never
    settled, so a refused append would hang instead of reporting the conflict.
    """

    def __init__(self, connection: NATS, subject: str) -> None:
        self._connection = connection
        self._subject = subject
        self._prefix = ""
        self._waiting: dict[str, asyncio.Future[Outcome]] = {}
        self._counter = 0

    async def start(self) -> None:
        self._prefix = self._connection.new_inbox()
        await self._connection.subscribe(f"{self._prefix}.*", cb=self._answer)

    async def _answer(self, msg: Msg) -> None:
        waiter = self._waiting.pop(msg.subject.rsplit(".", 1)[-1], None)
        if waiter is None or waiter.done():
            return
        waiter.set_result(answer_outcome(msg))

    async def publish(
        self, messages: Sequence[tuple[bytes, dict[str, str]]], timeout: float
    ) -> list[Outcome]:
        """Send ``messages`` in order, then wait up to ``timeout`` for all their answers."""
        loop = asyncio.get_running_loop()
        waiters: list[tuple[str, asyncio.Future[Outcome]]] = []
        try:
            for data, headers in messages:
                self._counter += 1
                token = str(self._counter)
                waiter: asyncio.Future[Outcome] = loop.create_future()
                self._waiting[token] = waiter
                waiters.append((token, waiter))
                await self._connection.publish(
                    self._subject, data, reply=f"{self._prefix}.{token}", headers=headers
                )
            if waiters:
                await asyncio.wait([w for _, w in waiters], timeout=timeout)
        except nats.errors.Error as exc:  # reconnecting, buffer full: what was not sent
            if is_closed(exc):  # gets no answer, and is sent again
                raise
        outcomes: list[Outcome] = []
        for token, waiter in waiters:
            self._waiting.pop(token, None)
            outcomes.append(waiter.result() if waiter.done() else NoAnswer(f"none in {timeout:g}s"))
        outcomes += [NoAnswer("not sent")] * (len(messages) - len(waiters))
        return outcomes


def answer_outcome(msg: Msg) -> Outcome:
    if msg.headers and msg.headers.get("Status") == "503":
        return NoAnswer("no server is the stream's leader right now (no responders)")
    try:
        answer = json.loads(msg.data)
    except ValueError:
        return NoAnswer(f"unreadable answer {msg.data[:80]!r}")
    error = answer.get("error")
    if error:
        return Refused(
            int(error.get("code", 0)), int(error.get("err_code", 0)), str(error.get("description"))
        )
    return Stored(int(answer["seq"]), bool(answer.get("duplicate")))


# ---- reading ------------------------------------------------------------------------------


class StreamReader:
    """The stream's messages, read by position: one at a time, or in order from a position
    on (an ephemeral pull consumer, made again from the caller's position whenever it is
    lost: a server gone, a consumer expired)."""

    def __init__(self, js: JetStreamContext, where: StreamLayout) -> None:
        self._js = js
        self._where = where
        self._subscription: Any = None
        self._consumer: str | None = None
        self._next = 0

    async def last_sequence(self) -> tuple[int, int]:
        """The stream's last sequence (its block count) and its average message size."""
        state = (await self._js.stream_info(self._where.stream)).state
        return state.last_seq, (state.bytes // state.messages if state.messages else 0)

    async def first_sequence(self) -> int:
        return (await self._js.stream_info(self._where.stream)).state.first_seq

    async def message_at(self, sequence: int) -> bytes | None:
        """Message ``sequence``'s data, or None if the stream does not reach it."""
        try:
            found = await self._js.get_msg(self._where.stream, sequence)
        except nats.js.errors.NotFoundError:
            return None
        return found.data or b""

    async def fetch(self, sequence: int, batch: int, wait: float) -> list[tuple[int, bytes]]:
        """Messages from ``sequence`` on, at most ``batch``; [] if none came in ``wait``."""
        if self._subscription is None or self._next != sequence:
            await self._reset(sequence)
        try:
            messages = await self._subscription.fetch(batch, timeout=wait)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error as exc:  # the consumer is gone (its server, or expired)
            await self.drop()
            if is_closed(exc):
                raise
            return []
        records = [(msg.metadata.sequence.stream, msg.data) for msg in messages]
        if records:
            self._next = records[-1][0] + 1
        return records

    async def _reset(self, sequence: int) -> None:
        await self.drop()
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=sequence,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=CONSUMER_IDLE_SECONDS,
            mem_storage=True,
            num_replicas=1,
        )
        self._subscription = await self._js.pull_subscribe(
            self._where.subject, stream=self._where.stream, config=config
        )
        self._consumer = config.name
        self._next = sequence

    async def drop(self) -> None:
        """Forget the consumer (the servers delete it; a lost one expires by itself)."""
        subscription, consumer = self._subscription, self._consumer
        self._subscription = self._consumer = None
        if subscription is not None:
            try:
                await subscription.unsubscribe()
                if consumer:
                    await self._js.delete_consumer(self._where.stream, consumer)
            except (TimeoutError, LedgerError, nats.errors.Error):
                pass  # it expires after CONSUMER_IDLE_SECONDS


def closed_error(stream: str, exc: BaseException) -> LedgerClosed:
    return LedgerClosed(f"stream {stream}: the NATS connection is closed ({exc})")
