"""The explorer's web server (aiohttp): pages, server-sent events, the proof API and
its own static files. ``serve`` runs it as a node until SIGTERM.

A page about something that does not exist (a block past the tip, an unknown txid or
channel, any other path) answers 404 with a page naming it; a node the explorer reads
being down shows as unreachable on the page, never as an error of the explorer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import signal
from pathlib import Path
from typing import Any

from aiohttp import web

from network.chaincode_deploy import query_committed
from network.controlplane.client import Client, HistoryNotVerified, verify_history
from network.controlplane.errors import ControlPlaneError
from network.controlplane.keyfile import local_secret
from network.explorer import pages
from network.explorer.blocks import BlockView
from network.explorer.config import (
    ExplorerConfig,
    ExplorerConfigError,
    LiveConfig,
    NodeRef,
    load_config,
)
from network.explorer.flow import build_flow, conflict_lines, gather_traces, node_names
from network.explorer.heights import heights_on_nodes
from network.explorer.invoke import InvocationRefused, Outcome, read_form, run
from network.explorer.ledger import Ledger, Place
from network.explorer.proofs import ProofUnavailable, inclusion
from network.gateway_client import GatewayClientError
from proto.operations import split_listen, start_operations

__all__ = ["app", "load_config", "serve"]

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
PAGE_SIZE = 50
PROBE_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0
LEDGER: web.AppKey[Ledger] = web.AppKey("ledger", Ledger)
CONFIG: web.AppKey[LiveConfig] = web.AppKey("config", LiveConfig)


def _config(request: web.Request) -> ExplorerConfig:
    return request.app[CONFIG].current()


def _html(text: str, status: int = 200) -> web.Response:
    """A page: live data, so never kept by the browser (a reload asks again)."""
    return web.Response(
        text=text,
        status=status,
        content_type="text/html",
        charset="utf-8",
        headers={"Cache-Control": "no-store"},
    )


def _missing(request: web.Request, what: str) -> web.Response:
    return _html(pages.not_found(_config(request), what), 404)


@web.middleware
async def not_found_pages(request: web.Request, handler: Any) -> web.StreamResponse:
    """Any path the explorer does not serve: a page saying so, not aiohttp's bare text."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _missing(request, f"There is no page at {request.path}.")


# -- reading the network ---------------------------------------------------------------


async def _probe(node: NodeRef) -> str:
    """RUNNING when the node accepts connections, else UNREACHABLE."""
    host, _, port = node.address.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), PROBE_SECONDS)
    except (OSError, TimeoutError, ValueError):
        return "UNREACHABLE"
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return "RUNNING"


def _plane(config: ExplorerConfig) -> Client:
    secret = local_secret(config.credentials, config.account) if config.credentials else None
    return Client(
        config.control_plane_url,
        access_key_id=config.account,
        secret=secret or "local",
        timeout=3.0,
    )


def _members(config: ExplorerConfig) -> list[dict[str, Any]]:
    try:
        return list(_plane(config).pages(f"/networks/{config.network_id}/members", "Members"))
    except ControlPlaneError:
        return []


def _proposals(config: ExplorerConfig) -> list[dict[str, Any]]:
    """Every proposal with its votes and actions, and the network's voting policy."""
    client = _plane(config)
    base = f"/networks/{config.network_id}"
    try:
        policy = client.call("GET", base)["Network"].get("VotingPolicy", {})
        listed = list(client.pages(f"{base}/proposals", "Proposals"))
        found = []
        for row in listed:
            proposal_id = row["ProposalId"]
            detail = client.call("GET", f"{base}/proposals/{proposal_id}")["Proposal"]
            votes = list(client.pages(f"{base}/proposals/{proposal_id}/votes", "ProposalVotes"))
            found.append(
                {
                    **detail,
                    "votes": votes,
                    "actions": _actions(detail),
                    "threshold": _threshold(policy),
                    "proofs": _vote_proofs(client, proposal_id),
                }
            )
        return found
    except (ControlPlaneError, KeyError):
        return []


def _vote_proofs(client: Client, proposal_id: str) -> dict[str, Any]:
    """Each vote's journal entry, its block re-hashed and its inclusion proof checked
    against the control plane's ledger digest here (``verify_history``): member id →
    ``{block, proof, digest, tip}``; ``{"error": why}`` when a proof does not hold."""
    history = client.call("GET", f"/proposals/{proposal_id}/history")
    try:
        entries = verify_history(history)
    except HistoryNotVerified as exc:
        return {"error": str(exc)}
    digest = base64.b64decode(history["Digest"]).hex()
    return {
        entry["Document"]["MemberId"]: {
            "block": entry["SequenceNo"],
            "blockHash": base64.b64decode(entry["BlockHash"]).hex(),
            "proof": [base64.b64decode(h).hex() for h in entry["Proof"]],
            "digest": digest,
            "tip": history["DigestTip"],
        }
        for entry in entries
        if entry["Table"] == "votes"
    }


