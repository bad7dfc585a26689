"""The explorer in a real browser (Debian's Chromium through playwright-core): a network
from ``consortium up``, a valid transaction and an MVCC conflict submitted while the
page is open, and what a person sees — the block list growing without a reload, each
transaction's flow with its endorsers and code, the proof checked in the page (and
refused when tampered), the votes that let org2 in, 404 pages that name what is missing.

``CONSORTIUM_SCREENSHOTS=DIR`` (``make browser``) also saves a screenshot of each page;
``CONSORTIUM_BROWSER_LONG=1`` (``make browser``) also creates a channel while the page is
open, by ``up`` with an edited spec, and sees it followed live.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from pathlib import Path

from fabric_protos.gateway import gateway_pb2

from network.gateway_client import GatewayClient
from proto.proposal import propose
from tests.support.browser import Browser, missing
from tests.support.explorer_network import ExplorerNetwork, explorer_network
from tests.support.processes import consortium

SCREENSHOTS = os.environ.get("CONSORTIUM_SCREENSHOTS", "")
LONG = os.environ.get("CONSORTIUM_BROWSER_LONG", "") == "1"


async def _conflicting_transfers(connection: dict, asset: str) -> dict[str, str]:
    """Two transfers of one asset, both endorsed before either is submitted: both read
    the same version, so the one ordered second is MVCC_READ_CONFLICT whatever the
    machine's load. Returns txid → validation code."""
    client = GatewayClient.from_connection(connection, "user1")
    try:
        envelopes = []
        for owner in ("Bea", "Cem"):
            proposed = propose(client.signer, "mychannel", "basic", ["TransferAsset", asset, owner])
            endorsed = await client.gateway.Endorse(
                gateway_pb2.EndorseRequest(
                    transaction_id=proposed.tx_id,
                    channel_id="mychannel",
                    proposed_transaction=proposed.signed,
                )
            )
            envelope = endorsed.prepared_transaction
            envelope.signature = client.signer.sign(envelope.payload)
            envelopes.append((proposed.tx_id, envelope))
        for txid, envelope in envelopes:
            await client.gateway.Submit(
                gateway_pb2.SubmitRequest(
                    transaction_id=txid, channel_id="mychannel", prepared_transaction=envelope
                )
            )
        return {txid: (await client.commit_status("mychannel", txid))[0] for txid, _ in envelopes}
    finally:
        await client.close()


async def _endorsed_by_org1_only(connection: dict) -> tuple[str, int]:
    """A transaction only org1 endorsed, under a policy that needs both: ordered, then
    refused by every peer at validation. Returns (txid, validation code)."""
    client = GatewayClient.from_connection(connection, "user1")
    try:
        txid, _ = await client.submit_async(
            "mychannel", "basic", "CreateAsset", "p1", "grey", "1", "Ann", "1",
            endorsing_organizations=["Org1MSP"],
        )  # fmt: skip
        return txid, (await client.commit_status("mychannel", txid))[0]
    finally:
        await client.close()


def _shot(browser: Browser, name: str) -> None:
    if SCREENSHOTS:
        browser.screenshot(Path(SCREENSHOTS) / f"{name}.png")


def test_explorer_shows_transactions_live_in_chromium(tmp_path: Path) -> None:
    assert not missing(), missing()
    with explorer_network(tmp_path) as network, Browser() as browser:
        _live_blocks_and_flows(browser, network.url, tmp_path, network.connection)
        consortium(network.folder, "ca", "adduser", "auditor", "--member", "org2")
        _governance_chaincode_and_bad_input(browser, network.url)
        if LONG:  # `make browser`: a re-`up` costs more than the default suite can spend
            _new_channel_followed_live(browser, network)
        _unreachable_node(browser, network.url, network.home)


