"""The explorer's figures (issue 20), printed, never asserted:

1. **Commit → page**: a network from ``consortium up``, the block list open in Chromium,
   transactions submitted one at a time; for each, the time from ``CommitStatus``
   answering (the block is committed on org1's peer) to its row appearing in the open
   page (the page stamps each row's arrival with the same wall clock). p50 / p99.
2. **Page load with 10,000 blocks**: the explorer's app serving a channel of 10,000
   orderer-signed blocks (built in-process: ordering 10,000 blocks on this machine would
   take the whole run), the block list, a block and a transaction page loaded in
   Chromium; navigation start → load event, p50 / p99 of 20 loads each.

Run: ``make browser`` (or ``PYTHONPATH=. .venv/bin/python tests/bench/bench_explorer.py``).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

from chaincode.rwset import TxRWSet
from network.explorer.config import load_config
from network.explorer.ledger import Ledger
from network.explorer.server import app
from network.gateway_client import GatewayClient
from tests.support.browser import Browser, missing
from tests.support.channel import ChannelFixture
from tests.support.explorer_network import explorer_network
from tests.support.fabric_network import free_port

COMMITS = 40
BLOCKS = 10_000
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


def _big_ledger(folder: Path) -> tuple[Ledger, str]:
    fixture = ChannelFixture(folder)
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
    ledger.add("mychannel", fixture.genesis)
    for n in range(1, BLOCKS):
        rwset = TxRWSet()
        rwset.namespace("basic").writes[f"k{n}"] = b"v"
        ledger.add("mychannel", fixture.block([fixture.transaction(rwset)]))
    middle = ledger.block("mychannel", BLOCKS // 2).txs[0].txid
    return ledger, middle


async def _serve(ledger: Ledger, port: int, ready: asyncio.Event, stop: asyncio.Event) -> None:
    runner = web.AppRunner(app(ledger))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    ready.set()
    await stop.wait()
    await runner.cleanup()


def page_loads() -> dict[str, list[float]]:
    import threading

    folder = Path(tempfile.mkdtemp(prefix="bench-explorer-big-"))
    started = time.perf_counter()
    ledger, txid = _big_ledger(folder)
    print(f"  {BLOCKS} blocks built and indexed in {time.perf_counter() - started:.1f}s")
    port = free_port()
    loop = asyncio.new_event_loop()
    ready, stop = asyncio.Event(), asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(_serve(ledger, port, ready, stop),)
    )
    thread.start()
    while not ready.is_set():
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    pages = {
        "block list (newest 50)": f"{base}/channels/mychannel/blocks",
        "block list, page 100": f"{base}/channels/mychannel/blocks?before=5000",
        "one block": f"{base}/channels/mychannel/blocks/{BLOCKS - 1}",
        "one transaction (no peer to trace)": f"{base}/tx/{txid}",
    }
    times: dict[str, list[float]] = {name: [] for name in pages}
    try:
        with Browser() as browser:
            for name, url in pages.items():
                for _ in range(LOADS):
                    browser.open(url)
                    times[name].append(float(browser.evaluate(LOAD_TIME)))
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join()
        shutil.rmtree(folder, ignore_errors=True)
    return times


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
    for name, values in page_loads().items():
        print(
            f"  {name}: p50 {percentile(values, 0.5):.0f} ms, p99 {percentile(values, 0.99):.0f} ms"
        )


if __name__ == "__main__":
    main()
