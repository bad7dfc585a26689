"""A transaction's flow as a sequence of messages between nodes, from the trace records
every member's peers kept (``proto/trace.proto``) and the block that holds it.

client → gateway peer (PROPOSE, PLAN) → each endorsing peer and back (ENDORSE) →
orderer (SUBMIT) → each committing peer (ORDER, VALIDATE, COMMIT). Each message carries
what happened at that step, in words; the sequence diagram and its text alternative are
drawn from the same list, so they cannot disagree.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

import grpc

from network.explorer.blocks import BlockView, TxView
from network.explorer.config import ExplorerConfig
from network.gateway_client import GatewayClient
from network.validation_codes import meaning
from proto.trace_pb2 import Step, TraceRecord, TraceRequest
from proto.trace_pb2_grpc import TraceServiceStub
from proto.tracing import details_of

TIMEOUT = 3.0
CLIENT, ORDERER = "client", "orderer"
_PRINCIPAL = re.compile(r"'([A-Za-z0-9.-]+)\.(?:peer|member|admin|client|orderer)'")


@dataclass(frozen=True)
class Message:
    """One arrow (or, when ``source == target``, a note on one node's lifeline)."""

    step: str
    source: str
    target: str
    label: str
    details: tuple[str, ...] = ()
    failed: bool = False


@dataclass
class Flow:
    participants: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)  # peers that did not answer

    def add(self, message: Message) -> None:
        for name in (message.source, message.target):
            if name not in self.participants:
                self.participants.append(name)
        self.messages.append(message)


async def gather_traces(config: ExplorerConfig, txid: str) -> tuple[list[TraceRecord], list[str]]:
    """Every trace record of ``txid`` on every member's peers, and the peers that did not
    answer (one down peer hides nothing the others know)."""
    asked = [
        (member, gateway) for member in config.members for gateway in _gateways(config, member)
    ]
    answers = await asyncio.gather(*(_ask(config, m, g, txid) for m, g in asked))
    records = [record for found in answers if found is not None for record in found]
    missing = [
        gateway["endpoint"]
        for (_, gateway), found in zip(asked, answers, strict=True)
        if found is None
    ]
    return records, missing


def _gateways(config: ExplorerConfig, member: str) -> list[dict[str, Any]]:
    try:
        connection = config.connection(member)
    except (OSError, ValueError):
        return []
    return list(connection.get("gateways") or [connection["gateway"]])


async def _ask(
    config: ExplorerConfig, member: str, gateway: dict[str, Any], txid: str
) -> list[TraceRecord] | None:
    connection = {**config.connection(member), "gateway": gateway}
    client = GatewayClient.from_connection(connection, "user1")
    try:
        stub = TraceServiceStub(client.channel)
        answer = await stub.GetTrace(TraceRequest(tx_id=txid), timeout=TIMEOUT)
        return list(answer.records)
    except (grpc.aio.AioRpcError, TimeoutError):
        return None
    finally:
        await client.close()


def node_names(config: ExplorerConfig) -> dict[str, str]:
    """Address → node name (``peer-org1-peer0``, ``orderer-orderer0``)."""
    return {node.address: node.name for node in config.nodes}


def build_flow(
    records: list[TraceRecord],
    names: dict[str, str],
    tx: TxView | None,
    block: BlockView | None,
    policy: str = "",
) -> Flow:
    """The messages of the flow, in the order the flow runs: the gateway's steps (propose,
    plan, endorse, submit), then each committing peer's (order, validate, commit)."""
    flow = Flow(participants=[CLIENT])
    context = _Context(names, _gateway_of(records, names), tx, block, policy)
    for record in sorted(records, key=lambda r: _order(r, names)):
        for message in _messages(record, context):
            flow.add(message)
    return flow


def _node(record: TraceRecord, names: dict[str, str]) -> str:
    address = record.node.partition("@")[2]
    return names.get(address, record.node)


def _gateway_of(records: list[TraceRecord], names: dict[str, str]) -> str:
    for record in records:
        if record.step == Step.PROPOSE:
            return _node(record, names)
    return "gateway"


def _order(record: TraceRecord, names: dict[str, str]) -> tuple[int, str, int, int]:
    """Gateway steps by step (each peer's endorsement before the gateway's summary), then
    each committing peer's order → validate → commit together."""
    summary = int("endorsers" in details_of(record))
    if record.step <= Step.SUBMIT:
        return (0, "", record.step * 2 + summary, record.unix_nanos)
    return (1, _node(record, names), record.step, record.unix_nanos)


@dataclass(frozen=True)
class _Context:
    """What every record is read against: node names, the gateway, the transaction's
    block entry (None when only the trace is at hand) and the endorsement policy."""

    names: dict[str, str]
    gateway: str
    tx: TxView | None
    block: BlockView | None
    policy: str


def _messages(record: TraceRecord, context: _Context) -> list[Message]:
    """A record as arrows: a remote endorsement is a request and its signed answer."""
    if record.step == Step.ENDORSE and "endorsers" not in details_of(record):
        node = _node(record, context.names)
        return _endorsement(details_of(record), node, context.gateway)
    message = _message(record, context)
    return [] if message is None else [message]


def _message(record: TraceRecord, context: _Context) -> Message | None:
    """The gateway's steps and each committing peer's, one message each."""
    tell = _TELLERS.get(record.step)
    if tell is None:
        return None
    return tell(details_of(record), _node(record, context.names), context)