def _live_blocks_and_flows(browser: Browser, url: str, cwd: Path, connection: dict) -> None:
    assert browser.open(f"{url}blocks") == 200
    browser.wait('body[data-live="yes"]')  # the page listens for blocks
    browser.evaluate("window.notReloaded = true")
    created = consortium(cwd, "invoke", "basic", "CreateAsset", "x1", "red", "3", "Ann", "9",
                         "--member", "org1", "-o", "json")  # fmt: skip
    created = json.loads(created.stdout)
    valid, block = created["txid"], created["block"]
    browser.wait(f'#blocks a[href="/channels/mychannel/blocks/{block}"]')
    codes = asyncio.run(_conflicting_transfers(connection, "x1"))
    assert sorted(codes.values()) == [0, 11], codes  # VALID, MVCC_READ_CONFLICT
    conflict = next(txid for txid, code in codes.items() if code == 11)
    winner = next(txid for txid, code in codes.items() if code == 0)
    browser.wait(f'#blocks a[href^="/channels/mychannel/blocks/"]:text-is("{block + 1}")')
    assert browser.evaluate("window.notReloaded === true") is True  # it grew in place
    _shot(browser, "blocks")

    assert browser.open(f"{url}tx/{valid}") == 200
    assert browser.text("#code") == "VALID"
    steps = " ".join(browser.texts("#steps > li"))
    assert "peer-org1-peer0" in steps and "peer-org2-peer0" in steps
    assert "Org1MSP" in steps and "Org2MSP" in steps
    assert "signatures from Org1MSP, Org2MSP satisfy it" in steps
    assert "orderer-orderer0" in steps
    assert browser.evaluate("document.querySelector('#flow svg title').textContent").endswith(valid)
    _shot(browser, "transaction")

    assert browser.open(f"{url}tx/{conflict}") == 200
    assert browser.text("#code") == "MVCC_READ_CONFLICT"
    assert winner in browser.text("main")  # who wrote the key it had read
    _shot(browser, "transaction-conflict")

    refused, code = asyncio.run(_endorsed_by_org1_only(connection))
    assert code == 10  # ENDORSEMENT_POLICY_FAILURE
    assert browser.open(f"{url}tx/{refused}") == 200
    assert browser.text("#code") == "ENDORSEMENT_POLICY_FAILURE"
    assert "missing: Org2MSP" in " ".join(browser.texts("#steps > li"))

    assert browser.open(f"{url}channels/mychannel/blocks/{block}") == 200
    _verify_in_page(browser)


def _verify_in_page(browser: Browser) -> None:
    """The page hashes the block again itself (data hash, header hash, journal entry and
    block hashes, the path to the digest); a tampered block or proof names its step."""
    browser.evaluate("document.getElementById('verify').focus()")
    browser.do("press", key="Enter")  # a button, so the keyboard runs it as a click does
    browser.wait("#proof-result.proof-ok")
    steps = browser.texts("#proof-steps li")
    assert steps[0].startswith("✓ data hash") and steps[1].startswith("✓ header hash")
    assert any(s.startswith("✓ transactionInfo is the empty struct") for s in steps)
    assert any(s.startswith("✓ journal block") for s in steps)
    assert steps[-1].startswith("✓ digest") and not any(s.startswith("✗") for s in steps)
    _shot(browser, "block")
    browser.do("click", selector="#verify-tampered-block")
    browser.wait("#proof-result.proof-bad")
    assert browser.evaluate("document.getElementById('proof-result').dataset.failed") == (
        "data hash"
    )
    assert browser.texts("#proof-steps li")[0].startswith("✗ data hash")
    _shot(browser, "block-tampered")
    browser.do("click", selector="#verify-tampered")
    browser.wait("#proof-result.proof-bad")
    assert "NOT verified: the proof step fails" in browser.text("#proof-result")
    steps = browser.texts("#proof-steps li")
    assert steps[0].startswith("✓ data hash") and steps[-1].startswith("✗ digest")


