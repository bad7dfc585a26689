"""What mutual TLS on the peer-to-contract connection costs: CPU per CreateAsset, plaintext
against mutual TLS, in alternating rounds (issue 21).

The contract runs as `up` runs it (``python -m chaincode.runner``, its own process, with
the TLS options `up` gives it); the peer's side is the harness in this process, dialling
as a peer does (``ChaincodeEndpoint``, the package's TLS). Each round measures both
processes' CPU time (this process: ``time.process_time``; the contract: ``/proc``) over
``CALLS`` invocations, 16 in flight, so load from other work on the machine changes wall
time but hardly the CPU figures; the rounds alternate so both modes see the same load.

Run: ``.venv/bin/python tests/bench/bench_chaincode_tls.py [ROUNDS] [CALLS]``.
"""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from chaincode.testing import ContractHarness
from chaincode.transport import ClientTLS
from proto.ports import free_port
from tests.support.pki import make_org, write_tls

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "chaincode" / "samples" / "asset_transfer"
IN_FLIGHT = 16


def _process_cpu(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _start(address: str, options: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "chaincode.runner", str(SAMPLE), "--id", "basic"]
    process = subprocess.Popen(
        [*command, "--address", address, *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    if "serving chaincode" not in process.stdout.readline():
        raise SystemExit("the contract did not start")
    return process


async def _round(address: str, tls: ClientTLS | None, pid: int, calls: int, tag: str) -> tuple:
    """(peer-side CPU ms, contract CPU ms, wall ms) per invocation."""
    async with ContractHarness() as harness:
        await harness.connect(address, "basic", tls=tls)
        identity = harness.identity()

        async def create(i: int) -> None:
            result = await harness.invoke(
                "CreateAsset", f"{tag}-{i}", "blue", 5, "Tom", 100, identity=identity
            )
            assert result.ok, result.failure()

        await create(-1)  # connected and warm
        cpu, contract, wall = time.process_time(), _process_cpu(pid), time.perf_counter()
        for batch in range(0, calls, IN_FLIGHT):
            await asyncio.gather(*(create(i) for i in range(batch, batch + IN_FLIGHT)))
        return tuple(
            1000 * spent / calls
            for spent in (
                time.process_time() - cpu,
                _process_cpu(pid) - contract,
                time.perf_counter() - wall,
            )
        )


async def main(rounds: int, calls: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-cc-tls-"))
    org = make_org("Org1MSP")
    server = write_tls(org, folder / "server", "chaincode", ("localhost", "127.0.0.1"))
    peer = write_tls(org, folder / "peer", "peer0", ("localhost",))
    client = ClientTLS(
        server["ca"].read_bytes(), peer["key"].read_bytes(), peer["cert"].read_bytes()
    )
    tls_options = ["--tls-key", str(server["key"]), "--tls-cert", str(server["cert"])]
    tls_options += ["--client-ca", str(server["ca"])]
    modes = {
        "plaintext": (f"127.0.0.1:{free_port()}", [], None),
        "mutual TLS": (f"127.0.0.1:{free_port()}", tls_options, client),
    }
    processes = {name: _start(address, options) for name, (address, options, _) in modes.items()}
    results: dict[str, list[tuple]] = {name: [] for name in modes}
    try:
        for n in range(rounds):
            for name, (address, _, tls) in modes.items():
                pid = processes[name].pid
                results[name].append(await _round(address, tls, pid, calls, f"{name[0]}{n}"))
    finally:
        for process in processes.values():
            process.terminate()
            process.wait(10)
    load = os.getloadavg()[0]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, load {load:.1f}; {rounds} alternating rounds x "
        f"{calls} CreateAsset, {IN_FLIGHT} in flight; medians per invocation"
    )
    print(f"{'':12s} {'peer CPU ms':>12s} {'contract CPU ms':>16s} {'wall ms':>9s}")
    medians = {}
    for name, rows in results.items():
        medians[name] = [statistics.median(column) for column in zip(*rows, strict=True)]
        peer_ms, contract_ms, wall_ms = medians[name]
        print(f"{name:12s} {peer_ms:12.3f} {contract_ms:16.3f} {wall_ms:9.3f}")
    plain, mutual = medians["plaintext"], medians["mutual TLS"]
    print(
        f"mutual TLS adds {mutual[0] - plain[0]:+.3f} ms peer CPU and "
        f"{mutual[1] - plain[1]:+.3f} ms contract CPU per invocation "
        f"({(mutual[0] + mutual[1]) / (plain[0] + plain[1]):.2f}x the pair's CPU)"
    )


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [6, 1000][len(arguments) :])))
