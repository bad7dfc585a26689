"""The explorer's pages as HTML, rendered on the server.

Every page is usable without script and from the keyboard (links and a skip link, no
click-only widgets); every diagram has a text alternative next to it. The script
(``static/explorer.js``) only adds what needs it: live updates and the proof check.
"""

from __future__ import annotations

from html import escape
from typing import Any

from network.explorer.blocks import BlockView, TxView
from network.explorer.config import ExplorerConfig, NodeRef
from network.explorer.flow import Flow
from network.explorer.invoke import Outcome
from network.explorer.sequence import sequence_svg
from network.validation_codes import meaning

NAV = (
    ("/", "Network"),
    ("/blocks", "Blocks"),
    ("/chaincode", "Chaincode"),
    ("/governance", "Governance"),
)


def layout(config: ExplorerConfig, title: str, body: str, page: str = "") -> str:
    links = "".join(f'<li><a href="{href}">{name}</a></li>' for href, name in NAV)
    channels = "".join(
        f'<li><a href="/channels/{escape(c)}/blocks">{escape(c)}</a></li>' for c in config.channels
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)} · {escape(config.network)} explorer</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="stylesheet" href="/static/explorer.css">'
        f'<script defer src="/static/explorer.js"></script></head><body data-page="{page}">'
        '<a class="skip" href="#main">Skip to content</a>'
        f"<header><strong>{escape(config.network)}</strong> explorer"
        f'<nav aria-label="Pages"><ul>{links}</ul></nav>'
        f'<nav aria-label="Channels">Channels: <ul id="channels">{channels}</ul></nav>'
        '<span id="live" role="status" aria-live="polite"></span></header>'
        f'<main id="main"><h1>{escape(title)}</h1>{body}</main></body></html>'
    )


def not_found(config: ExplorerConfig, what: str) -> str:
    return layout(
        config,
        "Not found",
        f'<p class="missing">{escape(what)}</p><p><a href="/blocks">Back to the blocks</a></p>',
        "missing",
    )


def short(text: str) -> str:
    """Hashes stay whole (they are copied): the page wraps them, never cuts them."""
    return f'<code class="hash">{escape(text)}</code>'


def _table(headers: list[str], rows: list[list[str]], attrs: str = "") -> str:
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table {attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# -- Network ---------------------------------------------------------------------------


def network_page(
    config: ExplorerConfig,
    states: dict[str, str],
    heights: dict[str, int],
    on_nodes: dict[str, dict[str, int | None]],
    following: dict[str, str],
    members: list[dict[str, Any]],
) -> str:
    diagram = network_svg(config, states)
    rows = [
        [
            escape(n.name),
            escape(n.kind),
            escape(n.member or "-"),
            escape(n.address),
            f'<span class="state {states.get(n.name, "")}">{states.get(n.name, "?")}</span>',
        ]
        for n in config.nodes
    ]
    channels = [
        [
            f'<a href="/channels/{escape(c)}/blocks">{escape(c)}</a>',
            escape(", ".join(m)),
            f'<span data-height="{escape(c)}">{heights.get(c, 0)}</span>',
            _node_heights(on_nodes.get(c, {})),
            escape(following.get(c, "")),
        ]
        for c, m in config.channels.items()
    ]
    member_rows = [
        [escape(m.get("Name", "")), escape(m.get("Id", "")), escape(m.get("Status", ""))]
        for m in members
    ]
    return layout(
        config,
        "Network",
        (
            f"<figure>{diagram}<figcaption>The nodes and their state; the tables below say the "
            "same in words.</figcaption></figure>"
            "<h2>Nodes</h2>"
            + _table(["node", "kind", "member", "address", "state"], rows)
            + "<h2>Channels</h2>"
            + _table(
                [
                    "channel",
                    "members",
                    "height (explorer)",
                    "height on each node",
                    "explorer reads",
                ],
                channels,
            )
            + "<h2>Members (control plane)</h2>"
            + (
                _table(["member", "id", "status"], member_rows)
                if member_rows
                else "<p>The control plane did not answer.</p>"
            )
        ),
        "network",
    )


def _node_heights(heights: dict[str, int | None]) -> str:
    items = "".join(
        f"<li>{escape(node)}: " + ("no answer" if h is None else str(h)) + "</li>"
        for node, h in heights.items()
    )
    return f'<ul class="heights">{items}</ul>' if items else "-"


def network_svg(config: ExplorerConfig, states: dict[str, str]) -> str:
    """Control plane and orderers on top, one column per member (its CA and peers)."""
    members = list(config.members)
    shared = [n for n in config.nodes if not n.member]
    width = max(len(members), len(shared), 1) * 220 + 20
    parts: list[str] = []
    for n, node in enumerate(shared):
        parts.append(_node_box(node, states, 20 + n * 220, 20))
    for column, member in enumerate(members):
        left = 20 + column * 220
        own = [n for n in config.nodes if n.member == member]
        box_height = 40 + 56 * len(own)
        parts.append(
            f'<g class="member"><rect x="{left - 6}" y="110" width="208" '
            f'height="{box_height}" rx="8"/><text x="{left}" y="130">'
            f"{escape(member)} ({escape(config.members[member]['mspid'])})</text></g>"
        )
        for row, node in enumerate(own):
            parts.append(_node_box(node, states, left, 140 + row * 56))
    height = 160 + 56 * max(
        (sum(1 for n in config.nodes if n.member == m) for m in members), default=0
    )
    summary = "; ".join(f"{n.name} {states.get(n.name, '?')}" for n in config.nodes)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="network" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape("Network diagram: " + summary)}">{"".join(parts)}</svg>'
    )