def _governance_chaincode_and_bad_input(browser: Browser, url: str) -> None:
    assert browser.open(f"{url}governance") == 200
    assert "APPROVED" in browser.text("main") and "YES" in browser.text("main")
    assert "verified by the explorer against the digest" in browser.text("main")
    browser.do("click", selector="#verify-votes")  # and each vote's proof, in the page
    browser.wait(".vote-check.proof-ok")
    checks = browser.texts(".vote-check")
    assert checks and all(c.startswith("✓ checked in this page") for c in checks), checks
    _shot(browser, "governance")
    assert browser.open(f"{url}chaincode") == 200
    assert "AND('Org1MSP.peer', 'Org2MSP.peer')" in browser.text("main")
    browser.do("select", selector="#member-mychannel", value="org2")
    browser.do("select", selector="#identity-mychannel", value="auditor")  # enrolled later
    browser.do("fill", selector="#function-mychannel", value="ReadAsset")
    browser.do("fill", selector="#args-mychannel", value="x1")
    browser.do("submit", selector='button[value="evaluate"]')
    assert '"ID": "x1"' in browser.text("#outcome pre")
    assert "as auditor of org2" in browser.text("#outcome")
    browser.do("select", selector="#identity-mychannel", value="user1")
    _shot(browser, "chaincode")
    browser.do("fill", selector="#function-mychannel", value="CreateAsset")
    browser.do("fill", selector="#args-mychannel", value="y1\nblue\n2\nBo\n5")
    landed = browser.do("submit", selector='button[value="submit"]')
    assert "/tx/" in landed and browser.text("#code") == "VALID"  # on to its flow

    assert browser.open(f"{url}tx/no-such-transaction") == 404
    assert "no-such-transaction" in browser.text("main")
    assert browser.open(f"{url}channels/mychannel/blocks/999999") == 404
    assert "999999" in browser.text("main")
    assert browser.open(f"{url}nowhere") == 404
    assert browser.open(url) == 200  # it keeps serving
    browser.do("press", key="Tab")  # from the keyboard: the first stop skips to content
    assert browser.evaluate("document.activeElement.textContent") == "Skip to content"
    browser.do("press", key="Enter")
    assert browser.evaluate("location.hash") == "#main"


def _new_channel_followed_live(browser: Browser, network: ExplorerNetwork) -> None:
    """A channel created after the explorer started (the spec edited, ``up`` again)
    appears in the open page without a reload, and its blocks stream."""
    assert browser.open(f"{network.url}blocks") == 200
    browser.wait('body[data-live="yes"]')
    browser.evaluate("window.notReloaded = true")
    spec = network.folder / "net.yaml"
    text = spec.read_text()
    spec.write_text(
        text.replace("channels:\n", "channels:\n  - name: second\n    members: [org1]\n", 1)
    )
    consortium(network.folder, "up", str(spec), "--no-reconcile", "-o", "json")
    browser.wait('#channels a[href="/channels/second/blocks"]')
    assert browser.evaluate("window.notReloaded === true") is True
    assert browser.open(f"{network.url}channels/second/blocks") == 200
    browser.wait('#blocks a[href="/channels/second/blocks/0"]')


def _wait_gone(pid: int) -> None:
    """Until every thread of the killed process has exited. Its main thread shows as a
    zombie as soon as it exits, while its other threads (gRPC's) may still be exiting:
    they share its file table, so its listening socket stays open, and accepts, until
    the last of them is gone — the page then (rarely) still saw the peer RUNNING. Only
    when /proc/PID/task lists no thread but the zombie leader are its files closed."""
    tasks, status = Path(f"/proc/{pid}/task"), Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if [p.name for p in tasks.iterdir()] == [str(pid)] and "zombie" in status.read_text():
                return
        except FileNotFoundError:
            return  # reaped: gone altogether
        time.sleep(0.05)
    raise AssertionError(f"process {pid} outlived SIGKILL")


def _unreachable_node(browser: Browser, url: str, home: Path) -> None:
    """A peer killed (no reconciler here to restart it): shown unreachable, still served."""
    assert browser.open(f"{url}blocks") == 200  # away from the Network page (and its #main)
    pid = int((home / "pids" / "peer-org2-peer0.pid").read_text())
    os.killpg(pid, signal.SIGKILL)  # the node's whole process group, as a crash takes it
    _wait_gone(pid)
    assert browser.open(url) == 200
    state = browser.evaluate(
        "[...document.querySelectorAll('tbody tr')].find(r => r.cells[0].textContent === "
        "'peer-org2-peer0').cells[4].textContent"
    )
    assert state == "UNREACHABLE"
    heights = browser.texts("ul.heights li")  # each node's height of the channel
    assert "peer-org2-peer0: no answer" in heights
    assert any(h.startswith("orderer-orderer0: ") and h[-1].isdigit() for h in heights)
    _shot(browser, "network")
