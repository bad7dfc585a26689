"""Bringing a halted channel back once its disk can take writes again.

A channel halts at the first failed write of either journal (a full disk, an I/O
error): what was not yet durable is not acknowledged, and every Broadcast after that
answers SERVICE_UNAVAILABLE. Rather than waiting for an operator to restart the node,
the node retries what a restart would do: close the channel and open it again from its
files, which cuts any torn tail, re-feeds the inbox entries after the newest block and
carries on. Opening fails while the disk is still full (the open writes too), so the
retry repeats every ``RETRY_SECONDS`` until it succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path

from ordering.chain import Chain

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0

Opener = Callable[[str, Path], Awaitable[Chain]]


async def reopen_halted_channels(
    chains: MutableMapping[str, Chain], open_chain: Opener, lock: asyncio.Lock
) -> None:
    """Run until cancelled: every ``RETRY_SECONDS``, reopen each halted channel."""
    while True:
        await asyncio.sleep(RETRY_SECONDS)
        for channel_id, chain in list(chains.items()):
            if chain.failure is None:
                continue
            async with lock:
                if chains.get(channel_id) is chain:
                    await _reopen(chains, channel_id, chain, open_chain)


async def _reopen(
    chains: MutableMapping[str, Chain], channel_id: str, chain: Chain, open_chain: Opener
) -> None:
    with contextlib.suppress(Exception):  # its journals may fail to close on a full disk
        await chain.close()
    try:
        reopened = await open_chain(channel_id, chain.directory)
    except Exception as exc:
        log.warning("channel %s still halted, cannot reopen: %s", channel_id, exc)
        return
    chains[channel_id] = reopened
    log.info("channel %s resumed at height %d", channel_id, reopened.height)
