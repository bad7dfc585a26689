"""Which blocks a Deliver request asks for, as Fabric's ``common/deliver`` and block
ledger iterator read its start and stop positions."""

from __future__ import annotations

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2

from proto.seek import FOREVER, SeekError, seek_position, seek_range

HEIGHT = 5
NEXT_COMMIT = ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())


def _info(start: ab_pb2.SeekPosition, stop: ab_pb2.SeekPosition) -> ab_pb2.SeekInfo:
    return ab_pb2.SeekInfo(start=start, stop=stop)


def test_next_commit_starts_at_the_height_and_streams_on() -> None:
    assert seek_range(_info(NEXT_COMMIT, seek_position(FOREVER)), HEIGHT) == (HEIGHT, FOREVER)


def test_oldest_newest_and_specified_starts() -> None:
    stop = seek_position(FOREVER)
    assert seek_range(_info(seek_position("oldest"), stop), HEIGHT)[0] == 0
    assert seek_range(_info(seek_position("newest"), stop), HEIGHT)[0] == HEIGHT - 1
    assert seek_range(_info(seek_position(HEIGHT), stop), HEIGHT)[0] == HEIGHT  # waits


def test_a_start_beyond_the_height_is_not_found_at_once() -> None:
    with pytest.raises(SeekError) as raised:
        seek_range(_info(seek_position(HEIGHT + 1), seek_position(FOREVER)), HEIGHT)
    assert raised.value.status == common_pb2.NOT_FOUND


def test_stops() -> None:
    newest = seek_position("newest")
    assert seek_range(_info(newest, newest), HEIGHT) == (HEIGHT - 1, HEIGHT - 1)
    assert seek_range(_info(seek_position(1), newest), HEIGHT) == (1, HEIGHT - 1)
    assert seek_range(_info(seek_position(2), seek_position("oldest")), HEIGHT) == (2, 2)
    # Fabric ends a stream only on sending its stop block: one behind the start never comes
    assert seek_range(_info(seek_position(HEIGHT), newest), HEIGHT) == (HEIGHT, FOREVER)
    with pytest.raises(SeekError) as raised:
        seek_range(_info(seek_position(3), seek_position(2)), HEIGHT)
    assert raised.value.status == common_pb2.BAD_REQUEST
