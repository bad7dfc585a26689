"""Hyperledger Caliper 0.6.0 (unmodified, fabric-gateway binding) against a network
``consortium up`` starts: the asset-transfer benchmark of ``tests/bench/caliper``
(CreateAsset, ReadAsset, TransferAsset; fixed-rate and fixed-load rounds).

    make bench-caliper
    PYTHONPATH=. python tests/bench/bench_caliper.py [--benchmark FILE] [--report FILE]

The network runs from ``deploy/two-members.yaml`` with free ports in a temporary folder
(so it never meets another network on this machine) and is purged afterwards. Caliper's
HTML report goes to ``tests/bench/caliper/report.html``; its summary table is printed.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

from tests.integration.test_up import spec_with_free_ports
from tests.support.caliper import (
    WORKSPACE,
    run_caliper,
    summary,
    summary_table,
    write_network_config,
)
from tests.support.mtls import without_client_auth
from tests.support.processes import consortium


def run(benchmark: Path, report: Path) -> int:
    """Up, Caliper, down; Caliper's exit status, or 1 if a round had no transaction
    succeed (Caliper itself exits 0 then: a run where every transaction failed looked
    green). Some failed TransferAssets are the workload's intended MVCC conflicts."""
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}; benchmark {benchmark.name}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        try:
            # Caliper 0.6's peer-gateway connector presents no TLS client certificate
            spec = without_client_auth(spec_with_free_ports(folder))
            consortium(folder, "up", str(spec), "--no-reconcile")
            config = write_network_config(folder, "org1", folder / "caliper-network.json")
            result = run_caliper(config, benchmark, report, timeout=3600)
        finally:
            consortium(folder, "down", "--purge", check=False)
    table = summary_table(result.stdout)
    print("\n".join(table) if table else result.stdout[-4000:] + result.stderr[-4000:])
    print(f"load {os.getloadavg()[0]:.1f}; report: {report}")
    failed = [r.name for r in summary(result.stdout) if not r.succeeded]
    if failed:
        print(f"rounds where every transaction failed: {', '.join(failed)}")
    return result.returncode or (1 if failed else 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--benchmark", type=Path, default=WORKSPACE / "benchmarks" / "asset-transfer.yaml"
    )
    parser.add_argument("--report", type=Path, default=WORKSPACE / "report.html")
    args = parser.parse_args()
    raise SystemExit(run(args.benchmark.resolve(), args.report.resolve()))


if __name__ == "__main__":
    main()
