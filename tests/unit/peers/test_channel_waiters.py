"""Commit-status waiters: each is woken by the block holding its transaction, not by
every block, and a closing channel ends them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2

from chaincode.rwset import TxRWSet
from peers.channel import RECENT_BLOCKS, PeerChannel
from peers.committer import commit_block
from peers.ledger import Ledger
from proto.envelope import parse_envelope
from tests.support.channel import ChannelFixture, define


def _writes(key: str) -> TxRWSet:
    rwset = TxRWSet()
    rwset.namespace("basic").writes[key] = b"v"
    return rwset


def _tx_id(envelope: common_pb2.Envelope) -> str:
    return parse_envelope(envelope.SerializeToString()).tx_id


async def test_a_waiter_wakes_for_the_block_holding_its_transaction_only(tmp_path: Path) -> None:
    fixture = ChannelFixture(tmp_path / "channel")
    ledger = Ledger(tmp_path / "peer")
    commit_block(ledger, fixture.genesis)
    define(ledger.state)
    channel = PeerChannel("ch", ledger, fixture.peers["Org1MSP"])
    first, second = (fixture.transaction(_writes(k)) for k in ("a", "b"))
    waiting_first = asyncio.create_task(channel.wait_for_transaction(_tx_id(first)))
    waiting_second = asyncio.create_task(channel.wait_for_transaction(_tx_id(second)))
    await asyncio.sleep(0)
    await channel.commit(fixture.block([first]))
    assert await waiting_first == (1, 0, 0)  # block 1, transaction 0, VALID
    await asyncio.sleep(0.01)
    assert not waiting_second.done()
    await channel.commit(fixture.block([second]))
    assert await waiting_second == (2, 0, 0)
    assert await channel.wait_for_transaction(_tx_id(first)) == (1, 0, 0)  # already there
    assert channel._tx_waiters == {}
    await channel.close()


async def test_closing_the_channel_ends_every_waiter(tmp_path: Path) -> None:
    fixture = ChannelFixture(tmp_path / "channel")
    ledger = Ledger(tmp_path / "peer")
    commit_block(ledger, fixture.genesis)
    channel = PeerChannel("ch", ledger, fixture.peers["Org1MSP"])
    waiting = asyncio.create_task(channel.wait_for_transaction("f" * 64))
    await asyncio.sleep(0)
    await channel.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def test_recent_blocks_are_served_from_memory_as_stored(tmp_path: Path) -> None:
    """Readers of the newest blocks get the stored block (validation codes included)
    without a journal read; older ones still come from the journal, equal."""
    fixture = ChannelFixture(tmp_path / "channel")
    ledger = Ledger(tmp_path / "peer")
    commit_block(ledger, fixture.genesis)
    define(ledger.state)
    channel = PeerChannel("ch", ledger, fixture.peers["Org1MSP"])
    count = RECENT_BLOCKS + 3
    for n in range(count):
        await channel.commit(fixture.block([fixture.transaction(_writes(f"k{n}"))]))
    read_from_journal: list[int] = []
    journal_read = ledger.read_block

    def read_block(number: int) -> common_pb2.Block:
        read_from_journal.append(number)
        return journal_read(number)

    ledger.read_block = read_block  # type: ignore[method-assign]
    served = [block async for block in channel.blocks(0, count)]
    assert [b.header.number for b in served] == list(range(count + 1))
    assert read_from_journal == list(range(count + 1 - RECENT_BLOCKS))
    for block in served:
        assert block == journal_read(block.header.number)
        assert block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
    await channel.close()
