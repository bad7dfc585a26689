"""End-to-end TPS: CreateAsset through the Gateway, 2 members × 1 peer, 1 orderer,
2-of-2 endorsement, TLS on, load from the Node fabric-gateway client (50 in flight).

    PYTHONPATH=. python tests/bench/bench_peer.py [--transactions 2000] [--in-flight 50]
        [--rounds 1] [--profile DIR] [--up]

Besides TPS and latency it prints each process's CPU time per transaction (user + system
from ``/proc/<pid>/stat`` across the load): on a machine shared with other work that
figure is far steadier than TPS, so it is the one to compare changes by. ``--profile DIR``
records py-spy samples (collapsed stacks, the input of any flame-graph tool) of every
Python process during the last round. ``--up`` loads a network ``consortium up`` started
from ``deploy/two-members.yaml`` (free ports, a temporary folder: its batch timeout, the
events bridge, operations endpoints and trace records included) instead of the bare
fixture, and reports every one of its processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import subprocess
import tempfile
from pathlib import Path

from tests.bench.bench_rss import load_config
from tests.integration.test_up import spec_with_free_ports
from tests.support.fabric_network import FabricNetwork
from tests.support.processes import consortium

HERE = Path(__file__).resolve().parent
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def processes(network: FabricNetwork) -> dict[str, int]:
    """The network's Python processes by role."""
    assert network.orderer.process is not None and network.contract is not None
    found = {"orderer": network.orderer.process.process.pid}
    for mspid, peer in network.peers.items():
        assert peer.process is not None
        role = "gateway peer" if mspid == "Org1MSP" else "other peer"
        found[f"{role} ({mspid})"] = peer.process.process.pid
    found["contract"] = network.contract.pid
    return found


def start_profilers(pids: dict[str, int], directory: Path, native: bool) -> list[subprocess.Popen]:
    """py-spy on every process; ``native`` adds C frames (gRPC core, OpenSSL) but pauses
    the process for each sample."""
    directory.mkdir(parents=True, exist_ok=True)
    spy = Path(os.environ.get("VIRTUAL_ENV", HERE.parents[1] / ".venv")) / "bin" / "py-spy"
    mode = ["--native"] if native else ["--nonblocking"]
    return [
        subprocess.Popen(
            [str(spy), "record", *mode, "-r", "50", "--format", "raw", "-o",
             str(directory / f"{role.split()[0]}-{pid}.txt"), "--pid", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for role, pid in pids.items()
    ]  # fmt: skip


def load(config: Path, total: int, in_flight: int) -> tuple[dict, float]:
    """Run the Node load script; its figures and the CPU seconds it used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        ["node", str(HERE / "load_gateway.js"), str(config), str(total), str(in_flight)],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(result.stderr)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(result.stdout.strip().splitlines()[-1]), used


def measure(
    config: Path, pids: dict[str, int], rounds: int, total: int, in_flight: int, profile, native
) -> None:
    """``rounds`` loads of one network, each reported with its processes' CPU."""
    for number in range(1, rounds + 1):
        profilers = []
        if profile is not None and number == rounds:
            profilers = start_profilers(pids, profile, native)
        before = {role: cpu_seconds(pid) for role, pid in pids.items()}
        figures, node_cpu = load(config, total, in_flight)
        used = {role: cpu_seconds(pid) - before[role] for role, pid in pids.items()}
        for profiler in profilers:
            profiler.send_signal(2)  # SIGINT: py-spy writes its samples and exits
        for profiler in profilers:
            profiler.wait(timeout=60)
        used["node client"] = node_cpu
        report(number, figures, used)


async def run_fixture(root: Path, measured) -> None:
    """The bare two-peer fixture (``tests.support.fabric_network``), batch timeout 100 ms."""
    batch = {"timeout": "100ms", "count": "100", "absolute": "10 MB", "preferred": "2 MB"}
    network = FabricNetwork(root, batch=batch)
    try:
        await network.start()
        await network.join_and_deploy()
        config = network.node_client_config(root / "clients", {"user1": network.users["Org1MSP"]})
        measured(config, processes(network))
    finally:
        network.stop()


def up_processes(home: Path) -> dict[str, int]:
    """Every running process of a network `up` started, by its node name."""
    pids = {}
    for path in sorted(home.glob("*/pids/*.pid")):
        pid = int(path.read_text().split()[0])
        if Path(f"/proc/{pid}").exists():
            pids[path.stem] = pid
    return pids


def run_up(root: Path, measured) -> None:
    """A network ``consortium up`` started, as a user runs it."""
    try:
        consortium(root, "up", str(spec_with_free_ports(root)), "--no-reconcile")
        home = next((root / ".consortium").iterdir())
        config = load_config(home, root)
        measured(config, up_processes(root / ".consortium"))
    finally:
        consortium(root, "down", "--purge", check=False)


async def run(
    total: int, in_flight: int, rounds: int, profile: Path | None, native: bool, up: bool
) -> None:
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )

    def measured(config: Path, pids: dict[str, int]) -> None:
        measure(config, pids, rounds, total, in_flight, profile, native)

    with tempfile.TemporaryDirectory() as tmp:
        if up:
            run_up(Path(tmp), measured)
        else:
            await run_fixture(Path(tmp), measured)


def report(number: int, figures: dict, used: dict[str, float]) -> None:
    count = figures["total"]
    print(
        f"round {number}: CreateAsset × {count}, {figures['inFlight']} in flight, "
        f"2-of-2 endorsement, TLS on, load {os.getloadavg()[0]:.1f}"
    )
    print(f"  throughput: {figures['tps']:.0f} TPS ({figures['failures']} failed)")
    print(f"  latency: p50 {figures['p50ms']:.0f} ms, p99 {figures['p99ms']:.0f} ms")
    print("  CPU per transaction:")
    for role, seconds in used.items():
        print(f"    {role:24} {seconds * 1000 / count:6.2f} ms")
    print(f"    {'all':24} {sum(used.values()) * 1000 / count:6.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--in-flight", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=1, help="load runs on one network")
    parser.add_argument("--profile", type=Path, help="py-spy samples of the last round here")
    parser.add_argument("--native", action="store_true", help="profile C frames too")
    parser.add_argument("--up", action="store_true", help="a network `consortium up` started")
    args = parser.parse_args()
    asyncio.run(
        run(args.transactions, args.in_flight, args.rounds, args.profile, args.native, args.up)
    )


if __name__ == "__main__":
    main()