def _actions(proposal: dict[str, Any]) -> list[str]:
    actions = proposal.get("Actions") or {}
    invite = [f"invite account {i.get('Principal')}" for i in actions.get("Invitations", [])]
    remove = [f"remove member {r.get('MemberId')}" for r in actions.get("Removals", [])]
    return invite + remove


def _threshold(policy: dict[str, Any]) -> str:
    rule = policy.get("ApprovalThresholdPolicy") or {}
    if not rule:
        return ""
    return (
        f"{rule.get('ThresholdComparator', '')} {rule.get('ThresholdPercentage', '')}% "
        f"of members, within {rule.get('ProposalDurationInHours', '')} h"
    )


async def _definitions(config: ExplorerConfig, channel: str) -> list[dict[str, Any]]:
    """The channel's committed chaincode definitions, queried as its reading member."""
    try:
        client = config.client(config.reader_of(channel))
    except (ExplorerConfigError, GatewayClientError, OSError, ValueError):
        return []  # no member of ours reads it (or its file is gone): nothing to show
    try:
        return await asyncio.wait_for(query_committed(client, channel), 5.0)
    except (GatewayClientError, TimeoutError):
        return []
    finally:
        await client.close()


# -- pages -----------------------------------------------------------------------------


async def network(request: web.Request) -> web.Response:
    config, ledger = _config(request), request.app[LEDGER]
    states = await asyncio.gather(*(_probe(node) for node in config.nodes))
    members, on_nodes = await asyncio.gather(
        asyncio.to_thread(_members, config),
        asyncio.gather(*(heights_on_nodes(config, c) for c in config.channels)),
    )
    heights = {channel: ledger.height(channel) for channel in config.channels}
    body = pages.network_page(
        config,
        dict(zip((n.name for n in config.nodes), states, strict=True)),
        heights,
        dict(zip(config.channels, on_nodes, strict=True)),
        ledger.following,
        members,
    )
    return _html(body)


async def blocks_index(request: web.Request) -> web.Response:
    config = _config(request)
    if not config.channels:
        return _missing(request, "This network has no channel.")
    raise web.HTTPFound(f"/channels/{next(iter(config.channels))}/blocks")


async def blocks(request: web.Request) -> web.Response:
    config, ledger = _config(request), request.app[LEDGER]
    channel = request.match_info["channel"]
    if channel not in config.channels:
        return _missing(request, f"There is no channel {channel!r} in {config.network}.")
    height = ledger.height(channel)
    try:
        before = int(request.query.get("before", height))
    except ValueError:
        return _missing(
            request, f"'before' must be a block number, not {request.query['before']!r}."
        )
    shown = ledger.newest_first(channel, before, PAGE_SIZE)
    return _html(pages.blocks_page(config, channel, shown, height, PAGE_SIZE))


def _block_of(request: web.Request) -> BlockView | str:
    """The block the path names, or why there is none."""
    ledger = request.app[LEDGER]
    channel, number = request.match_info["channel"], request.match_info["number"]
    if channel not in _config(request).channels:
        return f"There is no channel {channel!r}."
    view = ledger.block(channel, int(number)) if number.isdigit() else None
    if view is None:
        return f"There is no block {number} on channel {channel} (height {ledger.height(channel)})."
    return view


async def block(request: web.Request) -> web.Response:
    found = _block_of(request)
    if isinstance(found, str):
        return _missing(request, found)
    return _html(pages.block_page(_config(request), found))


async def transaction(request: web.Request) -> web.Response:
    config, ledger = _config(request), request.app[LEDGER]
    txid = request.match_info["txid"]
    found = ledger.find(txid)
    if found is None:
        return _missing(request, f"No block holds transaction {txid}.")
    view, tx = found
    definitions = await _definitions(config, view.channel)
    policy = next((d["endorsement_policy"] for d in definitions if d["name"] == tx.chaincode), "")
    records, unreachable = await gather_traces(config, txid)
    flow = build_flow(records, node_names(config), tx, view, policy)
    flow.unreachable = unreachable
    conflicts = []
    if tx.code == "MVCC_READ_CONFLICT":
        place = Place(view.channel, view.number, tx.index)
        writers = {}
        for key, version in tx.reads.items():
            writer = ledger.last_writer(view.channel, key, place)
            if writer is not None and (writer[0], writer[1].index) != version:
                writers[key] = writer
        conflicts = conflict_lines(tx.reads, writers)
    return _html(pages.tx_page(config, view, tx, flow, conflicts, policy))


