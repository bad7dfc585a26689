"""Who cuts a channel's blocks in an ordering cluster: a lease in a JetStream bucket.

Any ordering node admits envelopes, but exactly one at a time cuts blocks. That one
holds the channel's *cutting lease*: an entry of a key-value bucket replicated on the
cluster's NATS servers, holding ``{holder, term, until}``. The holder renews it well
before ``until``; any other node may take it once ``until`` has passed. Both are
compare-and-set writes on the entry's revision, so JetStream decides every race and
nothing here votes or elects.

Two clocks, each used where it is safe:

- ``until`` is wall-clock time (seconds since the epoch), the only time two nodes can
  compare; hosts are assumed to agree within a fraction of the lease (NTP does better).
- whether *this* node may still cut is judged on its own monotonic clock, from the
  moment it *sent* its last successful renewal: a node stopped (SIGSTOP, a long pause)
  past the lease wakes up knowing it lost the lease before it writes anything.

The lease keeps a slow or paused cutter from racing a new one; it is not what keeps the
chain whole. That is the replicated journal's conditional append (expected last
sequence and previous block hash): a stale cutter's block is refused, never forked.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass

import nats.errors
import nats.js.errors
from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from ledgerdb.jetstream import until_available
from ordering.errors import OrderingError

log = logging.getLogger(__name__)

BUCKET = "ORDERING_LEASES"
DEFAULT_SECONDS = 1.5
"""How long a lease lasts without renewal: the longest a dead cutter holds up its channel
(the failover figure's main part). Renewed every third of it."""


@dataclass(frozen=True)
class LeaseRecord:
    """The lease as the bucket holds it."""

    holder: str
    term: int  # +1 on every change of holder: a cutter's term, shown by `status`
    until: float  # wall-clock deadline
    revision: int  # the bucket entry's revision, for compare-and-set

    def expired(self, now: float) -> bool:
        return now >= self.until


def lease_key(channel_id: str) -> str:
    """The bucket key of a channel (keys take letters, digits, ``-``, ``_``, ``=``, ``.``)."""
    return "channel." + channel_id


async def lease_bucket(js: JetStreamContext, replicas: int, timeout: float) -> KeyValue:
    """The cluster's lease bucket, made once (by whichever node comes first); waited for
    while the cluster elects its JetStream leader."""

    async def attempt() -> KeyValue:
        try:
            return await js.key_value(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            try:
                return await js.create_key_value(bucket=BUCKET, history=1, replicas=replicas)
            except nats.js.errors.BadRequestError:  # another node made it meanwhile
                return await js.key_value(BUCKET)

    return await until_available(attempt, f"lease bucket {BUCKET}", timeout)


class CuttingLease:
    """This node's view of one channel's lease: ``renew`` it on a timer, ``held`` says
    whether it may cut now."""

    def __init__(
        self, bucket: KeyValue, channel_id: str, node: str, seconds: float = DEFAULT_SECONDS
    ) -> None:
        self.bucket = bucket
        self.key = lease_key(channel_id)
        self.node = node
        self.seconds = seconds
        self._valid_until = 0.0  # monotonic; 0: not held
        self.record: LeaseRecord | None = None  # the last one seen

    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    async def renew(self) -> bool:
        """Renew the lease if held, take it if it expired; whether this node holds it.
        A lost compare-and-set (someone else wrote first) or no answer from the servers
        means: not held."""
        try:
            return await self._renew()
        except (nats.errors.Error, TimeoutError) as exc:
            log.info("lease %s: not renewed: %s", self.key, exc or type(exc).__name__)
            self._valid_until = 0.0
            return False

    async def _renew(self) -> bool:
        sent = time.monotonic()
        current = await self.read()
        now = time.time()
        if current is not None and current.holder != self.node and not current.expired(now):
            self._valid_until = 0.0
            return False
        if current is None:
            term = 1
        else:  # nobody else cut while the record named this node, whatever its clock says
            term = current.term if current.holder == self.node else current.term + 1
        value = json.dumps(
            {"holder": self.node, "term": term, "until": now + self.seconds}
        ).encode()
        try:
            if current is None:
                revision = await self.bucket.create(self.key, value)
            else:
                revision = await self.bucket.update(self.key, value, last=current.revision)
        except nats.js.errors.APIError:  # the compare-and-set lost
            self._valid_until = 0.0
            return False
        self.record = LeaseRecord(self.node, term, now + self.seconds, revision)
        # A margin of a tenth: the others judge `until` by their wall clocks.
        self._valid_until = sent + self.seconds * 0.9
        return True

    async def read(self) -> LeaseRecord | None:
        """The lease as the bucket has it now (None: never taken, or released)."""
        try:
            entry = await self.bucket.get(self.key)
        except nats.js.errors.KeyNotFoundError:
            return None
        if not entry.value:
            return None
        try:
            fields = json.loads(entry.value)
            record = LeaseRecord(
                str(fields["holder"]), int(fields["term"]), float(fields["until"]), entry.revision
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise OrderingError(
                f"lease {self.key} in bucket {BUCKET} holds {entry.value[:80]!r}, not a lease"
            ) from exc
        self.record = record
        return record

    async def release(self) -> None:
        """Give the lease up at once (a clean shutdown), so another node need not wait for
        it to expire."""
        if not self.held() or self.record is None:
            return
        self._valid_until = 0.0
        value = json.dumps({"holder": self.node, "term": self.record.term, "until": 0}).encode()
        with contextlib.suppress(nats.errors.Error, TimeoutError):  # taken already, or gone
            await self.bucket.update(self.key, value, last=self.record.revision)
