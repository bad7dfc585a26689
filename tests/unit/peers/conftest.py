"""A channel and a peer's ledger on it, for the peer's unit tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_event_pb2

from chaincode.rwset import TxRWSet
from peers.committer import commit_block
from peers.ledger import Ledger
from tests.support.channel import ChannelFixture, define


@pytest.fixture
def channel(tmp_path: Path) -> ChannelFixture:
    return ChannelFixture(tmp_path / "channel")


@pytest.fixture
def ledger(tmp_path: Path, channel: ChannelFixture) -> Iterator[Ledger]:
    """Past the genesis block, with ``basic`` defined (both orgs must endorse)."""
    ledger = Ledger(tmp_path / "peer")
    commit_block(ledger, channel.genesis)
    define(ledger.state)
    yield ledger
    ledger.close()


def _event(name: str, chaincode: str = "basic") -> chaincode_event_pb2.ChaincodeEvent:
    return chaincode_event_pb2.ChaincodeEvent(
        chaincode_id=chaincode, event_name=name, payload=name.encode()
    )


def _writes(key: str) -> TxRWSet:
    rwset = TxRWSet()
    rwset.namespace("basic").writes[key] = b"v"
    return rwset


@pytest.fixture
def events_block(ledger: Ledger, channel: ChannelFixture) -> common_pb2.Block:
    """Committed block 1: an event ("First"), an invalid transaction's event ("Refused"),
    another chaincode's event ("Elsewhere"), a transaction without one, and "Second"."""
    envelopes = [
        channel.transaction(_writes("a"), event=_event("First")),
        channel.transaction(_writes("b"), event=_event("Refused"), endorsers=("Org1MSP",)),
        channel.transaction(_writes("c"), event=_event("Elsewhere", "token")),
        channel.transaction(_writes("d")),
        channel.transaction(_writes("e"), event=_event("Second")),
    ]
    return commit_block(ledger, channel.block(envelopes)).block
