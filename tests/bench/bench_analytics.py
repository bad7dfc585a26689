"""Analytics catch-up: how fast the analytics node's writer turns committed blocks into a
channel's ledgerdb database (issue 22's figure: goal ≥ 2,000 tx/s, one database
transaction per block).

Blocks of ``PER_BLOCK`` endorsed CreateAsset-shaped transactions (one JSON key each,
signed like the peer would see them, marked VALID in ``TRANSACTIONS_FILTER``) are built
first; then ``ChannelDatabase.write`` runs over all of them from block 0 — what the node
does per block after Deliver hands it over (``block_rows`` + one ledgerdb transaction).
Prints transactions per second and CPU ms per transaction; asserts nothing about timing.

Run: ``python tests/bench/bench_analytics.py [TRANSACTIONS]`` (default 20,000).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fabric_protos.common import common_pb2

from chaincode.rwset import TxRWSet
from network.analytics.rows import block_rows
from network.analytics.store import ChannelDatabase
from tests.support.channel import ChannelFixture

PER_BLOCK = 100


def _valid(block: common_pb2.Block) -> common_pb2.Block:
    """The block as a peer's Deliver serves it: every transaction VALID."""
    while len(block.metadata.metadata) <= common_pb2.TRANSACTIONS_FILTER:
        block.metadata.metadata.append(b"")
    block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes(len(block.data.data))
    return block


def build_blocks(channel: ChannelFixture, transactions: int) -> list[common_pb2.Block]:
    blocks = [_valid(channel.genesis)]
    for first in range(0, transactions, PER_BLOCK):
        envelopes = []
        for n in range(first, min(first + PER_BLOCK, transactions)):
            rwset = TxRWSet()
            asset = {"ID": f"asset{n}", "Color": "blue", "Size": n % 20, "Owner": "Tomoko"}
            rwset.namespace("basic").writes[f"asset{n}"] = json.dumps(asset).encode()
            envelopes.append(channel.transaction(rwset))
        blocks.append(_valid(channel.block(envelopes)))
    return blocks


def main() -> None:
    transactions = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as folder:
        channel = ChannelFixture(Path(folder) / "channel")
        started = time.monotonic()
        blocks = build_blocks(channel, transactions)
        print(f"built {len(blocks)} blocks in {time.monotonic() - started:.1f} s")
        database = ChannelDatabase(Path(folder) / "analytics")
        wall, cpu = time.monotonic(), time.process_time()
        for block in blocks:
            database.write(block_rows(block), list(block.data.data))
        wall, cpu = time.monotonic() - wall, time.process_time() - cpu
        written = len(database.db.execute("SELECT VALUE t.txid FROM transactions AS t").values)
        database.close()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    print(f"catch-up: {transactions} transactions in {len(blocks)} blocks ({PER_BLOCK} a block)")
    print(f"  {written} transaction rows; {wall:.1f} s wall, {cpu:.1f} s CPU")
    print(f"  {transactions / wall:,.0f} tx/s, {1000 * cpu / transactions:.2f} CPU ms/tx")


if __name__ == "__main__":
    main()
