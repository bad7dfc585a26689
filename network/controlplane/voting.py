"""AMB's approval-threshold rule, as pure functions of counts and time.

Amazon Managed Blockchain counts a proposal's YES votes against *every* member the
network had when the proposal was created (not against the votes cast), so a silent
member counts as a NO that never arrives. That makes the outcome certain early in
both directions: APPROVED as soon as the YES votes meet the threshold, REJECTED as soon
as the YES votes plus the votes still outstanding can no longer meet it. A proposal
nobody settles by its deadline is EXPIRED. Integer arithmetic throughout
(``yes * 100`` against ``percentage * electorate``) so 2/3 of a 3-member network is
never a rounding question. Everything here is pure: the service passes the clock in.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

MIN_PERCENTAGE = 0
MAX_PERCENTAGE = 100
MIN_DURATION_HOURS = 1
MAX_DURATION_HOURS = 168


class Comparator(enum.StrEnum):
    GREATER_THAN = "GREATER_THAN"
    GREATER_THAN_OR_EQUAL_TO = "GREATER_THAN_OR_EQUAL_TO"


class Outcome(enum.StrEnum):
    """AMB's ProposalStatus values that voting can produce."""

    IN_PROGRESS = "IN_PROGRESS"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


class Vote(enum.StrEnum):
    YES = "YES"
    NO = "NO"


@dataclass(frozen=True)
class Policy:
    """A network's ApprovalThresholdPolicy; ranges are checked where requests are parsed."""

    threshold_percentage: int
    duration_hours: int
    comparator: Comparator

    def __post_init__(self) -> None:
        if not MIN_PERCENTAGE <= self.threshold_percentage <= MAX_PERCENTAGE:
            raise ValueError(f"ThresholdPercentage {self.threshold_percentage} is not 0-100")
        if not MIN_DURATION_HOURS <= self.duration_hours <= MAX_DURATION_HOURS:
            raise ValueError(f"ProposalDurationInHours {self.duration_hours} is not 1-168")

    def expiration(self, created: datetime) -> datetime:
        return created + timedelta(hours=self.duration_hours)


@dataclass(frozen=True)
class Tally:
    electorate: int
    yes: int
    no: int

    def __post_init__(self) -> None:
        if self.electorate < 1:
            raise ValueError("a proposal's electorate has at least its proposer")
        if self.yes < 0 or self.no < 0 or self.yes + self.no > self.electorate:
            raise ValueError(f"{self.yes} YES + {self.no} NO votes exceed {self.electorate}")

    @property
    def outstanding(self) -> int:
        return self.electorate - self.yes - self.no


def meets_threshold(policy: Policy, yes: int, electorate: int) -> bool:
    """Whether ``yes`` of ``electorate`` members is enough under the policy."""
    share, bar = yes * 100, policy.threshold_percentage * electorate
    if policy.comparator is Comparator.GREATER_THAN:
        return share > bar
    return share >= bar


def yes_votes_needed(policy: Policy, electorate: int) -> int | None:
    """The fewest YES votes that approve, or None when even a unanimous YES cannot."""
    for yes in range(electorate + 1):
        if meets_threshold(policy, yes, electorate):
            return yes
    return None


def decide(policy: Policy, tally: Tally, created: datetime, now: datetime) -> Outcome:
    """The proposal's status after the votes in ``tally``, as seen at ``now``.

    A certain outcome wins over the deadline: votes are refused once a proposal is
    expired, so a tally that settles it was complete before the deadline passed.
    """
    if meets_threshold(policy, tally.yes, tally.electorate):
        return Outcome.APPROVED
    if not meets_threshold(policy, tally.yes + tally.outstanding, tally.electorate):
        return Outcome.REJECTED
    if now >= policy.expiration(created):
        return Outcome.EXPIRED
    return Outcome.IN_PROGRESS


def is_expired(policy: Policy, created: datetime, now: datetime) -> bool:
    return now >= policy.expiration(created)
