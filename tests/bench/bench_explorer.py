"""The explorer's figures (issue 20), printed, never asserted:

1. **Commit → page**: a network from ``consortium up``, the block list open in Chromium,
   transactions submitted one at a time; for each, the time from ``CommitStatus``
   answering (the block is committed on org1's peer) to its row appearing in the open
   page (the page stamps each row's arrival with the same wall clock). p50 / p99.
2. **Page load and memory with 100,000 blocks**: the explorer's app, in its own process,
   serving a channel of 100,000 orderer-signed blocks from its store (built in-process
   first: ordering 100,000 blocks on this machine would take the whole run); the block
   list (newest, a middle page, and a different page each load so every block is read
   from disk), a block and a transaction page loaded in Chromium; navigation start →
   load event, p50 / p99 of 20 loads each; then the process's resident memory.
   ``BENCH_EXPLORER_BLOCKS=N`` changes the size; ``BENCH_EXPLORER_STORE=DIR`` keeps the
   built store for the next run.

Run: ``make browser`` (or ``PYTHONPATH=. .venv/bin/python tests/bench/bench_explorer.py``).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from chaincode.rwset import TxRWSet
from network.explorer.config import load_config
from network.explorer.ledger import Ledger
from network.explorer.server import app
from network.gateway_client import GatewayClient
from tests.support.browser import Browser, missing
from tests.support.channel import ChannelFixture
from tests.support.explorer_network import explorer_network
from tests.support.fabric_network import free_port

ROOT = Path(__file__).resolve().parents[2]

COMMITS = 40
BLOCKS = int(os.environ.get("BENCH_EXPLORER_BLOCKS", "100000"))
LOADS = 20
STAMP_ROWS = """
window.arrivals = {};
new MutationObserver(() => {
  for (const link of document.querySelectorAll('#blocks a')) {
    if (!(link.textContent in window.arrivals)) window.arrivals[link.textContent] = Date.now();
  }
}).observe(document.getElementById('blocks'), {childList: true, subtree: true});
"""
LOAD_TIME = (
    "(() => { const n = performance.getEntriesByType('navigation')[0]; "
    "return n.loadEventEnd - n.startTime; })()"
)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _submit_all(connection: dict, count: int) -> list[tuple[int, float]]:
    """(block, wall-clock seconds when CommitStatus answered) for each transaction."""
    client = GatewayClient.from_connection(connection, "user1")
    committed = []
    try:
        for n in range(count):
            txid, _ = await client.submit_async(
                "mychannel", "basic", "CreateAsset", f"b{n}", "red", "1", "Ann", "1"
            )
            _, block = await client.commit_status("mychannel", txid)
            committed.append((block, time.time()))
            await asyncio.sleep(0.3)  # one transaction a block, the page idle in between
    finally:
        await client.close()
    return committed


def commit_to_page() -> list[float]:
    folder = Path(tempfile.mkdtemp(prefix="bench-explorer-"))
    with explorer_network(folder, purge=True) as network, Browser() as browser:
        browser.open(f"{network.url}blocks")
        browser.wait('body[data-live="yes"]')
        browser.evaluate(STAMP_ROWS)
        committed = asyncio.run(_submit_all(network.connection, COMMITS))
        browser.wait(f'#blocks a:text-is("{committed[-1][0]}")')
        arrivals = browser.evaluate("window.arrivals")
    shutil.rmtree(folder, ignore_errors=True)
    return [arrivals[str(block)] / 1000 - at for block, at in committed]


def _big_store(folder: Path) -> str:
    """A channel of BLOCKS orderer-signed blocks in an explorer's store (its config file
    in ``folder``); returns the txid of the middle block's transaction."""
    fixture = ChannelFixture(folder / "channel")
    config_file = folder / "explorer.json"
    config_file.write_text(
        json.dumps(
            {
                "network": "bench",
                "listen": "127.0.0.1:0",
                "control_plane": {"url": "http://127.0.0.1:9", "account": "111111111111"},
                "members": {},
                "channels": {"mychannel": []},
            }
        )
    )
    ledger = Ledger(load_config(config_file))
    if ledger.height("mychannel") < BLOCKS:  # BENCH_EXPLORER_STORE keeps one between runs
        ledger.add("mychannel", fixture.genesis)
        for n in range(ledger.height("mychannel"), BLOCKS):
            rwset = TxRWSet()
            rwset.namespace("basic").writes[f"k{n}"] = b"v"
            ledger.add("mychannel", fixture.block([fixture.transaction(rwset)]))
    middle = ledger.block("mychannel", BLOCKS // 2).txs[0].txid
    ledger.store.close()
    return middle


def serve_store(config_file: str, port: int) -> None:
    """The explorer's web app over an existing store, in its own process (so its memory
    is measured alone): what ``consortium node run explorer`` serves, minus the peers."""
    from aiohttp import web

    ledger = Ledger(load_config(Path(config_file)))
    web.run_app(app(ledger), host="127.0.0.1", port=port, print=None, shutdown_timeout=1.0)


def _memory(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon (the heap: what "bounded" is about), RssFile (mapped store pages,
    reclaimable) and VmHWM (the peak), in MiB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
            fields[name] = int(value.split()[0]) // 1024
    return fields


def page_loads() -> tuple[dict[str, list[float]], dict[str, int]]:
    kept = os.environ.get("BENCH_EXPLORER_STORE", "")
    folder = Path(kept) if kept else Path(tempfile.mkdtemp(prefix="bench-explorer-big-"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    txid = _big_store(folder)
    print(f"  {BLOCKS} blocks built and stored in {time.perf_counter() - started:.1f}s")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; from tests.bench.bench_explorer import serve_store; "
         "serve_store(sys.argv[1], int(sys.argv[2]))", str(folder / "explorer.json"), str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    at_start = _memory(server.pid)
    pages = {
        "block list (newest 50)": f"{base}/channels/mychannel/blocks",
        "block list, a middle page": f"{base}/channels/mychannel/blocks?before={BLOCKS // 2}",
        "block list, a page a load (nothing cached)": "",
        "one block": f"{base}/channels/mychannel/blocks/{BLOCKS - 1}",
        "one transaction (no peer to trace)": f"{base}/tx/{txid}",
    }
    times: dict[str, list[float]] = {name: [] for name in pages}
    try:
        with Browser() as browser:
            browser.open(f"{base}/governance")  # Chromium's first navigation, not counted
            for name, url in pages.items():
                for n in range(LOADS):
                    if not url:  # a different page each load: every block read from disk
                        before = BLOCKS - (BLOCKS // (LOADS + 1)) * (n + 1)
                        browser.open(f"{base}/channels/mychannel/blocks?before={before}")
                    else:
                        browser.open(url)
                    times[name].append(float(browser.evaluate(LOAD_TIME)))
        memory = {f"{k} at start": v for k, v in at_start.items()}
        memory.update({f"{k} after the loads": v for k, v in _memory(server.pid).items()})
    finally:
        server.terminate()  # open pages hold event streams: it waits 1 s for them
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        if not kept:
            shutil.rmtree(folder, ignore_errors=True)
    return times, memory


def main() -> None:
    if missing():
        sys.exit(f"bench_explorer: {missing()}")
    print(f"explorer: commit → open page, {COMMITS} transactions, one a block")
    latencies = [1000 * s for s in commit_to_page()]
    print(
        f"  p50 {percentile(latencies, 0.5):.0f} ms, p99 {percentile(latencies, 0.99):.0f} ms, "
        f"max {max(latencies):.0f} ms, mean {statistics.mean(latencies):.0f} ms"
    )
    print(f"explorer: page load in Chromium, channel of {BLOCKS} blocks, {LOADS} loads each")
    times, memory = page_loads()
    for name, values in times.items():
        print(
            f"  {name}: p50 {percentile(values, 0.5):.0f} ms, p99 {percentile(values, 0.99):.0f} ms"
        )
    print("  explorer process memory (MiB): " + ", ".join(f"{k} {v}" for k, v in memory.items()))


if __name__ == "__main__":
    main()
