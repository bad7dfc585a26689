"""The voting rule: a table of 2-5 member networks × thresholds × both comparators.

Expected YES counts come from the closed forms (GREATER_THAN: floor(p·n/100) + 1,
GREATER_THAN_OR_EQUAL_TO: ceil(p·n/100)), an independent statement of AMB's rule, and
from hand-checked rows such as AMB's own example (10 members, 50, GREATER_THAN → 6).
"""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta

import pytest

from network.controlplane.voting import (
    Comparator,
    Outcome,
    Policy,
    Tally,
    decide,
    meets_threshold,
    yes_votes_needed,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
GT, GTE = Comparator.GREATER_THAN, Comparator.GREATER_THAN_OR_EQUAL_TO
THRESHOLDS = (0, 1, 25, 33, 34, 50, 51, 66, 67, 75, 99, 100)


def closed_form(percentage: int, comparator: Comparator, members: int) -> int | None:
    if comparator is GT:
        needed = math.floor(percentage * members / 100) + 1
    else:
        needed = math.ceil(percentage * members / 100)
    return needed if needed <= members else None


CASES = list(itertools.product((2, 3, 4, 5), THRESHOLDS, (GT, GTE)))


@pytest.mark.parametrize(("members", "percentage", "comparator"), CASES)
def test_needed_yes_votes_match_the_closed_form(
    members: int, percentage: int, comparator: Comparator
) -> None:
    policy = Policy(percentage, 24, comparator)
    assert yes_votes_needed(policy, members) == closed_form(percentage, comparator, members)


@pytest.mark.parametrize(
    ("members", "percentage", "comparator", "needed"),
    [
        (10, 50, GT, 6),  # AMB's documented example
        (10, 50, GTE, 5),
        (2, 50, GT, 2),
        (2, 50, GTE, 1),
        (3, 50, GT, 2),
        (3, 66, GT, 2),
        (3, 67, GTE, 3),
        (4, 75, GTE, 3),
        (4, 75, GT, 4),
        (5, 100, GTE, 5),
        (5, 100, GT, None),
        (5, 0, GTE, 0),
        (5, 0, GT, 1),
    ],
)
def test_hand_checked_rows(
    members: int, percentage: int, comparator: Comparator, needed: int | None
) -> None:
    assert yes_votes_needed(Policy(percentage, 1, comparator), members) == needed


@pytest.mark.parametrize(("members", "percentage", "comparator"), CASES)
def test_yes_votes_approve_exactly_at_the_needed_count(
    members: int, percentage: int, comparator: Comparator
) -> None:
    policy = Policy(percentage, 24, comparator)
    needed = yes_votes_needed(policy, members)
    outcomes = [decide(policy, Tally(members, yes, 0), T0, T0) for yes in range(members + 1)]
    if needed is None:
        assert set(outcomes) == {Outcome.REJECTED}
        return
    for yes, outcome in enumerate(outcomes):
        assert outcome is (Outcome.APPROVED if yes >= needed else Outcome.IN_PROGRESS)


@pytest.mark.parametrize(("members", "percentage", "comparator"), CASES)
def test_no_votes_reject_as_soon_as_approval_is_impossible(
    members: int, percentage: int, comparator: Comparator
) -> None:
    policy = Policy(percentage, 24, comparator)
    needed = yes_votes_needed(policy, members)
    for no in range(members + 1):
        outcome = decide(policy, Tally(members, 0, no), T0, T0)
        if needed == 0:
            assert outcome is Outcome.APPROVED
        elif needed is None or no > members - needed:
            assert outcome is Outcome.REJECTED
        else:
            assert outcome is Outcome.IN_PROGRESS


@pytest.mark.parametrize("members", [2, 3, 4, 5])
def test_mixed_votes_settle_on_the_deciding_vote(members: int) -> None:
    """Majority (50, GREATER_THAN): alternating NO, YES... settles on the vote that decides."""
    policy = Policy(50, 24, GT)
    needed = members // 2 + 1
    yes = no = 0
    for vote in itertools.islice(itertools.cycle(["NO", "YES"]), members):
        yes, no = (yes + 1, no) if vote == "YES" else (yes, no + 1)
        outcome = decide(policy, Tally(members, yes, no), T0, T0)
        if yes >= needed:
            assert outcome is Outcome.APPROVED
            return
        if no > members - needed:
            assert outcome is Outcome.REJECTED
            return
        assert outcome is Outcome.IN_PROGRESS
    pytest.fail("a full vote always settles a proposal")


def test_expiry_at_creation_plus_duration() -> None:
    policy = Policy(50, 3, GT)
    tally = Tally(4, 1, 1)
    deadline = T0 + timedelta(hours=3)
    assert decide(policy, tally, T0, deadline - timedelta(microseconds=1)) is Outcome.IN_PROGRESS
    assert decide(policy, tally, T0, deadline) is Outcome.EXPIRED
    assert decide(policy, tally, T0, deadline + timedelta(days=9)) is Outcome.EXPIRED


def test_a_settled_tally_is_not_turned_into_expiry() -> None:
    policy = Policy(50, 1, GT)
    late = T0 + timedelta(hours=2)
    assert decide(policy, Tally(3, 2, 0), T0, late) is Outcome.APPROVED
    assert decide(policy, Tally(3, 0, 2), T0, late) is Outcome.REJECTED


@pytest.mark.parametrize(("percentage", "hours"), [(-1, 1), (101, 1), (50, 0), (50, 169)], ids=str)
def test_policy_ranges(percentage: int, hours: int) -> None:
    with pytest.raises(ValueError):
        Policy(percentage, hours, GT)


@pytest.mark.parametrize(("electorate", "yes", "no"), [(0, 0, 0), (2, 2, 1), (3, -1, 0)])
def test_impossible_tallies(electorate: int, yes: int, no: int) -> None:
    with pytest.raises(ValueError):
        Tally(electorate, yes, no)


def test_threshold_is_integer_exact() -> None:
    """2 of 3 is 66.67%: above 66, not above 67, and never a float rounding question."""
    assert meets_threshold(Policy(66, 1, GT), 2, 3)
    assert not meets_threshold(Policy(67, 1, GTE), 2, 3)
    assert meets_threshold(Policy(33, 1, GT), 1, 3)
    assert not meets_threshold(Policy(34, 1, GTE), 1, 3)
