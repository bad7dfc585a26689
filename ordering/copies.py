"""How long the other ordering nodes' copies of a channel's block journal are.

Why: a block stream that fell back (nats-server 2.9.10 can elect a replica that missed
messages as its leader) is put back by the nodes whose verified copies hold the lost
blocks (``ledgerdb.replicated``). A node whose own copy is behind, were it to win the
cutting lease in that second, would cut new blocks at the lost positions; the journal's
conditions keep that from forking, but the nodes holding the old blocks then stop on
``ReplicaMismatch`` and ordering halts. So a new cutter first asks the others, over core
NATS (live answers, not a stream that may itself have fallen back), how many blocks
their copies hold, and cuts only once the stream holds that many.

Subject ``ordering.copies.<channel>``; the request is the stream's length as the asker
sees it, each answer ``{"node", "height"}``. A node that hears of a stream shorter than
its copy starts putting the stream back at once, rather than at its next idle poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from ordering.ingress import channel_token

log = logging.getLogger(__name__)

SUBJECT_PREFIX = "ordering.copies."
ANSWER_SECONDS = 0.3
"""How long an asker gathers answers: a live node answers in milliseconds; one that does
not answer in this time cannot help put the stream back either."""
AFTER_AN_ANSWER_SECONDS = 0.05
"""... and once one answered, how long for the rest (a dead node never answers: this
keeps a failover from paying the whole wait)."""


class CopyHeights:
    """One node's side of the exchange for one channel: answers others, asks them."""

    def __init__(
        self,
        connection: Client,
        channel_id: str,
        node: str,
        height: Callable[[], int | None],
        restore: Callable[[], Awaitable[object]],
    ) -> None:
        self.connection = connection
        self.subject = SUBJECT_PREFIX + channel_token(channel_id)
        self.node = node
        self._height = height
        self._restore = restore
        self._subscription = None
        self._restoring: asyncio.Task[object] | None = None

    async def answer(self) -> None:
        """Answer every asker from now until ``close``."""
        self._subscription = await self.connection.subscribe(self.subject, cb=self._on_ask)

    async def _on_ask(self, message: Msg) -> None:
        height = self._height()
        if height is None:  # a copy that stopped cannot put anything back: no answer
            return
        with contextlib.suppress(ValueError, TypeError):
            stream = int(json.loads(message.data)["stream"])
            if stream < height and (self._restoring is None or self._restoring.done()):
                self._restoring = asyncio.create_task(self._put_back(stream))
        if message.reply:
            with contextlib.suppress(nats.errors.Error):
                await message.respond(json.dumps({"node": self.node, "height": height}).encode())

    async def _put_back(self, stream: int) -> None:
        log.warning(
            "%s: asked by a new cutter, the stream holds %d blocks, this copy %d: putting "
            "them back",
            self.subject,
            stream,
            self._height() or 0,
        )
        try:
            await self._restore()
        except Exception as exc:  # the follower meets the same and reports it
            log.warning("%s: putting back: %s", self.subject, exc)

    async def ask(self, stream: int) -> dict[str, int]:
        """Each other node's copy height (those that answered within ``ANSWER_SECONDS``),
        telling them the stream holds ``stream`` blocks."""
        inbox = self.connection.new_inbox()
        heights: dict[str, int] = {}
        subscription = await self.connection.subscribe(inbox)
        try:
            await self.connection.publish(
                self.subject, json.dumps({"stream": stream}).encode(), reply=inbox
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + ANSWER_SECONDS
            while (left := deadline - loop.time()) > 0:
                try:
                    message = await subscription.next_msg(timeout=left)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    answer = json.loads(message.data)
                    if answer["node"] != self.node:
                        heights[str(answer["node"])] = int(answer["height"])
                # The live nodes answer together: a little longer for the others.
                deadline = min(deadline, loop.time() + AFTER_AN_ANSWER_SECONDS)
        finally:
            with contextlib.suppress(nats.errors.Error):
                await subscription.unsubscribe()
        return heights

    async def close(self) -> None:
        if self._subscription is not None:
            with contextlib.suppress(nats.errors.Error):
                await self._subscription.unsubscribe()
        if self._restoring is not None:
            self._restoring.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._restoring
