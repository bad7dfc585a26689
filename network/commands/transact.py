"""``consortium invoke | query CHAINCODE FUNCTION [ARGS…] --member M``: transactions from
the command line, through the member's gateway, as the member's user1 or any identity
enrolled with its CA (``--identity``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import click

from network.commands.identity import IDENTITY_OPTION, gateway_client
from network.locate import connection_file
from network.output import OUTPUT_OPTION, emit_json, emit_record, fail


def _options(function):
    for option in reversed(
        [
            click.argument("chaincode"),
            click.argument("function_name", metavar="FUNCTION"),
            click.argument("args", nargs=-1),
            click.option("--member", required=True, help="Whose gateway to use."),
            IDENTITY_OPTION,
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


def _value(data: bytes, parse: bool) -> Any:
    """A result or event payload: parsed when it is JSON and JSON was asked for (so
    scripts get a value, not a string holding JSON), else the text."""
    text = data.decode("utf-8", "replace")
    if parse:
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text


async def _run(submit: bool, **options: Any) -> dict[str, Any]:
    from network.gateway_client import CommitError, GatewayClientError
    from proto.envelope import Code

    connection = connection_file(options["home"], options["network"], options["member"])
    channel = (
        options["channel"]
        or connection.get("chaincodes", {}).get(options["chaincode"])
        or connection["channel"]
    )
    as_json = options["output"] == "json"
    client = gateway_client(
        options["home"], options["network"], options["member"], options["identity"]
    )
    async with client:
        args = (options["function_name"], *options["args"])
        try:
            if not submit:
                result = await client.evaluate(channel, options["chaincode"], *args)
                return {"result": _value(result, as_json)}
            done = await client.submit(channel, options["chaincode"], *args)
        except CommitError as exc:
            _failed(
                str(exc),
                as_json,
                txid=exc.tx_id,
                block=exc.block,
                status=Code.Name(exc.status),
            )
        except GatewayClientError as exc:
            details = [{"mspid": d.msp_id, "message": d.message} for d in exc.details]
            text = "; ".join(f"{d['mspid']}: {d['message']}" for d in details)
            fields = {"txid": exc.tx_id} if exc.tx_id else {}
            _failed(f"{exc}" + (f" ({text})" if text else ""), as_json, **fields, details=details)
    answer: dict[str, Any] = {
        "txid": done.tx_id,
        "block": done.block,
        "status": "VALID",
        "result": _value(done.result, as_json),
    }
    if done.event is not None:
        answer["event"] = {
            "name": done.event.event_name,
            "payload": _value(done.event.payload, as_json),
        }
    return answer


def _failed(message: str, as_json: bool, **fields: Any) -> None:
    """A transaction that failed: one line on stderr, or with ``-o json`` a JSON answer
    (txid, block and status when it was ordered) on stdout; exit 1 either way."""
    if as_json:
        emit_json({"error": message, **fields})
        raise SystemExit(1)
    fail(message, code=1)


def _show(answer: dict[str, Any], output: str) -> None:
    """JSON as it is; for people, the small fields as a record and what the contract
    returned (and the event's payload) printed whole below it, pretty JSON when it
    parses: a value a user asked to see is never cut at the terminal's edge."""
    if output == "json":
        emit_json(answer)
        return
    result = answer.pop("result", None)
    event = answer.pop("event", None)
    if event is not None:
        answer["event"] = event["name"]
    if answer:
        emit_record(answer, output)
        click.echo("result:")
    click.echo(_whole(result))
    if event is not None:
        click.echo(f"event {event['name']} payload:")
        click.echo(_whole(event["payload"]))


def _whole(value: Any) -> str:
    """The value itself: pretty JSON when it is (or parses as) JSON, else the text."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, ensure_ascii=False)


@click.command("invoke")
@_options
@click.option("--explain", is_flag=True, help="Then show every step of its flow.")
def invoke(output: str, explain: bool, **options: Any) -> None:
    """Submit a transaction and wait until it is committed (VALID or an error)."""
    answer = asyncio.run(_run(True, output=output, **options))
    if not explain:
        _show(answer, output)
        return
    from network.commands.tx import node_names, show_story, step_rows, trace_records

    records = trace_records(
        answer["txid"], options["member"], options["network"], options["home"], options["identity"]
    )
    if output == "json":
        emit_json({**answer, "steps": step_rows(records)})
    else:
        _show(answer, output)
        show_story(answer["txid"], records, node_names(options["home"], options["network"]))


@click.command("query")
@_options
def query(output: str, **options: Any) -> None:
    """Evaluate a transaction on the member's peer; nothing is ordered."""
    _show(asyncio.run(_run(False, output=output, **options)), output)


COMMANDS = [invoke, query]
