"""Governance events, derived in one place from what a committed transaction changed.

Events are computed from (before, after) pairs of documents, never raised ad hoc by the
operations, so every path that changes governance state (a vote, an expiry sweep, a
supervisor report, a block read back from the journal) yields the same events. They
are published only after the transaction is durable. The MQTT bridge subscribes to ``EventBus``.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

DECIDED = ("APPROVED", "REJECTED", "EXPIRED", "ACTION_FAILED")
GONE = ("DELETING", "DELETED")


@dataclass(frozen=True)
class GovernanceEvent:
    kind: str  # ProposalCreated | VoteCast | ProposalDecided | MemberJoined | MemberRemoved
    #          | InvitationIssued | InvitationChanged
    network_id: str
    subject_id: str
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "Kind": self.kind,
            "NetworkId": self.network_id,
            "SubjectId": self.subject_id,
            **self.detail,
        }


Transition = tuple[str, Mapping[str, Any] | None, Mapping[str, Any]]


def _proposal(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[GovernanceEvent]:
    found = []
    network, subject = after["NetworkId"], after["ProposalId"]
    if before is None:
        found.append(
            GovernanceEvent(
                "ProposalCreated",
                network,
                subject,
                {"ProposedByMemberId": after["ProposedByMemberId"], "Actions": after["Actions"]},
            )
        )
    was = None if before is None else before["Status"]
    if after["Status"] in DECIDED and was not in DECIDED:
        found.append(
            GovernanceEvent("ProposalDecided", network, subject, {"Status": after["Status"]})
        )
    return found


def _vote(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[GovernanceEvent]:
    if before is not None:
        return []
    detail = {"ProposalId": after["ProposalId"], "Vote": after["Vote"]}
    return [GovernanceEvent("VoteCast", after["NetworkId"], after["MemberId"], detail)]


def _member(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[GovernanceEvent]:
    was = None if before is None else before["Status"]
    network, subject = after["NetworkId"], after["Id"]
    if after["Status"] == "AVAILABLE" and was in (None, "CREATING"):
        return [GovernanceEvent("MemberJoined", network, subject, {"Name": after["Name"]})]
    if after["Status"] in GONE and was not in GONE:
        return [GovernanceEvent("MemberRemoved", network, subject, {"Name": after["Name"]})]
    return []


def _invitation(
    before: Mapping[str, Any] | None, after: Mapping[str, Any]
) -> list[GovernanceEvent]:
    network, subject = after["NetworkId"], after["InvitationId"]
    detail = {"Principal": after["Principal"], "Status": after["Status"]}
    if before is None:
        return [GovernanceEvent("InvitationIssued", network, subject, detail)]
    if before["Status"] != after["Status"]:
        return [GovernanceEvent("InvitationChanged", network, subject, detail)]
    return []


_RULES: dict[str, Callable[[Mapping[str, Any] | None, Mapping[str, Any]], list[GovernanceEvent]]]
_RULES = {
    "proposals": _proposal,
    "votes": _vote,
    "members": _member,
    "invitations": _invitation,
}


def events_for(transitions: Sequence[Transition]) -> list[GovernanceEvent]:
    """The governance events of one transaction, in the order its documents changed."""
    found: list[GovernanceEvent] = []
    for table, before, after in transitions:
        rule = _RULES.get(table)
        if rule is not None:
            found.extend(rule(before, after))
    return found


Subscriber = Callable[[GovernanceEvent], None]


class EventBus:
    """Fan-out to subscribers; a failing subscriber is logged and never blocks the others."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)

    def publish(self, events: Sequence[GovernanceEvent]) -> None:
        for event in events:
            for subscriber in list(self._subscribers):
                try:
                    subscriber(event)
                except Exception:
                    log.exception("governance event subscriber failed on %s", event.kind)


Backfill = Callable[[int, int, int], list[tuple[int, GovernanceEvent]]]


class EventFeed:
    """Every event with the journal block it came from, for consumers in other processes.

    Blocks committed since this process started are kept in memory as they become
    durable; the events of older blocks (up to ``base``, the journal's tip at start) are
    derived from the journal on demand by ``backfill(first, last, limit)``, so a consumer
    that remembers the last block it saw resumes with ``after`` and misses nothing across
    restarts, and a start replays nothing. Blocks may become durable out of order under
    group commit; only the contiguous durable prefix is served (and published), so a
    consumer never skips a block that lands late.
    """

    MAX_BATCH = 1000

    def __init__(self, base: int = -1, backfill: Backfill | None = None) -> None:
        self._events: list[tuple[int, int, GovernanceEvent]] = []
        self._done: dict[int, Sequence[GovernanceEvent]] = {}
        self.base = base
        self.upto = base
        self._backfill = backfill
        self._changed = asyncio.Event()
        self._closed = False

    def close(self) -> None:
        """Answer every long poll now: the server is stopping and will not wait for them."""
        self._closed = True
        self._changed.set()

    def record(self, sequence_no: int, events: Sequence[GovernanceEvent]) -> list[GovernanceEvent]:
        """Note a durable block; returns the events now deliverable, in block order."""
        for index, event in enumerate(events):
            bisect.insort(self._events, (sequence_no, index, event), key=lambda e: e[:2])
        self._done[sequence_no] = events
        ready: list[GovernanceEvent] = []
        while self.upto + 1 in self._done:
            self.upto += 1
            ready.extend(self._done.pop(self.upto))
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        return ready

    def after(self, sequence_no: int) -> list[tuple[int, GovernanceEvent]]:
        start = bisect.bisect_right(self._events, (sequence_no, 1 << 62), key=lambda e: e[:2])
        found = []
        for number, _, event in self._events[start : start + self.MAX_BATCH]:
            if number > self.upto:
                break
            found.append((number, event))
        return found

    async def wait_after(
        self, sequence_no: int, seconds: float
    ) -> list[tuple[int, GovernanceEvent]]:
        """Events after ``sequence_no``, waiting up to ``seconds`` for the first one."""
        if sequence_no < self.base and self._backfill is not None:
            first, last = sequence_no + 1, self.base
            older = await asyncio.to_thread(self._backfill, first, last, self.MAX_BATCH)
            if older:
                return older
            sequence_no = self.base
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            found = self.after(sequence_no)
            remaining = deadline - loop.time()
            if found or remaining <= 0 or self._closed:
                return found
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                return self.after(sequence_no)