def _node_box(node: NodeRef, states: dict[str, str], left: int, top: int) -> str:
    state = states.get(node.name, "?")
    return (
        f'<g class="node {escape(state)}"><rect x="{left}" y="{top}" width="196" height="46" '
        f'rx="5"/><text x="{left + 8}" y="{top + 19}">{escape(node.name)}</text>'
        f'<text class="small" x="{left + 8}" y="{top + 37}">{escape(node.address)} · '
        f"{escape(state)}</text></g>"
    )


# -- Blocks ----------------------------------------------------------------------------


def blocks_page(
    config: ExplorerConfig, channel: str, views: list[BlockView], height: int, page_size: int
) -> str:
    rows = [_block_row(view) for view in views]
    older = ""
    if views and views[-1].number > 0:
        older = (
            f'<p><a rel="next" href="/channels/{escape(channel)}/blocks?before='
            f'{views[-1].number}">Older blocks</a></p>'
        )
    others = " ".join(
        f'<a href="/channels/{escape(c)}/blocks">{escape(c)}</a>'
        for c in config.channels
        if c != channel
    )
    return layout(
        config,
        f"Blocks of {channel}",
        (
            f'<p>Height <span data-height="{escape(channel)}">{height}</span>; newest first, '
            f"{page_size} a page; new blocks appear here as they commit.</p>"
            + (f"<p>Other channels: {others}</p>" if others else "")
            + _table(
                ["block", "transactions", "header hash"],
                rows,
                f'id="blocks" data-channel="{escape(channel)}"',
            )
            + older
        ),
        "blocks",
    )


def _block_row(view: BlockView) -> list[str]:
    link = f'<a href="/channels/{escape(view.channel)}/blocks/{view.number}">{view.number}</a>'
    txs = ", ".join(
        f'{escape(tx.function or tx.kind)} <span class="code {escape(tx.code)}">'
        f"{escape(tx.code)}</span>"
        for tx in view.txs
    )
    return [link, txs, short(view.header_hash)]


def block_page(config: ExplorerConfig, view: BlockView) -> str:
    fields = [
        ("number", str(view.number)),
        ("previous hash", short(view.previous_hash)),
        (
            "data hash",
            short(view.data_hash)
            + (" (matches the transactions)" if view.data_hash_matches else " (MISMATCH)"),
        ),
        ("header hash", short(view.header_hash)),
        ("signed by", escape(str(view.signer or "unknown"))),
        ("orderer's signature", short(view.signature)),
    ]
    details = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in fields)
    rows = [
        [
            str(tx.index),
            _tx_link(tx),
            escape(tx.kind),
            escape(str(tx.creator or "")),
            escape(f"{tx.chaincode} {tx.function}".strip()),
            f'<span class="code {escape(tx.code)}">{escape(tx.code)}</span>',
        ]
        for tx in view.txs
    ]
    base = f"/channels/{escape(view.channel)}/blocks"
    near = f'<a href="{base}/{view.number - 1}">previous block</a> ' if view.number else ""
    proof = (
        f'<section id="proof" data-channel="{escape(view.channel)}" '
        f'data-block="{view.number}" data-header-hash="{escape(view.header_hash)}">'
        "<h2>Verify in the browser</h2>"
        "<p>Fetches this block as the orderer stored it in its journal, the journal block's "
        "inclusion proof and the current digest, and hashes them again here with Web Crypto "
        "SHA-256: the data hash from the transactions, the header hash from number, "
        "previous hash and data hash (as Fabric does), the journal entry and block hashes, "
        "then the path to the digest. Each step is listed.</p>"
        '<button type="button" id="verify">Verify this block</button> '
        '<button type="button" id="verify-tampered-block">Verify a tampered block</button> '
        '<button type="button" id="verify-tampered">Verify a tampered proof</button>'
        '<p id="proof-result" role="status" aria-live="polite"></p>'
        '<ol id="proof-steps"></ol></section>'
    )
    return layout(
        config,
        f"Block {view.number} of {view.channel}",
        (
            f'<p>{near}<a href="{base}">all blocks</a></p><dl>{details}</dl>'
            "<h2>Transactions</h2>"
            + _table(["#", "transaction", "type", "creator", "called", "validation code"], rows)
            + proof
        ),
        "block",
    )


