"""The envelopes one ordering node admitted that no block holds yet, kept to admit again
if the ingress loses them.

Why: Broadcast answers SUCCESS once the ingress stream acknowledged an envelope. If the
stream then falls back (nats-server 2.9.10 can elect a replica that missed messages as
its leader) before any cutter read the envelope, no block and no node's copy holds it.
Fabric promises no more than "accepted for ordering" either (a Raft leader that changes
drops envelopes it had not proposed; clients resubmit after a commit-status timeout:
``docs/architecture.md``), but the node that admitted the envelope still has it. It keeps
it until a block in its copy holds it, and if the stream no longer holds it at its
position after a grace time (a cutter that read it has put it in a block by then), it
admits it again at the tail. Each acknowledged one is on disk before SUCCESS is answered
(``ordering.admission_log``), so a node killed in the same window reads them back when it
restarts and goes on checking them: the checks below hold whatever the node did before.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from fabric_protos.common import common_pb2

from ordering.admission_log import AdmissionLog, AdmissionRecord
from ordering.chain import decode_position
from ordering.ingress import Ingress

log = logging.getLogger(__name__)

FORGET_SECONDS = 300.0
"""Kept at most this long: a client has long since timed out and resubmitted."""
OVERTAKEN_SECONDS = 100.0
"""An envelope the blocks passed over is admitted again only this long after its
admission: well inside JetStream's two-minute duplicate window, which then keeps one of
this admission and the mend's (the mend's came after the envelope's admission)."""

IsCut = Callable[[int, bytes, bool], Awaitable[bool]]


ADMITTING = -1
"""The position of an envelope whose admission is not acknowledged yet."""


@dataclass
class _Kept:
    position: int
    is_config_update: bool
    since: float  # monotonic: admitted (or admitted again)

    def record(self, envelope: bytes) -> AdmissionRecord:
        admitted_at = time.time() - (time.monotonic() - self.since)
        return AdmissionRecord(envelope, self.position, self.is_config_update, admitted_at)


