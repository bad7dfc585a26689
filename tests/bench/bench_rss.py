"""Memory of every node of an `up` network as transactions pile up: RSS after each step of
CreateAsset transactions from the Node fabric-gateway client (goal: ≤ 200 MB per node
after 100,000 transactions).

    PYTHONPATH=. python tests/bench/bench_rss.py [--transactions 100000] [--step 10000]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.fabric_network import free_port

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CLI = [sys.executable, "-c", "from network.cli import main; main()"]


def rss_mb(pid: int) -> str:
    """``VmRSS/RssAnon`` in MB: all resident memory, and the part that is the process's own
    (the rest is file pages mapped in, e.g. LMDB, which the kernel can drop)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon"):
            fields[name] = int(value.split()[0]) / 1024
    return f"{fields['VmRSS']:.0f}/{fields['RssAnon']:.0f}"


def node_rss(home: Path) -> dict[str, str]:
    sizes = {}
    for pid_file in sorted((home / "pids").glob("*.pid")):
        try:
            sizes[pid_file.stem] = rss_mb(int(pid_file.read_text()))
        except (OSError, ValueError, KeyError):
            sizes[pid_file.stem] = "-"
    return sizes


def load_config(home: Path, directory: Path) -> Path:
    """load_gateway.js's input, from org1's connection file (as any client would)."""
    connection = json.loads((home / "connection" / "org1.json").read_text())
    identity = connection["identities"]["user1"]
    config = {
        "channel": connection["channel"],
        "chaincode": "basic",
        "peers": {
            "Org1MSP": {
                "address": connection["gateway"]["endpoint"],
                "tlsRootCert": connection["gateway"]["tlsRootCert"],
                # mutual TLS is on by default: the client presents its TLS certificate
                **(
                    {"tlsClientCert": identity["tlsCert"], "tlsClientKey": identity["tlsKey"]}
                    if identity.get("tlsCert")
                    else {}
                ),
            }
        },
        "identities": {
            "user1": {
                "mspId": connection["mspId"],
                "cert": identity["cert"],
                "key": identity["key"],
            }
        },
    }
    path = directory / "load.json"
    path.write_text(json.dumps(config))
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=10_000)
    parser.add_argument("--in-flight", type=int, default=50)
    options = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {__import__('os').cpu_count()} cores"
    )
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        text = (ROOT / "deploy" / "two-members.yaml").read_text()
        spec = directory / "net.yaml"
        spec.write_text(re.sub(r"port: \d+", lambda _: f"port: {free_port()}", text))
        home = directory / ".consortium" / "two-members"
        subprocess.run([*CLI, "up", str(spec), "-o", "json"], cwd=directory, check=True)
        try:
            config = load_config(home, directory)
            print(f"{'transactions':>12}  {'TPS':>5}  " + "  ".join(node_rss(home)))
            done = 0
            while done < options.transactions:
                step = min(options.step, options.transactions - done)
                started = time.monotonic()
                result = subprocess.run(
                    [
                        "node",
                        str(HERE / "load_gateway.js"),
                        str(config),
                        str(step),
                        str(options.in_flight),
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                figures = json.loads(result.stdout.strip().splitlines()[-1])
                done += step
                tps = step / (time.monotonic() - started)
                sizes = node_rss(home)
                failed = f"  ({figures['failures']} failed)" if figures["failures"] else ""
                print(
                    f"{done:>12}  {tps:>5.0f}  "
                    + "  ".join(f"{sizes[name]:>{len(name)}}" for name in sizes)
                    + failed,
                    flush=True,
                )
        finally:
            subprocess.run([*CLI, "down", str(spec)], cwd=directory, capture_output=True)
    print("MB per node: VmRSS/RssAnon (all resident memory / the process's own)")


if __name__ == "__main__":
    main()