def _tx_link(tx: TxView) -> str:
    if not tx.txid:
        return "(none)"
    return f'<a href="/tx/{escape(tx.txid)}">{short(tx.txid)}</a>'


# -- Transaction -----------------------------------------------------------------------


def tx_page(
    config: ExplorerConfig,
    view: BlockView,
    tx: TxView,
    flow: Flow,
    conflicts: list[str],
    policy: str,
) -> str:
    fields = [
        ("transaction", short(tx.txid)),
        ("channel", escape(view.channel)),
        (
            "block and position",
            f'<a href="/channels/{escape(view.channel)}/blocks/'
            f'{view.number}">block {view.number}</a>, position {tx.index}',
        ),
        ("creator", escape(str(tx.creator or ""))),
        ("called", escape(f"{tx.chaincode}: {tx.function}({', '.join(tx.args)})")),
        ("endorsement policy", escape(policy or "unknown")),
        ("endorsed by", escape(", ".join(str(e) for e in tx.endorsers) or "nobody")),
        (
            "validation code",
            f'<span id="code" class="code {escape(tx.code)}">{escape(tx.code)}'
            f"</span>: {escape(meaning(tx.code))}",
        ),
    ]
    details = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in fields)
    conflict = (
        "<h2>Why it conflicted</h2><ul>"
        + "".join(f"<li>{escape(c)}</li>" for c in conflicts)
        + "</ul>"
        if conflicts
        else ""
    )
    rwset = _table(
        ["key", "read at version (block, tx)", "written value"],
        [
            [escape(k), escape(_version(tx.reads.get(k, "-"))), escape(tx.writes.get(k, "-"))]
            for k in sorted({*tx.reads, *tx.writes})
        ],
    )
    missing = (
        f'<p class="warning">No answer from: {escape(", ".join(flow.unreachable))}</p>'
        if flow.unreachable
        else ""
    )
    return layout(
        config,
        "Transaction",
        (
            f"<dl>{details}</dl>{conflict}<h2>The flow</h2>{missing}"
            f'<figure id="flow">{sequence_svg(flow, f"The flow of transaction {tx.txid}")}'
            "<figcaption>The sequence across the nodes; every step is listed below in "
            "words.</figcaption></figure>" + _steps(flow) + "<h2>Read/write set</h2>" + rwset
        ),
        "tx",
    )


def _version(version: Any) -> str:
    if version is None:
        return "(absent)"
    return str(tuple(version)) if isinstance(version, tuple | list) else str(version)


def _steps(flow: Flow) -> str:
    items = []
    for message in flow.messages:
        arrow = (
            message.source
            if message.source == message.target
            else f"{message.source} → {message.target}"
        )
        lines = "".join(f"<li>{escape(line)}</li>" for line in message.details if line)
        css = ' class="failed"' if message.failed else ""
        items.append(
            f"<li{css}><strong>{escape(message.step)}</strong> {escape(arrow)}: "
            f"{escape(message.label)}" + (f"<ul>{lines}</ul>" if lines else "") + "</li>"
        )
    return f'<ol id="steps">{"".join(items)}</ol>'


# -- Chaincode and governance ----------------------------------------------------------


def chaincode_page(
    config: ExplorerConfig,
    definitions: dict[str, list[dict[str, Any]]],
    identities: dict[str, list[str]],
    outcome: Outcome | None = None,
    refusal: str = "",
) -> str:
    """Each channel's committed definitions, and a form to evaluate or submit one of
    their functions as a member's identity (the answer shows above the forms)."""
    sections = [_outcome(outcome, refusal)]
    for channel, rows in definitions.items():
        table = _table(
            ["name", "version", "sequence", "endorsement policy", "collections"],
            [
                [
                    escape(d["name"]),
                    escape(d["version"]),
                    str(d["sequence"]),
                    escape(d["endorsement_policy"]),
                    escape(", ".join(d["collections"]) or "-"),
                ]
                for d in rows
            ],
        )
        names = [d["name"] for d in rows]
        sections.append(f"<h2>{escape(channel)}</h2>{table}")
        sections.append(_invoke_form(channel, names, identities, outcome))
    return layout(config, "Chaincode", "".join(sections), "chaincode")


def _options(name: str, channel: str, values: list[str], chosen: str) -> str:
    options = "".join(
        f"<option{' selected' if v == chosen else ''}>{escape(v)}</option>" for v in values
    )
    field = escape(f"{name}-{channel}")
    return (
        f'<label for="{field}">{name}</label><select id="{field}" name="{name}">{options}</select>'
    )


