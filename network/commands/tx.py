"""``consortium tx explain TXID``: the six steps of a past transaction, from the trace
records the peers kept (who was asked, who endorsed, what was read and written, the
block, the validation code and what it means)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from network.commands.identity import IDENTITY_OPTION, gateway_client
from network.output import OUTPUT_OPTION, emit_json, emit_table, fail
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
    show_steps(tx_id, trace_steps(tx_id, member, network, home, identity), output)


def trace_steps(
    tx_id: str, member: str, network: str | None, home: Path, identity: str = "user1"
) -> list[dict]:
    """The trace records of ``tx_id`` on the member's peer, with each code's meaning."""
    from proto.trace_pb2 import TraceRequest
    from proto.trace_pb2_grpc import TraceServiceStub
    from proto.tracing import Step, details_of

    async def fetch() -> list[Any]:
        async with gateway_client(home, network, member, identity) as client:
            answer = await TraceServiceStub(client.channel).GetTrace(TraceRequest(tx_id=tx_id))
            return list(answer.records)

    records = asyncio.run(fetch())
    if not records:
        fail(f"member {member}'s peer has no trace of transaction {tx_id}")
    rows = []
    for record in records:
        details = details_of(record)
        step = Step.Name(record.step)
        if step == "VALIDATE":
            code = details.get("code", "")
            details["meaning"] = meaning(code)
        rows.append({"step": step, "node": record.node, "details": details})
    return rows


def show_steps(tx_id: str, rows: list[dict], output: str) -> None:
    if output == "json":
        emit_json({"txid": tx_id, "steps": rows})
    else:
        emit_table(
            ["step", "node", "details"],
            [(r["step"], r["node"], json.dumps(r["details"], sort_keys=True)) for r in rows],
            title=f"transaction {tx_id}",
        )
