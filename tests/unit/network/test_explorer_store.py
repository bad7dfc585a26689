"""The explorer's memory stays bounded: blocks live in its on-disk store (resumed after a
restart) behind a small cache; the txid and key-writer indexes answer without a scan;
a channel added to the config is followed without a restart; and the proof the page
re-hashes carries exactly what reproduces the journal's block hash."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

from fabric_protos.common import common_pb2

from chaincode.rwset import TxRWSet
from ledgerdb.block import BlockAddress, Payload, header_hash
from ledgerdb.hashing import dot, sha256
from ledgerdb.journal import Journal
from network.explorer import ledger as ledger_module
from network.explorer.config import load_config
from network.explorer.ledger import CACHE_BLOCKS, Ledger
from network.explorer.proofs import inclusion
from network.explorer.store import BlockStore, Place
from proto.blockhash import block_data_hash, block_header_hash
from tests.support.channel import ChannelFixture

CHANNEL = "mychannel"


def _config(folder: Path, channels: dict[str, list[str]]) -> Path:
    path = folder / "explorer.json"
    raw = {
        "network": "net",
        "listen": "127.0.0.1:0",
        "control_plane": {"url": "http://127.0.0.1:9", "account": "1" * 12},
        "members": {},
        "channels": channels,
    }
    path.write_text(json.dumps(raw))
    return path


def _valid(block: common_pb2.Block) -> common_pb2.Block:
    while len(block.metadata.metadata) <= common_pb2.TRANSACTIONS_FILTER:
        block.metadata.metadata.append(b"")
    block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes(len(block.data.data))
    return block


def _writing(fixture: ChannelFixture, key: str) -> common_pb2.Block:
    rwset = TxRWSet()
    rwset.namespace("basic").writes[key] = b"v"
    return _valid(fixture.block([fixture.transaction(rwset)]))


def test_blocks_live_on_disk_behind_a_bounded_cache_and_survive_a_restart(
    tmp_path: Path,
) -> None:
    fixture = ChannelFixture(tmp_path / "channel")
    config = load_config(_config(tmp_path, {CHANNEL: []}))
    ledger = Ledger(config)
    ledger.add(CHANNEL, fixture.genesis)
    for n in range(1, CACHE_BLOCKS + 40):
        ledger.add(CHANNEL, _writing(fixture, "a" if n % 3 == 0 else f"k{n}"))
    assert len(ledger._cache) == CACHE_BLOCKS  # the rest are read from disk when asked
    first_tx = ledger.block(CHANNEL, 3).txs[0].txid
    assert (tmp_path / "store" / "data.mdb").exists()
    ledger.store.close()

    again = Ledger(config)  # a restarted explorer: same store, nothing decoded yet
    assert again.height(CHANNEL) == CACHE_BLOCKS + 40 and not again._cache
    view, tx = again.find(first_tx)
    assert (view.number, tx.index) == (3, 0)
    page = again.newest_first(CHANNEL, 10, 50)
    assert [v.number for v in page] == list(range(9, -1, -1))
    # "a" was written by blocks 3, 6, 9, …: the last before block 10 is block 9
    writer = again.last_writer(CHANNEL, "basic/a", Place(CHANNEL, 10, 0))
    assert writer is not None and writer[0] == 9
    assert again.last_writer(CHANNEL, "basic/a", Place(CHANNEL, 3, 0)) is None
    assert again.last_writer(CHANNEL, "basic/nobody", Place(CHANNEL, 10, 0)) is None
    assert again.find("no-such-txid") is None and again.find("") is None
    assert again.find("x" * 600) is None  # longer than an LMDB key: not found, no error


def test_the_store_takes_only_the_next_block(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    assert store.append(CHANNEL, 0, b"zero", [(0, "t0")], [])
    assert not store.append(CHANNEL, 2, b"two", [], [])  # a gap
    assert not store.append(CHANNEL, 0, b"again", [(0, "t0b")], [])  # seen before
    assert store.height(CHANNEL) == 1 and store.block(CHANNEL, 0) == b"zero"
    assert store.place("t0b") is None


async def test_a_channel_added_to_the_config_is_followed_without_a_restart(
    tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setattr(ledger_module, "WATCH_SECONDS", 0.02)
    path = _config(tmp_path, {CHANNEL: []})
    ledger = Ledger(load_config(path))
    with ledger.subscription() as queue:
        watcher = asyncio.create_task(ledger.watch())
        try:
            assert await asyncio.wait_for(queue.get(), 5) == ("channel", {"channel": CHANNEL})
            _config(tmp_path, {CHANNEL: [], "second": ["org9"]})  # `up` wrote a new channel
            assert await asyncio.wait_for(queue.get(), 5) == ("channel", {"channel": "second"})
            while "second" not in ledger.following:
                await asyncio.sleep(0.02)
            assert ledger.following["second"].startswith("not followed: no member")
        finally:
            watcher.cancel()


def test_the_proof_carries_what_reproduces_the_journal_block_hash(tmp_path: Path) -> None:
    fixture = ChannelFixture(tmp_path / "channel")
    folder = tmp_path / "journals"
    blocks = [fixture.genesis, _writing(fixture, "k")]
    with Journal.open(folder / CHANNEL / "blocks") as journal:
        for block in blocks:
            journal.append([Payload(block.SerializeToString())])
    proof = inclusion({"orderer-orderer0": folder}, CHANNEL, 1)
    entry = base64.b64decode(proof["entry"])
    stored = common_pb2.Block.FromString(entry)
    assert block_data_hash(stored.data.data) == stored.header.data_hash
    assert block_header_hash(stored.header) == block_header_hash(blocks[1].header)
    journal_header = header_hash(
        BlockAddress(proof["strandId"], proof["sequenceNo"]),
        proof["transactionId"],
        proof["timestampMicros"],
    )
    assert base64.b64decode(proof["transactionInfo"]) == bytes.fromhex("e00100ead0")  # {}
    assert proof["infoHash"] == sha256(b"\x0b\xd0\x0e").hex()  # its Ion Hash, as the page has it
    entries = dot(dot(bytes.fromhex(proof["infoHash"]), sha256(entry)), journal_header)
    block_hash = dot(entries, bytes.fromhex(proof["previousBlockHash"]))
    assert block_hash.hex() == proof["blockHash"]
    for sibling in proof["proof"]:
        block_hash = dot(block_hash, bytes.fromhex(sibling))
    assert block_hash.hex() == proof["digest"]


def test_a_channel_made_again_in_the_same_folder_is_forgotten_and_read_again(
    tmp_path: Path,
) -> None:
    ledger = Ledger(load_config(_config(tmp_path, {CHANNEL: [], "other": []})))
    old, new = ChannelFixture(tmp_path / "old"), ChannelFixture(tmp_path / "new")
    ledger.add(CHANNEL, old.genesis)
    ledger.add("other", old.genesis)
    old_blocks = [_writing(old, f"k{n}") for n in range(3)]
    for block in old_blocks:
        ledger.add(CHANNEL, block)
    new_blocks = [_writing(new, f"k{n}") for n in range(3)]
    forgotten_tx = ledger.block(CHANNEL, 2).txs[0].txid

    assert ledger._agrees(CHANNEL, old_blocks[-1])  # what the follower asks first: the same
    assert ledger.height(CHANNEL) == 4
    assert not ledger._agrees(CHANNEL, new_blocks[-1])  # the peer has another chain
    assert ledger.height(CHANNEL) == 0 and ledger.block(CHANNEL, 1) is None
    assert ledger.find(forgotten_tx) is None
    assert ledger.last_writer(CHANNEL, "basic/k0", Place(CHANNEL, 9, 0)) is None
    assert ledger.height("other") == 1  # another channel keeps its blocks
    ledger.add(CHANNEL, new.genesis)
    assert ledger.height(CHANNEL) == 1