async def chaincode(
    request: web.Request, outcome: Outcome | None = None, refusal: str = "", status: int = 200
) -> web.Response:
    config = _config(request)
    found = await asyncio.gather(*(_definitions(config, c) for c in config.channels))
    identities = {m: _identities(config, m) for m in config.members}
    definitions = dict(zip(config.channels, found, strict=True))
    return _html(pages.chaincode_page(config, definitions, identities, outcome, refusal), status)


def _identities(config: ExplorerConfig, member: str) -> list[str]:
    try:
        return config.identities(member)
    except (OSError, ValueError, KeyError):
        return []


async def call_chaincode(request: web.Request) -> web.Response:
    """The Chaincode page's form: evaluate shows the result; a committed submit goes on
    to the transaction's page once the explorer has its block."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        return web.Response(status=403, text=f"refused: a form from {origin}")
    config = _config(request)
    try:
        invocation = read_form(config, await request.post())
    except InvocationRefused as exc:
        return await chaincode(request, refusal=str(exc), status=400)
    outcome = await run(config, invocation)
    if outcome.txid and not outcome.error and await _indexed(request.app[LEDGER], outcome.txid):
        raise web.HTTPSeeOther(f"/tx/{outcome.txid}")
    return await chaincode(request, outcome)


async def _indexed(ledger: Ledger, txid: str, seconds: float = 10.0) -> bool:
    """Until the explorer's own follower has the transaction's block (it may read
    another peer than the one that answered the commit status)."""
    with ledger.subscription() as queue:
        while ledger.find(txid) is None:
            try:
                await asyncio.wait_for(queue.get(), seconds)
            except TimeoutError:
                return False
    return True


async def governance(request: web.Request) -> web.Response:
    config = _config(request)
    return _html(pages.governance_page(config, await asyncio.to_thread(_proposals, config)))


async def proof(request: web.Request) -> web.Response:
    found = _block_of(request)
    if isinstance(found, str):
        return web.json_response({"error": found}, status=404)
    try:
        answer = await asyncio.to_thread(
            inclusion, _config(request).journals, found.channel, found.number
        )
    except ProofUnavailable as exc:
        return web.json_response({"error": str(exc)}, status=404)
    return web.json_response({**answer, "headerHash": found.header_hash})


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one ``block`` event per block appended from now on, one
    ``channel`` event per channel the explorer starts following."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    with request.app[LEDGER].subscription() as queue, contextlib.suppress(ConnectionResetError):
        while True:  # until the page goes away (its connection resets)
            try:
                name, data = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            await response.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
    return response


def app(ledger: Ledger) -> web.Application:
    application = web.Application(middlewares=[not_found_pages])
    application[CONFIG] = ledger.live
    application[LEDGER] = ledger
    application.add_routes(
        [
            web.get("/", network),
            web.get("/blocks", blocks_index),
            web.get("/channels/{channel}/blocks", blocks),
            web.get("/channels/{channel}/blocks/{number}", block),
            web.get("/channels/{channel}/blocks/{number}/proof", proof),
            web.get("/tx/{txid}", transaction),
            web.get("/chaincode", chaincode),
            web.post("/chaincode", call_chaincode),
            web.get("/governance", governance),
            web.get("/events", events),
            web.static("/static", STATIC),
        ]
    )
    return application


async def serve(config: ExplorerConfig) -> None:
    """Follow every channel, serve the pages until SIGTERM or SIGINT."""
    ledger = Ledger(config)
    watcher = asyncio.create_task(ledger.watch())
    runner = web.AppRunner(app(ledger), shutdown_timeout=1.0)
    await runner.setup()
    host, port = split_listen(config.listen)
    await web.TCPSite(runner, host, port).start()
    operations = await start_operations(f"explorer {config.network}", config.operations_listen)
    print(f"explorer listening on http://{host}:{port}/", flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    await stopped.wait()
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    ledger.store.close()
    await runner.cleanup()
    if operations is not None:
        await operations.stop()
    log.info("explorer stopped")
