"""Publish, then checkpoint, pipelined: the checkpoint only ever names acknowledged
positions, in order, and a stop keeps what was acknowledged."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from network.mqtt.checkpoint import Checkpoint, Position, read_checkpoint
from network.mqtt.inflight import InFlight


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


async def test_the_checkpoint_waits_for_every_earlier_acknowledgement(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "c.json")
    in_flight = InFlight(checkpoint, "ch")
    runner = asyncio.create_task(in_flight.run())
    loop = asyncio.get_running_loop()
    acks = [loop.create_future() for _ in range(3)]
    for number, ack in enumerate(acks):
        await in_flight.add(ack, Position(number, 2, tx=0))
    acks[2].set_result(None)  # the newest is acknowledged first
    acks[1].set_result(None)
    await _settle()
    assert checkpoint.get("ch") is None  # block 0 is still unacknowledged
    acks[0].set_result(None)
    await _settle()
    assert checkpoint.get("ch") == Position(2, 2)
    assert read_checkpoint(tmp_path / "c.json")["ch"] == Position(2, 2)
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner


async def test_a_failed_publish_stops_the_stream_without_checkpointing_it(tmp_path: Path):
    checkpoint = Checkpoint(tmp_path / "c.json")
    in_flight = InFlight(checkpoint, "ch")
    runner = asyncio.create_task(in_flight.run())
    loop = asyncio.get_running_loop()
    good, bad = loop.create_future(), loop.create_future()
    await in_flight.add(good, Position(1, 0))
    await in_flight.add(bad, Position(2, 0))
    good.set_result(None)
    bad.set_exception(ConnectionError("broker gone"))
    with pytest.raises(ConnectionError):
        await runner
    assert checkpoint.get("ch") == Position(1, 0)


async def test_stopping_keeps_what_the_broker_acknowledged(tmp_path: Path) -> None:
    checkpoint = Checkpoint(tmp_path / "c.json")
    in_flight = InFlight(checkpoint, "ch")
    loop = asyncio.get_running_loop()
    first, second = loop.create_future(), loop.create_future()
    await in_flight.add(first, Position(5, 3))
    await in_flight.add(second, Position(6, 1))
    runner = asyncio.create_task(in_flight.run())
    await asyncio.sleep(0)  # the runner waits for the first acknowledgement
    first.set_result(None)
    runner.cancel()  # SIGTERM arrives before the runner wakes up
    with contextlib.suppress(asyncio.CancelledError):
        await runner
    assert read_checkpoint(tmp_path / "c.json")["ch"] == Position(5, 3)
    assert second.cancelled()


async def test_at_most_depth_batches_are_in_flight(tmp_path: Path) -> None:
    in_flight = InFlight(Checkpoint(tmp_path / "c.json"), "ch", depth=2)
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(3)]
    await in_flight.add(futures[0], Position(0, 0))
    await in_flight.add(futures[1], Position(1, 0))
    third = asyncio.create_task(in_flight.add(futures[2], Position(2, 0)))
    await _settle()
    assert not third.done()  # back-pressure: the pump waits for the broker
    runner = asyncio.create_task(in_flight.run())
    futures[0].set_result(None)
    await _settle()
    assert third.done()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner
