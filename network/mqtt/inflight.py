"""Publish, then checkpoint — pipelined.

Waiting for a block's PUBACKs and its fsynced checkpoint before reading the next block
caps the bridge at one broker round trip plus one fsync per block. Instead each block's
publishes are started at once and handed here with the block's last position; the
positions are taken in order as their acknowledgements complete, and the checkpoint is
advanced to the newest fully acknowledged one (several blocks coalesce into one write
while a write is under way). The checkpoint still never names a message the broker has
not acknowledged; what is in flight — at most ``DEPTH`` blocks — is the at-least-once
edge that a crash publishes again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable

from network.mqtt.checkpoint import Checkpoint, Position

DEPTH = 32


class InFlight:
    def __init__(self, checkpoint: Checkpoint, stream: str, depth: int = DEPTH) -> None:
        self.checkpoint = checkpoint
        self.stream = stream
        self._pending: deque[tuple[Position, asyncio.Future[object]]] = deque()
        self._room = asyncio.Semaphore(depth)
        self._added = asyncio.Event()
        self.idle = asyncio.Event()  # nothing in flight, and the checkpoint says so
        self.idle.set()

    async def add(self, acknowledged: Awaitable[object], position: Position) -> None:
        """Track one batch of publishes; waits while ``depth`` batches are unacknowledged."""
        await self._room.acquire()
        self._pending.append((position, asyncio.ensure_future(acknowledged)))
        self.idle.clear()
        self._added.set()

    async def run(self) -> None:
        """Advance the checkpoint as batches complete, in order; a failed publish raises
        here (the session then reconnects and resumes from the checkpoint)."""
        try:
            while True:
                while not self._pending:
                    self._added.clear()
                    await self._added.wait()
                position, acknowledged = self._pending[0]
                await acknowledged
                self._take()
                while self._pending and _succeeded(self._pending[0][1]):
                    position = self._pending[0][0]
                    self._take()  # a failed batch stays first: the next await raises
                await self.checkpoint.advance(self.stream, position)
                if not self._pending:
                    self.idle.set()
        finally:
            self._stop()

    def _stop(self) -> None:
        """Stopping (SIGTERM, or the connection was lost): checkpoint what the broker did
        acknowledge, so a graceful stop repeats nothing, and drop the rest."""
        newest = None
        while self._pending and _succeeded(self._pending[0][1]):
            newest = self._pending.popleft()[0]
        for _, acknowledged in self._pending:
            acknowledged.cancel()
        self._pending.clear()
        if newest is not None:
            self.checkpoint.advance_now(self.stream, newest)

    def _take(self) -> None:
        self._pending.popleft()
        self._room.release()


def _succeeded(future: asyncio.Future[object]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None
