"""A signed request between peers is good once, and only for a while.

Push and Pull (``peers.dissemination``) carry the time they were made and a random nonce
inside the signed payload. The receiving peer refuses a request whose time is more than
``WINDOW_SECONDS`` from its own clock, and one whose nonce it has seen: a recorded
request cannot be played again, whoever captured it. A nonce is remembered for twice the
window after it arrived (long enough to outlive any request time the window accepts), in
arrival order, so forgetting is a pop from the front; at most ``MAX_REMEMBERED`` are kept,
and past that new requests are refused until old ones age out (only authenticated peers
get this far, so a full table is a misbehaving peer, not the network's load).
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from peers.errors import PeerError

WINDOW_SECONDS = 300.0
MAX_REMEMBERED = 100_000
NONCE_BYTES = 16


class Replayed(PeerError):
    """A peer-to-peer request that is stale, from the future, without a nonce, or seen
    before."""


def stamp(clock: Callable[[], float] = time.time) -> dict[str, Any]:
    """The fields that make a payload good once: its time and a fresh nonce."""
    return {"time_micros": int(clock() * 1_000_000), "nonce": os.urandom(NONCE_BYTES)}


class ReplayGuard:
    def __init__(
        self,
        window: float = WINDOW_SECONDS,
        limit: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self.limit = limit
        self.clock = clock
        self._seen: OrderedDict[bytes, float] = OrderedDict()  # nonce -> when to forget it

    def admit(self, time_micros: int, nonce: bytes) -> None:
        """Accept a request once; raise ``Replayed`` naming why not."""
        now = self.clock()
        self._forget(now)
        skew = time_micros / 1_000_000 - now
        if abs(skew) > self.window:
            raise Replayed(
                f"request time is {skew:+.0f} s from this peer's clock; "
                f"at most ±{self.window:.0f} s is accepted"
            )
        if len(nonce) < NONCE_BYTES:
            raise Replayed(f"nonce has {len(nonce)} bytes; at least {NONCE_BYTES} are required")
        if nonce in self._seen:
            raise Replayed("the same request was received before (its nonce is not new)")
        if len(self._seen) >= self.limit:
            raise Replayed(f"more than {self.limit} requests within {2 * self.window:.0f} s")
        self._seen[nonce] = now + 2 * self.window

    def _forget(self, now: float) -> None:
        while self._seen:
            nonce, forget_at = next(iter(self._seen.items()))
            if forget_at > now:
                return
            del self._seen[nonce]
