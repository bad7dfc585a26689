"""``consortium tx explain TXID``: the six steps of a past transaction, from the trace
records the peers kept (who was asked, who endorsed, what was read and written, the
block, the validation code and what it means)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from network.commands.identity import IDENTITY_OPTION, gateway_client
from network.output import OUTPUT_OPTION, emit_json, fail
from network.validation_codes import meaning


@click.group("tx")
def COMMAND() -> None:
    """Look back at transactions."""


@COMMAND.command("explain")
@click.argument("tx_id")
@click.option("--member", required=True, help="Ask this member's peer.")
@IDENTITY_OPTION
@click.option("--network", default=None)
@click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".consortium")
)
@OUTPUT_OPTION
def explain(
    tx_id: str, member: str, identity: str, network: str | None, home: Path, output: str
) -> None:
    """Each step of TX_ID's flow as this member's peer recorded it."""
    records = trace_records(tx_id, member, network, home, identity)
    if output == "json":
        emit_json({"txid": tx_id, "steps": step_rows(records)})
    else:
        show_story(tx_id, records, node_names(home, network))


def trace_records(
    tx_id: str, member: str, network: str | None, home: Path, identity: str = "user1"
) -> list[Any]:
    """The trace records of ``tx_id`` on the member's peer (none: one line, exit 2)."""
    from proto.trace_pb2 import TraceRequest
    from proto.trace_pb2_grpc import TraceServiceStub

    async def fetch() -> list[Any]:
        async with gateway_client(home, network, member, identity) as client:
            answer = await TraceServiceStub(client.channel).GetTrace(TraceRequest(tx_id=tx_id))
            return list(answer.records)

    records = asyncio.run(fetch())
    if not records:
        fail(f"member {member}'s peer has no trace of transaction {tx_id}")
    return records


def step_rows(records: list[Any]) -> list[dict]:
    """The records for scripts: step, node and details, with each code's meaning."""
    from proto.tracing import Step, details_of

    rows = []
    for record in records:
        details = details_of(record)
        step = Step.Name(record.step)
        if step == "VALIDATE":
            details["meaning"] = meaning(details.get("code", ""))
        rows.append({"step": step, "node": record.node, "details": details})
    return rows


def node_names(home: Path, network: str | None) -> dict[str, str]:
    """Address → node name of the local network (``peer-org1-peer0``), from the
    addresses ``up`` recorded; empty when the folder is not found."""
    from network.locate import NetworkNotFound, network_folder

    try:
        pids = network_folder(home, network) / "pids"
    except NetworkNotFound:
        return {}
    return {path.read_text().strip(): path.stem for path in sorted(pids.glob("*.addr"))}


def show_story(tx_id: str, records: list[Any], names: dict[str, str]) -> None:
    """The flow as the explorer's transaction page tells it: numbered steps, who talked
    to whom, and what happened, one fact a line; identifiers whole, never in cells."""
    from network.explorer.flow import build_flow

    flow = build_flow(records, names, None, None)
    click.echo(f"transaction {tx_id}")
    width = len(str(len(flow.messages)))
    for number, message in enumerate(flow.messages, 1):
        who = (
            message.source
            if message.source == message.target
            else f"{message.source} → {message.target}"
        )
        mark = "  ✗" if message.failed else ""
        click.echo(f"{number:>{width}}. {message.step:<8} {who}: {message.label}{mark}")
        for line in message.details:
            if line:
                click.echo(f"{'':>{width}}  {'':<8} {line}")
