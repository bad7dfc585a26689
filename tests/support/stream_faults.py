"""Faults made to JetStream streams by hand, for tests of what a node does about them."""

from __future__ import annotations

import asyncio
import json
import time

import nats
import nats.js.errors
from nats.js import JetStreamContext

from ordering.lease import BUCKET, lease_key


async def roll_back_stream(
    urls: list[str], stream: str, keep: int, then: bytes | None = None
) -> None:
    """Leave ``stream`` as a stale leader did (nats-server 2.9.10, two partitions in a
    row: acknowledged messages gone): its first ``keep`` messages only, then ``then`` if
    given. The stream is made anew with that prefix, same config (journal streams refuse
    purges); its users see only a shorter tail."""
    connection = await nats.connect(urls)
    try:
        js = connection.jetstream()
        info = await js.stream_info(stream)
        kept = [await js.get_msg(stream, sequence) for sequence in range(1, keep + 1)]
        await js.delete_stream(stream)
        await js.add_stream(info.config)
        (subject,) = info.config.subjects
        for held in kept:
            await _publish_to_new_stream(js, subject, held.data or b"", held.headers)
        if then is not None:
            await _publish_to_new_stream(js, subject, then, None)
    finally:
        await connection.close()


async def _publish_to_new_stream(
    js: JetStreamContext, subject: str, data: bytes, headers: dict[str, str] | None
) -> None:
    """Publish to a stream just made: nats-server 2.10 answers its creation before the new
    stream has a leader, and a publish meanwhile finds no responders (nothing stored, so
    sending again is safe). Bounded to 20 s."""
    deadline = time.monotonic() + 20
    while True:
        try:
            await js.publish(subject, data, headers=headers)
            return
        except nats.js.errors.NoStreamResponseError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def set_lease(urls: list[str], channel: str, holder: str, term: int, seconds: float) -> None:
    """Write a channel's cutting lease as a lease bucket that fell back would hold it:
    ``holder`` under ``term``, valid for ``seconds`` from now (``holder`` may name no
    node: then nobody cuts until it runs out)."""
    connection = await nats.connect(urls)
    try:
        bucket = await connection.jetstream().key_value(BUCKET)
        record = {"holder": holder, "term": term, "until": time.time() + seconds}
        await bucket.put(lease_key(channel), json.dumps(record).encode())
    finally:
        await connection.close()


async def stream_length(urls: list[str], stream: str) -> int:
    """How many messages ``stream`` holds (its last sequence)."""
    connection = await nats.connect(urls)
    try:
        return (await connection.jetstream().stream_info(stream)).state.last_seq
    finally:
        await connection.close()
