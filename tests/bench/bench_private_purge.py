"""What block_to_live costs a committing peer: CPU time per private key committed, with
and without a purge schedule, measured in one process, the two kinds of run alternating.

    PYTHONPATH=. python tests/bench/bench_private_purge.py [--blocks 400] [--keys 50]

Each block writes ``--keys`` private keys (hash and clear value, 100-byte values) to
one collection, and the transaction's clear data (what DeliverWithPrivateData serves).
"forever" is block_to_live 0 (no schedule); "btl=10" schedules each key and purges it in
the commit of the eleventh block after, so from then on each commit also purges one
earlier block's keys. Prints CPU µs per key (process time, so a busy shared machine
slows both kinds alike) and the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2

from chaincode.state import Version
from peers.privatepurge import expiry_schedule, key_hash
from peers.worldstate import BlockUpdate, WorldState

VALUE = b"v" * 100


def _block(number: int, keys: int) -> BlockUpdate:
    update = BlockUpdate(number)
    position = Version(number, 0)
    clear = kv_rwset_pb2.KVRWSet()
    for n in range(keys):
        key = f"key{number}-{n}"
        update.hashed_writes.append((position, "cc", "coll", key_hash(key), key_hash("v")))
        update.private_writes.append((position, "cc", "coll", key, VALUE))
        clear.writes.add(key=key, value=VALUE)
    update.expected_private.append((position, f"tx{number}", "cc", "coll", b"h"))
    private = rwset_pb2.TxPvtReadWriteSet()
    private.ns_pvt_rwset.add(namespace="cc").collection_pvt_rwset.add(
        collection_name="coll", rwset=clear.SerializeToString()
    )
    update.private_rwsets.append((position, private.SerializeToString()))
    return update


def run(folder: Path, blocks: int, keys: int, block_to_live: int) -> float:
    """CPU seconds spent committing ``blocks`` blocks (their schedule built included)."""
    state = WorldState(folder)
    state.commit_block(BlockUpdate(0))
    spent = 0.0
    try:
        for number in range(1, blocks + 1):
            update = _block(number, keys)
            started = time.process_time()
            update.expiring = expiry_schedule(update, lambda ns, coll: block_to_live)
            state.commit_block(update)
            spent += time.process_time() - started
    finally:
        state.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=400)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    totals = {"forever": 0.0, "btl=10": 0.0}
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(args.rounds):
            for label, btl in (("forever", 0), ("btl=10", 10)):
                folder = Path(tmp) / f"{label}-{round_number}"
                totals[label] += run(folder, args.blocks, args.keys, btl)
    per_key = {
        label: total / (args.rounds * args.blocks * args.keys) * 1e6
        for label, total in totals.items()
    }
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{args.rounds} rounds × {args.blocks} blocks × {args.keys} private keys, alternating")
    for label, micros in per_key.items():
        print(f"{label:>8}: {micros:6.1f} µs CPU per key committed")
    print(f"ratio btl=10 / forever: {per_key['btl=10'] / per_key['forever']:.2f}")


if __name__ == "__main__":
    main()
