"""Exponential backoff for the bridge's reconnect loops (broker, peer, control plane), so a
component that is down is retried quickly at first and then without hammering it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field


@dataclass
class Backoff:
    first: float = 0.2
    limit: float = 5.0
    delay: float = field(init=False, default=0.0)

    def reset(self) -> None:
        """Call after a success: the next failure is retried after ``first`` again."""
        self.delay = 0.0

    def next_delay(self) -> float:
        self.delay = self.first if self.delay == 0 else min(self.delay * 2, self.limit)
        return self.delay

    async def wait(self) -> float:
        delay = self.next_delay()
        await asyncio.sleep(delay)
        return delay
