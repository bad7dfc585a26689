"""``consortium invoke | query CHAINCODE FUNCTION [ARGS…] --member M``: transactions from
the command line, through the member's gateway, as the member's user."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from network.output import OUTPUT_OPTION, emit_json, emit_record


def _options(function):
    for option in reversed(
        [
            click.argument("chaincode"),
            click.argument("function_name", metavar="FUNCTION"),
            click.argument("args", nargs=-1),
            click.option("--member", required=True, help="Whose gateway and user to use."),
            click.option(
                "--channel",
                default=None,
                help="Default: the chaincode's channel (else the member's first).",
            ),
            click.option("--network", default=None, help="Default: the only network."),
            click.option(
                "--home",
                type=click.Path(file_okay=False, path_type=Path),
                default=Path(".consortium"),
                show_default=True,
            ),
            OUTPUT_OPTION,
        ]
    ):
        function = option(function)
    return function


async def _run(submit: bool, **options: Any) -> dict[str, Any]:
    from network.gateway_client import GatewayClient
    from network.locate import connection_file

    connection = connection_file(options["home"], options["network"], options["member"])
    channel = (
        options["channel"]
        or connection.get("chaincodes", {}).get(options["chaincode"])
        or connection["channel"]
    )
    async with GatewayClient.from_connection(connection, "user1") as client:
        args = (options["function_name"], *options["args"])
        if not submit:
            result = await client.evaluate(channel, options["chaincode"], *args)
            return {"result": result.decode("utf-8", "replace")}
        done = await client.submit(channel, options["chaincode"], *args)
    return {
        "txid": done.tx_id,
        "block": done.block,
        "status": "VALID",
        "result": done.result.decode("utf-8", "replace"),
    }


def _show(answer: dict[str, Any], output: str) -> None:
    if output == "json":
        emit_json(answer)
    else:
        emit_record(answer, output)


@click.command("invoke")
@_options
@click.option("--explain", is_flag=True, help="Then show every step of its flow.")
def invoke(output: str, explain: bool, **options: Any) -> None:
    """Submit a transaction and wait until it is committed (VALID or an error)."""
    answer = asyncio.run(_run(True, **options))
    if not explain:
        _show(answer, output)
        return
    from network.commands.tx import show_steps, trace_steps

    steps = trace_steps(answer["txid"], options["member"], options["network"], options["home"])
    if output == "json":
        emit_json({**answer, "steps": steps})
    else:
        _show(answer, output)
        show_steps(answer["txid"], steps, output)


@click.command("query")
@_options
def query(output: str, **options: Any) -> None:
    """Evaluate a transaction on the member's peer; nothing is ordered."""
    _show(asyncio.run(_run(False, **options)), output)


COMMANDS = [invoke, query]