def _invoke_form(
    channel: str, names: list[str], identities: dict[str, list[str]], outcome: Outcome | None
) -> str:
    last = outcome.invocation if outcome and outcome.invocation.channel == channel else None
    every = sorted({i for found in identities.values() for i in found})
    key = escape(channel)
    return (
        f'<form class="invoke" method="post" action="/chaincode" aria-label="Call a function on '
        f'{key}"><input type="hidden" name="channel" value="{key}">'
        + _options("chaincode", channel, names, last.chaincode if last else "")
        + _options("member", channel, list(identities), last.member if last else "")
        + _options("identity", channel, every, last.identity if last else "user1")
        + f'<label for="function-{key}">function</label><input id="function-{key}" '
        f'name="function" required value="{escape(last.function) if last else ""}">'
        f'<label for="args-{key}">arguments, one a line</label><textarea id="args-{key}" '
        f'name="args" rows="4">{escape(chr(10).join(last.args)) if last else ""}</textarea>'
        '<div><button name="action" value="evaluate">Evaluate</button> '
        '<button name="action" value="submit">Submit</button></div></form>'
    )


def _outcome(outcome: Outcome | None, refusal: str) -> str:
    if refusal:
        return f'<p id="outcome" class="failed" role="alert">{escape(refusal)}</p>'
    if outcome is None:
        return ""
    call = outcome.invocation
    what = f"{call.action} {call.chaincode}.{call.function} as {call.identity} of {call.member}"
    link = f' <a href="/tx/{escape(outcome.txid)}">the transaction</a>' if outcome.txid else ""
    if outcome.error:
        return (
            f'<div id="outcome" role="alert"><p class="failed">{escape(what)}: '
            f"{escape(outcome.error)}{link}</p></div>"
        )
    return (
        f'<div id="outcome" role="status"><p>{escape(what)}:{link}</p>'
        f"<pre>{escape(outcome.result)}</pre></div>"
    )


def _votes(proposal: dict[str, Any]) -> str:
    """Each vote with the journal proof the explorer checked (block, sibling hashes,
    digest), or why the proof did not hold."""
    proofs = proposal.get("proofs", {})
    rows = []
    for vote in proposal.get("votes", []):
        proof = proofs.get(vote.get("MemberId", ""))
        if proof is None:
            where = escape(proofs.get("error", "no journal entry"))
        else:
            siblings = "".join(f"<li>{short(h)}</li>" for h in proof["proof"]) or "<li>none</li>"
            where = (
                f'<div class="vote-proof" data-block-hash="{escape(proof["blockHash"])}" '
                f'data-proof="{escape(" ".join(proof["proof"]))}" '
                f'data-digest="{escape(proof["digest"])}">'
                f"journal block {proof['block']} (hash {short(proof['blockHash'])}), verified "
                f"by the explorer against the digest {short(proof['digest'])} at block "
                f"{proof['tip']}; proof:<ol>{siblings}</ol>"
                '<p class="vote-check" role="status"></p></div>'
            )
        rows.append([escape(vote.get("MemberName", "")), escape(vote.get("Vote", "")), where])
    return _table(["member", "vote", "journal proof"], rows)


def governance_page(config: ExplorerConfig, proposals: list[dict[str, Any]]) -> str:
    items = []
    for proposal in proposals:
        votes = _votes(proposal)
        actions = escape(", ".join(proposal.get("actions", [])) or "-")
        items.append(
            f'<section class="proposal"><h2>{escape(proposal["ProposalId"])}</h2>'
            f"<p>Proposed by {escape(proposal.get('ProposedByMemberName', ''))}; status "
            f"<strong>{escape(proposal.get('Status', ''))}</strong>; "
            f"{proposal.get('YesVoteCount', 0)} yes, {proposal.get('NoVoteCount', 0)} no, "
            f"{proposal.get('OutstandingVoteCount', 0)} outstanding. Actions: {actions}.</p>"
            f"{votes}</section>"
        )
    threshold = escape(str(proposals[0].get("threshold", ""))) if proposals else ""
    head = f"<p>Voting policy: {threshold}</p>" if threshold else ""
    if any(p.get("votes") for p in proposals):
        head += (
            "<p>Each vote is a journal entry of the control plane's ledger. The explorer "
            "checked every proof below; the button checks them again in this page (Web "
            "Crypto SHA-256): each vote's journal block hash folded with its proof must "
            'give the digest.</p><button type="button" id="verify-votes">Check the vote '
            "proofs in this page</button>"
        )
    return layout(
        config,
        "Governance",
        head + ("".join(items) or "<p>No proposals (or the control plane did not answer).</p>"),
        "governance",
    )
