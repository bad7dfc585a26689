"""Evaluating or submitting a contract function from the Chaincode page, as one of a
member's identities (its connection file's, and any enrolled later with ``consortium
ca adduser``), through its gateway peer — what
``consortium query`` / ``invoke`` do, from a form that works without script.

Every field is checked at the edge and a bad one is named; the form is refused when it
comes from another site (``Origin``), so a page elsewhere cannot make a local explorer
submit transactions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from network.errors import NetworkError
from network.explorer.config import ExplorerConfig
from network.gateway_client import CommitError, GatewayClientError

ACTIONS = ("evaluate", "submit")


class InvocationRefused(NetworkError):
    """A field of the Chaincode page's form is missing or names nothing known."""


@dataclass(frozen=True)
class Invocation:
    channel: str
    chaincode: str
    member: str
    identity: str
    function: str
    args: tuple[str, ...]
    action: str


@dataclass(frozen=True)
class Outcome:
    """What the page shows: the result (pretty JSON when it parses) or the refusal, and
    the transaction to link to after a submit."""

    invocation: Invocation
    result: str = ""
    error: str = ""
    txid: str = ""


def read_form(config: ExplorerConfig, form: Mapping[str, str]) -> Invocation:
    """The invocation a form asks for; ``InvocationRefused`` names the bad field."""

    def field(name: str) -> str:
        value = str(form.get(name, "")).strip()
        if not value:
            raise InvocationRefused(f"{name} is required")
        return value

    channel, member, action = field("channel"), field("member"), field("action")
    if channel not in config.channels:
        raise InvocationRefused(f"channel: no channel {channel!r}")
    if member not in config.members:
        raise InvocationRefused(
            f"member: no member {member!r} (known: {', '.join(config.members)})"
        )
    identity = field("identity")
    known = config.identities(member)
    if identity not in known:
        raise InvocationRefused(f"identity: {member} has no {identity!r} ({', '.join(known)})")
    if action not in ACTIONS:
        raise InvocationRefused(f"action: {action!r} must be evaluate or submit")
    args = tuple(line.rstrip("\r") for line in str(form.get("args", "")).split("\n") if line)
    return Invocation(
        channel, field("chaincode"), member, identity, field("function"), args, action
    )


def pretty(result: bytes) -> str:
    text = result.decode(errors="replace")
    try:
        return json.dumps(json.loads(text), indent=2, sort_keys=True)
    except ValueError:
        return text


async def run(config: ExplorerConfig, invocation: Invocation) -> Outcome:
    """Evaluate, or submit and wait for the commit; the network's refusal is an outcome."""
    try:
        client = config.client(invocation.member, invocation.identity)
    except GatewayClientError as exc:  # its MSP folder went bad since the form was read
        return Outcome(invocation, error=f"identity {exc}")
    call = (invocation.channel, invocation.chaincode, invocation.function, *invocation.args)
    try:
        if invocation.action == "evaluate":
            return Outcome(invocation, result=pretty(await client.evaluate(*call)))
        txid, result = await client.submit_async(*call)
        code, block = await client.commit_status(invocation.channel, txid)
        if code:
            return Outcome(invocation, error=str(CommitError(txid, code, block)), txid=txid)
        return Outcome(invocation, result=pretty(result), txid=txid)
    except GatewayClientError as exc:
        reasons = "; ".join(f"{d.msp_id}: {d.message}" for d in exc.details)
        return Outcome(invocation, error=str(exc) + (f" ({reasons})" if reasons else ""))
    finally:
        await client.close()
