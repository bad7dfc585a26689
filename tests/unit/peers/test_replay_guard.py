"""``peers.replay``: a peer-to-peer request is accepted once, within a window of time, and
what is remembered to know that stays bounded."""

from __future__ import annotations

import re

import pytest

from peers.replay import NONCE_BYTES, Replayed, ReplayGuard, stamp


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_request_is_accepted_once() -> None:
    clock = Clock()
    guard = ReplayGuard(window=60, clock=clock)
    fields = stamp(clock)
    guard.admit(**fields)
    with pytest.raises(Replayed, match="received before"):
        guard.admit(**fields)


@pytest.mark.parametrize("skew", [-61.0, 61.0])
def test_a_request_outside_the_window_is_refused(skew: float) -> None:
    clock = Clock()
    guard = ReplayGuard(window=60, clock=clock)
    fields = stamp(lambda: clock.now + skew)
    with pytest.raises(Replayed, match=re.escape(f"{skew:+.0f} s from this peer")):
        guard.admit(**fields)
    guard.admit(**stamp(lambda: clock.now + skew / 2))  # inside: accepted


def test_a_short_nonce_is_refused() -> None:
    clock = Clock()
    with pytest.raises(Replayed, match=f"at least {NONCE_BYTES} are required"):
        ReplayGuard(clock=clock).admit(int(clock.now * 1e6), b"x" * (NONCE_BYTES - 1))


def test_nonces_are_forgotten_once_no_window_could_accept_them() -> None:
    clock = Clock()
    guard = ReplayGuard(window=60, limit=2, clock=clock)
    guard.admit(**stamp(clock))
    guard.admit(**stamp(clock))
    with pytest.raises(Replayed, match="more than 2 requests"):
        guard.admit(**stamp(clock))
    clock.now += 120.5  # twice the window: the first two can no longer be replayed
    guard.admit(**stamp(clock))
    guard.admit(**stamp(clock))
