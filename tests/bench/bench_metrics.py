"""What the operations metrics cost a transaction, measured in-process.

    PYTHONPATH=. python tests/bench/bench_metrics.py [--transactions 100000]

End-to-end CPU per transaction (bench_peer.py) moves by ±10 % between runs on a shared
machine, more than the metrics could, so this times exactly the work the metrics add to
one CreateAsset on the gateway peer — the busiest process: the gateway's Endorse, Submit
and CommitStatus wrappers, the endorser's proposal counters (local endorsement), and the
committed transaction's ``ledger_transaction_count`` — and a scrape of the result. The
figure to compare with is the gateway peer's CPU per transaction in bench_peer.py
(about 2.5 ms); the goal is at most 2 % of it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from types import SimpleNamespace

from fabric_protos.common import common_pb2

from peers import metrics
from peers.committer import CommittedBlock
from peers.validation import TxVerdict
from proto.metrics import METRICS
from proto.operations import OperationsServer

GATEWAY_PEER_MS = 2.5  # bench_peer.py, gateway peer CPU per transaction (docs/benchmarks.md)


class _Gateway:
    async def Endorse(self, request, context):
        return request

    Submit = CommitStatus = Evaluate = Endorse


def _committed() -> CommittedBlock:
    header = SimpleNamespace(type=common_pb2.ENDORSER_TRANSACTION)
    tx = SimpleNamespace(
        header_type=header.type,
        extension=SimpleNamespace(chaincode_id=SimpleNamespace(name="basic")),
    )
    return CommittedBlock(common_pb2.Block(), [TxVerdict("t", 0)], {}, [tx])


async def _one_transaction(gateway: _Gateway, propose, committed: CommittedBlock) -> None:
    await gateway.Endorse(None, None)
    await propose(None)
    await gateway.Submit(None, None)
    await gateway.CommitStatus(None, None)
    metrics.count_block("mychannel", committed)


async def _run(transactions: int) -> tuple[float, float]:
    gateway = _Gateway()
    metrics.meter_gateway(gateway)
    response = SimpleNamespace(response=SimpleNamespace(status=200))

    async def process(_):
        return response, None

    propose = metrics.meter_proposals(process)
    bare = _Gateway()
    committed = _committed()

    async def baseline() -> None:  # the same awaits without the metrics
        await bare.Endorse(None, None)
        await process(None)
        await bare.Submit(None, None)
        await bare.CommitStatus(None, None)

    started = time.process_time()
    for _ in range(transactions):
        await baseline()
    plain = time.process_time() - started
    started = time.process_time()
    for _ in range(transactions):
        await _one_transaction(gateway, propose, committed)
    metered = time.process_time() - started
    return plain, metered


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=100_000)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, CPython {platform.python_version()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    plain, metered = asyncio.run(_run(args.transactions))
    per_tx_us = (metered - plain) / args.transactions * 1e6
    print(f"metrics per transaction (gateway peer): {per_tx_us:.2f} µs CPU, "
          f"{per_tx_us / (GATEWAY_PEER_MS * 10):.2f} % of {GATEWAY_PEER_MS} ms")  # fmt: skip
    OperationsServer("bench")  # declares the process gauges, as a node does
    started = time.process_time()
    for _ in range(100):
        text = METRICS.render()
    scrape_ms = (time.process_time() - started) / 100 * 1000
    print(f"one scrape of /metrics ({len(text.splitlines())} lines): {scrape_ms:.2f} ms CPU")


if __name__ == "__main__":
    main()
