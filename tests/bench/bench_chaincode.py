"""Harness throughput: CreateAsset invocations per second, in-process and over real gRPC.

Each invocation is a full harness round: build and sign a proposal, send TRANSACTION,
serve the contract's GET_STATE and PUT_STATE, receive COMPLETED, validate (MVCC) and
commit to the in-memory state. Run: ``python tests/bench/bench_chaincode.py``.
"""

from __future__ import annotations

import asyncio
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from chaincode.samples.asset_transfer import AssetTransfer
from chaincode.testing import ContractHarness

ROUNDS = 3
CALLS = 1000


async def measure(transport: str, concurrency: int) -> float:
    best = 0.0
    for round_number in range(ROUNDS):
        async with ContractHarness() as harness:
            await harness.deploy(AssetTransfer(), name="basic", transport=transport)
            identity = harness.identity()

            async def create(
                i: int, prefix: str = f"r{round_number}", harness=harness, identity=identity
            ) -> None:
                result = await harness.invoke(
                    "CreateAsset", f"{prefix}-{i}", "blue", 5, "Tom", 100, identity=identity
                )
                assert result.ok, result.failure()

            start = time.perf_counter()
            for batch in range(0, CALLS, concurrency):
                await asyncio.gather(*(create(i) for i in range(batch, batch + concurrency)))
            best = max(best, CALLS / (time.perf_counter() - start))
    return best


async def main() -> None:
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, best of {ROUNDS} x {CALLS} CreateAsset"
    )
    for transport in ("inprocess", "grpc"):
        for concurrency in (1, 16):
            rate = await measure(transport, concurrency)
            print(
                f"{transport:9s} concurrency {concurrency:2d}: {rate:7.0f} invocations/s "
                f"({1000 / rate:.2f} ms each; 200 cases ≈ {200 / rate:.2f} s)"
            )


if __name__ == "__main__":
    asyncio.run(main())
