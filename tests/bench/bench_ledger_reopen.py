"""What a halted channel's retry costs at most: ``Ledger.reopen`` after the journal
failed (the journal opened again — which scans its open segment, up to 64 MB — the LMDB
environments probed, ``recover``) on a ledger of N blocks: the work a peer repeats every
``HALT_RETRY_MOST`` seconds, in a worker thread, while its disk stays full. (After a
world-state failure the journal answers and is not reopened.)

    PYTHONPATH=. python tests/bench/bench_ledger_reopen.py [--blocks 2000] [--rounds 50]

Prints the CPU and wall time per reopen (median and max), with the machine's load.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from chaincode.rwset import TxRWSet
from peers.committer import commit_block
from peers.ledger import Ledger
from tests.support.channel import ChannelFixture, define


def _build(folder: Path, blocks: int) -> None:
    fixture = ChannelFixture(folder / "channel")
    ledger = Ledger(folder / "peer")
    commit_block(ledger, fixture.genesis)
    define(ledger.state)
    for n in range(blocks):
        rwset = TxRWSet()
        rwset.namespace("basic").writes[f"k{n}"] = b"v" * 200
        commit_block(ledger, fixture.block([fixture.transaction(rwset)]))
    ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--blocks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root)
        _build(folder, args.blocks)
        ledger = Ledger(folder / "peer")
        ledger.recover()
        cpu, wall = [], []
        for _ in range(args.rounds):
            ledger.blocks.close()  # stands for a journal that failed a write: it refuses
            started_cpu, started = time.process_time(), time.perf_counter()
            ledger.reopen()
            cpu.append(time.process_time() - started_cpu)
            wall.append(time.perf_counter() - started)
        assert ledger.height == args.blocks + 1
        ledger.close()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"ledger: {args.blocks + 1} blocks; {args.rounds} reopens")
    print(f"reopen CPU: median {statistics.median(cpu) * 1e3:.2f} ms, max {max(cpu) * 1e3:.2f} ms")
    print(
        f"reopen wall: median {statistics.median(wall) * 1e3:.2f} ms, max {max(wall) * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
