"""A channel's ingress in an ordering cluster: admitted envelopes, in order, replicated.

Any ordering node that admits an envelope (signature, Writers policy, size: the
``msgprocessor`` checks) publishes it to the channel's ingress stream, replicated on the
cluster's NATS servers, and answers Broadcast SUCCESS only once JetStream acknowledged
it: from then on it survives the loss of the node that admitted it and of any one
server. The node holding the cutting lease reads the stream in order and cuts blocks
from it; each block's metadata records the stream sequence of its last envelope, so a
new cutter continues exactly where the old one stopped.

Layout: stream ``ORDERING_INGRESS_<channel>`` with the one subject
``ordering.ingress.<channel>`` (a channel ID's dots become ``_``: Fabric channel IDs
have no ``_``, so the mapping is one to one). Each message's ``Nats-Msg-Id`` is the
SHA-256 of the envelope, so a client that retries a Broadcast on another node within
JetStream's duplicate window (two minutes) does not get its envelope ordered twice.

**A stream that fell back.** nats-server 2.9.10 can elect as a stream's leader a replica
that missed messages (two partitions in a row: ``docs/architecture.md``); the ingress
then ends *before* positions the blocks already recorded, and what it admits next would
get positions the cutter has read past, and be skipped. The cutter mends it
(``mend``): it fills the lost positions with *filler* messages (header
``Consortium-Kind: filler``, no envelope; never cut) under expected-last-sequence
conditions, and admits again, at the tail, every envelope that landed on a position it
had read past meanwhile. Positions it has read are in blocks already; what the lost tail
held beyond them (admitted, not yet read) no copy holds: the node that admitted each
such envelope keeps it until a block holds it and admits it again (``admit_again``,
``ordering.admissions``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RawStreamMsg,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)

from ledgerdb.jetstream import until_available
from ordering.errors import OrderingError

STREAM_PREFIX = "ORDERING_INGRESS_"
SUBJECT_PREFIX = "ordering.ingress."
KIND = "Consortium-Kind"  # header: "config-update" marks a CONFIG_UPDATE envelope
CONFIG_UPDATE = "config-update"
FILLER = "filler"  # ... and "filler" a position put back after a fall back (``mend``)
MEND_OF = "Consortium-Mend"  # a filler's header: the position its mend fills up to
EXPECTED_LAST_SEQUENCE = "Nats-Expected-Last-Sequence"
WRONG_LAST_SEQUENCE = 10071
PUBLISH_SECONDS = 2.0
ADMIT_SECONDS = 20.0
"""How long admission keeps trying: nats-server 2.9 takes 5–9 s to elect a stream's new
leader after its leader dies; the envelope is acknowledged once it has one."""
READ_STALL_SECONDS = 15.0
"""How long a cutter's consumer may deliver nothing while the stream holds more before
the cutter ends its term (``reading_stalled``): nats-py's ordered consumer recreates
itself after two missed heartbeats (10 s), in a background task whose failure it only
reports; once that fails, the consumer is gone and the iterator waits for ever."""
OPEN_SECONDS = 30.0
"""How long a starting node waits for its stream: a NATS server that has just restarted
leaves the cluster without a JetStream leader for some seconds."""


log = logging.getLogger(__name__)

IsCut = Callable[[int, bytes, bool], Awaitable[bool]]
"""Whether a block holds the envelope (bytes, is it a config update) at an ingress position."""


class IngressUnavailable(OrderingError):
    """The ingress stream did not acknowledge an envelope: nothing was admitted."""


@dataclass(frozen=True)
class Admitted:
    """One envelope as the ingress holds it: its stream sequence is its position."""

    sequence: int
    envelope: bytes
    is_config_update: bool


def channel_token(channel_id: str) -> str:
    return channel_id.replace(".", "_")


class Ingress:
    """The ingress stream of one channel, as one ordering node uses it."""

    def __init__(self, js: JetStreamContext, channel_id: str, replicas: int) -> None:
        self.js = js
        self.channel_id = channel_id
        self.replicas = replicas
        token = channel_token(channel_id)
        self.stream = STREAM_PREFIX + token
        self.subject = SUBJECT_PREFIX + token
        self.delivered = 0  # the newest position ``read``'s consumer delivered (fillers too)
        self.delivered_at = 0.0  # monotonic: when it delivered it (or was made)
        self.reading = False  # a ``read`` is running

    def stream_config(self) -> StreamConfig:
        """The stream as every node makes it (a restored snapshot makes it the same way,
        starting at the position its blocks reached: ``network.snapshot_streams``)."""
        return StreamConfig(
            name=self.stream,
            subjects=[self.subject],
            description=f"envelopes admitted to channel {self.channel_id}, in order",
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.NEW,
            storage=StorageType.FILE,
            num_replicas=self.replicas,
            deny_delete=True,
            deny_purge=True,
        )

    async def open(self) -> None:
        """Make the stream if it is not there (every node tries; the first one makes it)."""
        config = self.stream_config()

        async def attempt() -> StreamInfo:
            try:
                return await self.js.stream_info(self.stream)
            except nats.js.errors.NotFoundError:
                try:
                    return await self.js.add_stream(config)
                except nats.js.errors.BadRequestError:  # made meanwhile by another node
                    return await self.js.stream_info(self.stream)

        info = await until_available(attempt, f"stream {self.stream}", OPEN_SECONDS)
        if list(info.config.subjects or []) != [self.subject]:
            raise OrderingError(
                f"stream {self.stream} exists with subjects {info.config.subjects}, "
                f"not [{self.subject}]: it is not this channel's ingress"
            )

    async def admit(self, envelope: bytes, is_config_update: bool) -> int:
        """Publish ``envelope``; its position once JetStream acknowledged it (a
        duplicate of an envelope admitted before answers that one's position)."""
        return await self._publish(envelope, _headers(envelope, is_config_update))

    async def admit_again(self, envelope: bytes, is_config_update: bool, was_at: int) -> int:
        """Admit at the tail an envelope the stream held at ``was_at`` before it fell
        back; its new position. The message id is marked with the old position (the
        original id would be taken for a duplicate of itself), the same mark whoever
        admits it again (the cutter's ``mend``, the admitting node's ``Admissions``), so
        JetStream keeps one of them."""
        headers = _headers(envelope, is_config_update)
        headers["Nats-Msg-Id"] += f"/again@{was_at}"
        return await self._publish(envelope, headers)

    async def holds(self, position: int, envelope: bytes) -> bool:
        """Whether the stream holds ``envelope`` at ``position`` (not after a fall back
        that lost it, or gave the position to another message)."""
        try:
            held = await self.js.get_msg(self.stream, position)
        except nats.js.errors.NotFoundError:
            return False
        return (held.data or b"") == envelope

    async def _publish(self, data: bytes, headers: dict[str, str]) -> int:
        """Publish until JetStream acknowledges, for up to ``ADMIT_SECONDS``; the position."""
        deadline = time.monotonic() + ADMIT_SECONDS
        pause = 0.05
        while True:  # sent again after no answer: the message id makes it count once
            try:
                ack = await self.js.publish(
                    self.subject, data, timeout=PUBLISH_SECONDS, headers=headers
                )
                if not (ack.duplicate and ack.seq == 0):
                    return ack.seq
                # The leader staged this id for a send it has not stored yet (nats-server
                # answers such a duplicate with sequence 0): not a position, ask again.
                problem = "answered as a duplicate of a send not stored yet"
            except (nats.errors.Error, TimeoutError) as exc:
                problem = str(exc) or type(exc).__name__
            if time.monotonic() + pause > deadline:
                raise IngressUnavailable(
                    f"channel {self.channel_id}: ingress stream {self.stream} did not "
                    f"acknowledge the envelope in {ADMIT_SECONDS:g}s ({problem})"
                )
            await asyncio.sleep(pause)  # a server lost: the stream elects a leader
            pause = min(pause * 2, 0.5)

    async def last_sequence(self) -> int:
        info = await self.js.stream_info(self.stream)
        return info.state.last_seq

    def reading_stalled(self, last: int) -> bool:
        """Whether ``read``'s consumer has delivered nothing for ``READ_STALL_SECONDS``
        while the stream holds messages past what it delivered (``last``: the stream's
        last position). Found under a backlog: a cutter whose consumer nats-py failed to
        recreate held its lease, renewing it, and cut nothing for minutes."""
        waited = time.monotonic() - self.delivered_at
        return self.reading and last > self.delivered and waited > READ_STALL_SECONDS

    async def mend(self, read: int, cut: IsCut) -> int | None:
        """Make the stream reach position ``read`` (the last one the cutter read) again if
        it fell back below it; returns how many envelopes were admitted again (None: it
        had not fallen back).

        First, the envelopes admitted since the fall back onto positions up to ``read``:
        walking back from the stream's tip, every message that is not the envelope a block
        holds for its position (``cut`` says) came after the fall back. Then fillers go in
        one position at a time, each on the expected last sequence, until the stream
        reaches ``read`` (an envelope that takes a position meanwhile joins the others).
        Last, those envelopes are admitted again at the tail (their message id marked, or
        JetStream would take each for a duplicate of itself), where the cutter reads them.
        """
        last = await self.last_sequence()
        if last >= read:
            return None
        log.error(
            "channel %s: ingress stream %s holds %d envelopes, but the blocks record %d: "
            "its leader lost positions up to %d; filling them (those envelopes are in blocks)",
            self.channel_id,
            self.stream,
            last,
            read,
            read,
        )
        overtaken = await self._admitted_since_fall_back(last, read, cut)
        while last < read:
            headers = {KIND: FILLER, EXPECTED_LAST_SEQUENCE: str(last), MEND_OF: str(read)}
            try:
                last = (await self.js.publish(self.subject, b"", headers=headers)).seq
            except nats.js.errors.APIError as exc:
                if exc.err_code != WRONG_LAST_SEQUENCE:
                    raise
                now = await self.last_sequence()
                overtaken += await self._not_cut(range(last + 1, min(now, read) + 1), cut)
                last = now
        for held in overtaken:
            is_config_update = (held.headers or {}).get(KIND) == CONFIG_UPDATE
            await self.admit_again(held.data or b"", is_config_update, held.seq)
        return len(overtaken)

    async def _admitted_since_fall_back(
        self, last: int, read: int, cut: IsCut
    ) -> list[RawStreamMsg]:
        """The messages from the stream's tip back to the newest one a block holds (or a
        filler of another mend): admitted after the fall back, in order.

        Fillers of a mend up to the same ``read`` are passed over: a cutter killed part
        way through this very mend left them above (and between) the envelopes it had
        found, and those it kept in memory only. Another mend's fillers end the walk:
        what lies below them was dealt with by that mend."""
        found: list[RawStreamMsg] = []
        for position in range(last, 0, -1):
            held = await self.js.get_msg(self.stream, position)
            headers = held.headers or {}
            if headers.get(KIND) == FILLER and headers.get(MEND_OF) == str(read):
                continue
            if not await self._admitted_anew(held, cut):
                break
            found.append(held)
        return found[::-1]

    async def _not_cut(self, positions: range, cut: IsCut) -> list[RawStreamMsg]:
        """The envelopes at ``positions`` that no block holds there (not fillers)."""
        found = []
        for position in positions:
            held = await self.js.get_msg(self.stream, position)
            if await self._admitted_anew(held, cut):
                found.append(held)
        return found

    @staticmethod
    async def _admitted_anew(held: RawStreamMsg, cut: IsCut) -> bool:
        kind = (held.headers or {}).get(KIND)
        if kind == FILLER:
            return False
        return not await cut(held.seq, held.data or b"", kind == CONFIG_UPDATE)

    async def read(self, after: int) -> AsyncIterator[Admitted]:
        """Every envelope after position ``after``, in order, waiting for new ones (an
        ordered consumer: JetStream redelivers from the right place after a hiccup).

        A stream that fell back below ``after`` starts such a consumer at its own end, not
        at ``after + 1`` (nats-server clamps the start sequence to the last one + 1): what
        it delivers up to ``after`` is the mend's to deal with (``mend``), never the
        cutter's, which would cut it into a block recording an earlier position."""
        subscription = await self.js.subscribe(
            self.subject,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=after + 1),
        )
        self.delivered, self.delivered_at = after, time.monotonic()
        self.reading = True
        try:
            async for message in subscription.messages:
                sequence = message.metadata.sequence.stream
                self.delivered, self.delivered_at = sequence, time.monotonic()
                kind = (message.headers or {}).get(KIND)
                if kind != FILLER and sequence > after:
                    yield Admitted(sequence, message.data, kind == CONFIG_UPDATE)
        finally:
            self.reading = False
            await subscription.unsubscribe()


def _headers(envelope: bytes, is_config_update: bool) -> dict[str, str]:
    """An admitted envelope's headers: its SHA-256 as message id (a retry on another node
    within the duplicate window counts once) and its kind."""
    headers = {"Nats-Msg-Id": hashlib.sha256(envelope).hexdigest()}
    if is_config_update:
        headers[KIND] = CONFIG_UPDATE
    return headers
