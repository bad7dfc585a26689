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
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.api import (
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
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
PUBLISH_SECONDS = 2.0
ADMIT_SECONDS = 20.0
"""How long admission keeps trying: nats-server 2.9 takes 5–9 s to elect a stream's new
leader after its leader dies; the envelope is acknowledged once it has one."""
OPEN_SECONDS = 30.0
"""How long a starting node waits for its stream: a NATS server that has just restarted
leaves the cluster without a JetStream leader for some seconds."""


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

    async def open(self) -> None:
        """Make the stream if it is not there (every node tries; the first one makes it)."""
        config = StreamConfig(
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
        headers = {"Nats-Msg-Id": hashlib.sha256(envelope).hexdigest()}
        if is_config_update:
            headers[KIND] = CONFIG_UPDATE
        deadline = time.monotonic() + ADMIT_SECONDS
        pause = 0.05
        while True:  # sent again after no answer: the message id makes it count once
            try:
                ack = await self.js.publish(
                    self.subject, envelope, timeout=PUBLISH_SECONDS, headers=headers
                )
                return ack.seq
            except (nats.errors.Error, TimeoutError) as exc:
                if time.monotonic() + pause > deadline:
                    raise IngressUnavailable(
                        f"channel {self.channel_id}: ingress stream {self.stream} did not "
                        f"acknowledge the envelope in {ADMIT_SECONDS:g}s "
                        f"({exc or type(exc).__name__})"
                    ) from None
                await asyncio.sleep(pause)  # a server lost: the stream elects a leader
                pause = min(pause * 2, 0.5)

    async def last_sequence(self) -> int:
        info = await self.js.stream_info(self.stream)
        return info.state.last_seq

    async def read(self, after: int) -> AsyncIterator[Admitted]:
        """Every envelope after position ``after``, in order, waiting for new ones (an
        ordered consumer: JetStream redelivers from the right place after a hiccup)."""
        subscription = await self.js.subscribe(
            self.subject,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            config=ConsumerConfig(opt_start_seq=after + 1),
        )
        try:
            async for message in subscription.messages:
                sequence = message.metadata.sequence.stream
                kind = (message.headers or {}).get(KIND)
                yield Admitted(sequence, message.data, kind == CONFIG_UPDATE)
        finally:
            await subscription.unsubscribe()
