"""What the control-plane CLI groups share: the endpoint option, errors, printing.

The account is the SigV4 access key id (``AWS_ACCESS_KEY_ID``; a 12-digit key is the
account itself), so ``AWS_ACCESS_KEY_ID=222222222222 consortium invitation list``
acts as account 222222222222, exactly as boto3 would.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click

from network.controlplane.client import Client
from network.controlplane.keyfile import secret_for
from network.localnet import LocalNetwork, find_local, is_id, pick_by_name
from network.output import emit_json, emit_record, emit_table, fail

ENDPOINT_OPTION = click.option(
    "--endpoint",
    envvar="CONSORTIUM_ENDPOINT",
    default=None,
    help="Control-plane URL (env CONSORTIUM_ENDPOINT; default: the local network's under "
    ".consortium/, else http://127.0.0.1:7100). Account: AWS_ACCESS_KEY_ID.",
)
NETWORK_OPTION = click.option(
    "--network",
    "network_id",
    default=None,
    help="Network id (n-…) or name (default: the local network's).",
)
# Options and arguments naming members, resolved from names to ids before the call.
MEMBER_KEYS = ("member_id", "remove")


def api_command(function: Callable[..., Any]) -> Callable[..., Any]:
    """Give the command a Client from --endpoint (API errors end it in ``network.cli``).

    With a network run by ``consortium up`` under ``.consortium/``, the endpoint and
    network default to it, names stand for ids, and — unless ``AWS_ACCESS_KEY_ID`` says
    otherwise — the call is made as the account of the member it names (else the
    network's first member)."""

    @ENDPOINT_OPTION
    @functools.wraps(function)
    def wrapper(endpoint: str | None, **kwargs: Any) -> Any:
        local = find_local()
        client = Client.from_environment(endpoint or (local.endpoint if local else None))
        client = _as_member(client, local, kwargs.get("member_id"))
        _resolve(client, local, kwargs)
        return function(client, **kwargs)

    return wrapper


def _as_member(client: Client, local: LocalNetwork | None, member: str | None) -> Client:
    """On the local network, act as the named member's account unless
    ``AWS_ACCESS_KEY_ID`` chooses one (the spec knows each member's account), signing
    with that account's secret from the network's credentials file unless
    ``AWS_SECRET_ACCESS_KEY`` gives one (``up`` runs the control plane in strict mode).
    An account the file does not know yet — one just invited — gets a secret there, as
    an AWS account has its own keys: whoever can run the CLI on the network's folder
    could write that file anyway."""
    if local is None:
        return client
    if "AWS_ACCESS_KEY_ID" not in os.environ and local.accounts:
        account = local.accounts.get(member or "", next(iter(local.accounts.values())))
        client = dataclasses.replace(client, access_key_id=account)
    credentials = local.credentials
    if "AWS_SECRET_ACCESS_KEY" not in os.environ and credentials and credentials.exists():
        secret = secret_for(credentials, client.access_key_id)
        client = dataclasses.replace(client, secret=secret)
    return client


def _resolve(client: Client, local: LocalNetwork | None, kwargs: dict[str, Any]) -> None:
    """Fill in the local network's id and turn member and network names into ids."""
    if "network_id" not in kwargs:
        return
    network = kwargs["network_id"]
    if network is None:
        if local is None or not local.network_id:
            fail("--network is required (no network started by `consortium up` here)")
        network = local.network_id
    elif not is_id(network):
        rows = client.pages("/networks", "Networks")
        network = pick_by_name(rows, network, "Id", "network")
    kwargs["network_id"] = network
    members: list[dict[str, Any]] | None = None
    for key in MEMBER_KEYS:
        value = kwargs.get(key)
        names = [value] if isinstance(value, str) else list(value or ())
        if not any(not is_id(v) for v in names):
            continue
        if members is None:
            members = list(client.pages(f"/networks/{network}/members", "Members"))
        ids = [v if is_id(v) else pick_by_name(members, v, "Id", "member") for v in names]
        kwargs[key] = ids[0] if isinstance(value, str) else tuple(ids)


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
