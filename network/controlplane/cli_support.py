"""What the control-plane CLI groups share: the endpoint option, errors, printing.

The account is the SigV4 access key id (``AWS_ACCESS_KEY_ID``; a 12-digit key is the
account itself), so ``AWS_ACCESS_KEY_ID=222222222222 consortium invitation list``
acts as account 222222222222, exactly as boto3 would.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from network.controlplane.client import Client
from network.output import emit_json, emit_record, emit_table

ENDPOINT_OPTION = click.option(
    "--endpoint",
    envvar="CONSORTIUM_ENDPOINT",
    default="http://127.0.0.1:7100",
    show_default=True,
    help="Control-plane URL (env CONSORTIUM_ENDPOINT). Account: AWS_ACCESS_KEY_ID.",
)
NETWORK_OPTION = click.option("--network", "network_id", required=True, help="Network id (n-…).")


def api_command(function: Callable[..., Any]) -> Callable[..., Any]:
    """Give the command a Client from --endpoint (API errors end it in ``network.cli``)."""

    @ENDPOINT_OPTION
    @functools.wraps(function)
    def wrapper(endpoint: str, **kwargs: Any) -> Any:
        return function(Client.from_environment(endpoint), **kwargs)

    return wrapper


def show(record: Mapping[str, Any], output: str, title: str) -> None:
    flat = {key: _cell(value) for key, value in record.items()} if output != "json" else record
    emit_record(flat, output, title)


def show_list(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], output: str, title: str
) -> None:
    if output == "json":
        emit_json(list(rows))
    else:
        emit_table(columns, ([_cell(row.get(c, "")) for c in columns] for row in rows), title)


def _cell(value: Any) -> str:
    if isinstance(value, Mapping | list):
        import json

        return json.dumps(value, separators=(",", ":"))
    return str(value)