class Admissions:
    """This node's admitted, not yet ordered envelopes of one channel."""

    def __init__(self, ingress: Ingress, grace: float, directory: Path | None = None) -> None:
        """``directory``: the channel's folder, where the kept envelopes are recorded
        (None: in memory only, for unit tests of the bookkeeping)."""
        self.ingress = ingress
        self.grace = grace
        self._kept: dict[bytes, _Kept] = {}
        self._covered = 0  # the ingress position the newest block in the copy records
        self.admitted_again = 0
        self.log = (
            None if directory is None else AdmissionLog(directory, self.records, self.__len__)
        )
        if self.log is not None:
            self._restore(self.log.read())

    def _restore(self, records: list[AdmissionRecord]) -> None:
        """Keep again what a previous run of this node recorded (its clients got SUCCESS)."""
        now, monotonic = time.time(), time.monotonic()
        for record in records:
            since = monotonic - max(now - record.admitted_at, 0.0)
            self._kept[record.envelope] = _Kept(record.position, record.is_config_update, since)
        if records:
            log.info(
                "channel %s: %d admitted envelopes recorded by the previous run are checked "
                "until a block holds them",
                self.ingress.channel_id,
                len(records),
            )

    def records(self) -> list[AdmissionRecord]:
        """The acknowledged envelopes kept now, as the admission log records them."""
        return [
            kept.record(envelope)
            for envelope, kept in self._kept.items()
            if kept.position != ADMITTING
        ]

    def covered(self, block: common_pb2.Block) -> None:
        """The copy reaches ``block`` (at start: its newest block)."""
        self._covered = max(self._covered, decode_position(block)[0])

    def __len__(self) -> int:
        return len(self._kept)

    def keep(self, envelope: bytes, is_config_update: bool) -> None:
        """Keep ``envelope`` from before it is published (a block holding it may reach
        the copy before the acknowledgement reaches this node)."""
        self._kept[envelope] = _Kept(ADMITTING, is_config_update, time.monotonic())

    async def placed(self, envelope: bytes, position: int) -> None:
        """The ingress acknowledged ``envelope`` at ``position``: return once that is
        recorded on disk (then SUCCESS may be answered; ``AdmissionLogFailed`` if not)."""
        kept = self._kept.get(envelope)
        if kept is None:  # a block holding it reached the copy first: ordered already
            return
        if kept.position == ADMITTING:
            kept.position = position
        if self.log is not None:
            await self.log.write(kept.record(envelope))

    def refused(self, envelope: bytes) -> None:
        """Not admitted (not acknowledged): nothing to keep."""
        kept = self._kept.get(envelope)
        if kept is not None and kept.position == ADMITTING:
            del self._kept[envelope]

    def ordered(self, block: common_pb2.Block, is_config: bool) -> None:
        """Forget what ``block`` holds (a config block holds the update's result, not the
        update: config updates up to its position are forgotten)."""
        self.covered(block)
        if not self._kept:
            return
        for envelope in block.data.data:
            self._kept.pop(envelope, None)
        if is_config:
            position = decode_position(block)[0]
            for envelope, kept in list(self._kept.items()):
                if kept.is_config_update and kept.position <= position:
                    del self._kept[envelope]

    def overdue(self) -> bool:
        """Whether any envelope is kept past the grace time (then ``admit_lost`` has
        something to check)."""
        limit = time.monotonic() - self.grace
        return any(k.position != ADMITTING and k.since < limit for k in self._kept.values())

    async def admit_lost(self, cut: IsCut) -> int:
        """Admit again every envelope kept past the grace time that no block holds where
        it was placed; how many. Call it only with the copy at the block stream's end (a
        block holding the envelope must have reached the copy), or it could admit one
        twice.

        - The ingress no longer holds it at its position, and the block of that position
          does not hold it: the stream lost it before any cutter read it.
        - The ingress holds it where the blocks have passed, and the block of its position
          does not hold it: it took a position the stream had lost, and the cutter's mend
          admits such envelopes again once it has filled the lost positions; a cutter
          killed between the two took that list with it. It is admitted again here
          under the same message id as the mend's (``Ingress.admit_again``), so
          JetStream keeps one, but only within JetStream's duplicate window
          (``OVERTAKEN_SECONDS`` after its admission): later, whether the mend admitted
          it cannot be told, and it is forgotten, with a warning. Not a config update:
          the cutter drops one that no longer applies (as Fabric does), so no block
          holding it proves nothing; it is forgotten, as before.
        - Held where no block has passed: not read yet, kept.

        Newest first, and one ingress read for all those not read yet: a stream that
        falls back loses a suffix of its positions (its new leader missed the tail), so
        once the stream still holds one kept envelope at its position it holds every
        older one at theirs. Under a backlog (envelopes waiting longer than the grace time
        to be read) this asks the stream once per call instead of once per kept envelope,
        which cost the node and the stream's leader a request each, every lease."""
        now = time.monotonic()
        again = 0
        intact = 0  # the stream holds, at their positions, the kept envelopes up to here
        newest_first = sorted(self._kept.items(), key=lambda item: -item[1].position)
        for envelope, kept in newest_first:
            if now - kept.since > FORGET_SECONDS:
                self._kept.pop(envelope, None)
                continue
            if kept.position == ADMITTING or now - kept.since < self.grace:
                continue
            if self._covered < kept.position <= intact:
                continue  # held where no block has passed: not read yet
            held = await self.ingress.holds(kept.position, envelope)
            if held:
                intact = max(intact, kept.position)
            if held and kept.position > self._covered:
                continue
            if held and kept.is_config_update:  # the cutter may have dropped it: no block
                self._kept.pop(envelope, None)
                continue
            if envelope not in self._kept:  # a block holding it arrived meanwhile
                continue
            if await cut(kept.position, envelope, kept.is_config_update):
                self._kept.pop(envelope, None)
                continue
            if held and now - kept.since >= OVERTAKEN_SECONDS:
                log.warning(
                    "channel %s: an envelope admitted at ingress position %d was passed over "
                    "by the blocks %.0f s ago; too late to tell whether a mend admitted it "
                    "again: forgotten (its client resubmits if it got no commit status)",
                    self.ingress.channel_id,
                    kept.position,
                    now - kept.since,
                )
                self._kept.pop(envelope, None)
                continue
            position = await self.ingress.admit_again(
                envelope, kept.is_config_update, kept.position
            )
            log.warning(
                "channel %s: an envelope admitted at ingress position %d %s: admitted again at %d",
                self.ingress.channel_id,
                kept.position,
                "was passed over by the blocks (a mend did not admit it again)"
                if held
                else "was lost by the stream before any block held it",
                position,
            )
            self._kept[envelope] = again_kept = _Kept(
                position, kept.is_config_update, time.monotonic()
            )
            if self.log is not None:  # a restart must check the new position, not the old
                await self.log.write(again_kept.record(envelope))
            again += 1
        self.admitted_again += again
        return again
