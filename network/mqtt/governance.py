"""Governance events from the control plane's feed (``GET /internal/events``, loopback only).

The feed serves events by journal block (``SequenceNo``) and long-polls for new ones. A
block's events always come together, so an event's place is (sequence, index in its
block). Resuming after (s, i) asks again for block s and drops what was already seen;
after that each poll asks for blocks after the last one served.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from network.mqtt.checkpoint import Position
from network.mqtt.retry import Backoff

log = logging.getLogger(__name__)
WAIT_SECONDS = 20


def number_events(events: list[dict[str, Any]]) -> list[tuple[Position, dict[str, Any]]]:
    """Each event with its (sequence, index within that sequence) position."""
    numbered = []
    index, current = 0, None
    for event in events:
        sequence = int(event["SequenceNo"])
        index = index + 1 if sequence == current else 0
        current = sequence
        numbered.append((Position(sequence, index), event))
    return numbered


async def follow_governance(
    control_plane: str,
    after: Position | None,
    network_id: str = "",
    backoff: Backoff | None = None,
    wait: int = WAIT_SECONDS,
) -> AsyncIterator[list[tuple[Position, dict[str, Any]]]]:
    """Batches of events after ``after`` (all of them if None), forever; events of other
    networks are left out when ``network_id`` is given."""
    backoff = backoff or Backoff()
    request_after = -1 if after is None else after.number - 1
    timeout = aiohttp.ClientTimeout(total=wait + 10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        while True:
            url = f"{control_plane}/internal/events?after={request_after}&wait={wait}"
            try:
                async with session.get(url) as response:
                    response.raise_for_status()
                    answer = await response.json()
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                delay = backoff.next_delay()
                log.warning("governance feed %s: %s; again in %.1fs", url, exc, delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            fresh = [
                (position, event)
                for position, event in number_events(answer.get("Events", []))
                if (after is None or position > after)
                and (not network_id or event.get("NetworkId") == network_id)
            ]
            request_after = max(request_after, int(answer.get("LastSequenceNo", request_after)))
            if fresh:
                after = fresh[-1][0]
                yield fresh