def _propose(details: dict[str, Any], node: str, context: _Context) -> Message:
    tx = context.tx
    if tx is None or not tx.function:  # the trace alone: the block is not at hand
        return Message("PROPOSE", CLIENT, node, "propose")
    call = f"{tx.function}({', '.join(tx.args)})"
    return Message("PROPOSE", CLIENT, node, f"propose {call}", (f"signed by {tx.creator}",))


def _plan(details: dict[str, Any], node: str, context: _Context) -> Message:
    orgs = ", ".join(details.get("organizations", [])) or "none"
    lines = [f"endorsing organizations chosen: {orgs}"]
    if context.policy:
        lines.insert(0, f"endorsement policy: {context.policy}")
    return Message("PLAN", node, node, "plan endorsers", tuple(lines))


def _submit(details: dict[str, Any], node: str, context: _Context) -> Message:
    orderer = context.names.get(details.get("orderer", ""), ORDERER)
    status = details.get("status", "")
    return Message("SUBMIT", node, orderer, f"broadcast: {status}", failed=status != "SUCCESS")


def _deliver(details: dict[str, Any], node: str, context: _Context) -> Message:
    position = f"block {details.get('block')}, position {details.get('index')}"
    block = context.block
    signer = (f"signed by {block.signer}",) if block and block.signer else ()
    source = _orderer_participant(context.names)
    return Message("ORDER", source, node, f"deliver {position}", signer)


def _validate(details: dict[str, Any], node: str, context: _Context) -> Message:
    code = str(details.get("code", ""))
    lines = [meaning(code)] + ([details["reason"]] if details.get("reason") else [])
    return Message("VALIDATE", node, node, f"validate: {code}", tuple(lines), code != "VALID")


def _commit(details: dict[str, Any], node: str, context: _Context) -> Message:
    applied = "writes applied" if details.get("applied") else "writes not applied"
    height = (f"height {details.get('height')}",)
    return Message("COMMIT", node, node, f"commit: {applied}", height)


def _summary(details: dict[str, Any], node: str, context: _Context) -> Message:
    return _endorsements(details, node, context.tx, context.policy)


_TELLERS = {
    Step.PROPOSE: _propose,
    Step.PLAN: _plan,
    Step.ENDORSE: _summary,  # the gateway's; each peer's is ``_endorsement``
    Step.SUBMIT: _submit,
    Step.ORDER: _deliver,
    Step.VALIDATE: _validate,
    Step.COMMIT: _commit,
}


def _orderer_participant(names: dict[str, str]) -> str:
    return next((n for n in names.values() if n.startswith("orderer-")), ORDERER)


def _endorsement(details: dict[str, Any], node: str, gateway: str) -> list[Message]:
    """One peer's simulation: the read set with versions, the write set, its answer (a
    note when the gateway endorses itself, else a request and the signed response)."""
    reads = [
        f"read {key} at version {tuple(version) if version else '(absent)'}"
        for key, version in sorted(details.get("reads", {}).items())
    ]
    writes = [f"write {key}" for key in sorted(details.get("writes", {}))]
    endorsed = bool(details.get("endorsed"))
    answer = "endorsed" if endorsed else f"refused: {details.get('message', '')}"
    call = f"{details.get('chaincode', '')}.{details.get('function', '')}"
    lines = (f"simulated {call}", *reads, *writes, f"status {details.get('status')}: {answer}")
    if node == gateway:
        return [Message("ENDORSE", node, node, f"simulate and sign: {answer}", lines, not endorsed)]
    return [
        Message("ENDORSE", gateway, node, f"endorse {call}"),
        Message("ENDORSE", node, gateway, f"signed response: {answer}", lines, not endorsed),
    ]


def _endorsements(details: dict[str, Any], node: str, tx: TxView | None, policy: str) -> Message:
    """What the gateway collected, checked against the policy's organizations."""
    signed = {identity.mspid for identity in (tx.endorsers if tx else [])} or set(
        details.get("endorsers", [])
    )
    lines = [f"endorsement from {identity}" for identity in (tx.endorsers if tx else [])] or [
        f"endorsement from {mspid}" for mspid in details.get("endorsers", [])
    ]
    if policy:
        lines += [f"policy {policy}", _verdict(policy, signed, tx)]
    return Message("ENDORSE", node, node, "endorsements collected", tuple(lines))


def _verdict(policy: str, signed: set[str], tx: TxView | None) -> str:
    """Which signatures satisfied the policy, or which were missing. The validation code
    decides (an ``OutOf(2, A, B, C)`` signed by A and B is satisfied without C); with
    the trace alone, only who signed and who did not is said."""
    named = set(_PRINCIPAL.findall(policy))
    absent = ", ".join(sorted(named - signed))
    present = ", ".join(sorted(named & signed)) or "none of its organizations"
    if tx is not None and tx.code == "ENDORSEMENT_POLICY_FAILURE":
        return f"not satisfied: signatures from {present}; missing: {absent or 'see the reason'}"
    if tx is not None:
        return f"signatures from {present} satisfy it" + (
            f" ({absent}: not needed)" if absent else ""
        )
    return f"signed by {present}" + (f"; no endorsement from {absent}" if absent else "")


def conflict_lines(reads: dict[str, Any], writers: dict[str, tuple[int, TxView]]) -> list[str]:
    """For an MVCC conflict: which earlier transaction wrote each key that was read."""
    lines = []
    for key, (block, writer) in sorted(writers.items()):
        seen = reads.get(key)
        lines.append(
            f"{key} was read at version {tuple(seen) if seen else '(absent)'}; "
            f"transaction {writer.txid} (block {block}) wrote it before this one committed"
        )
    return lines
