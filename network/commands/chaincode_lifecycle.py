"""The Fabric lifecycle one step at a time, with ``peer lifecycle chaincode``'s names, for
people learning it: ``install``, ``queryinstalled``, ``approveformyorg``,
``checkcommitreadiness``, ``commit``, ``querycommitted``. Each acts as the member's admin
(``orgadmin``) on its gateway peer. ``consortium chaincode deploy`` does all of them at
once (and runs the contract); these run nothing, as in Fabric."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click

from network.commands.chaincode import COMMAND as GROUP
from network.commands.identity import gateway_client
from network.commands.lifecycle import HOME_OPTION, NETWORK_OPTION
from network.locate import connection_file
from network.output import OUTPUT_OPTION, emit_json, emit_record, emit_table, fail

MEMBER = click.option("--member", required=True, help="Whose admin and peer act.")
CHANNEL = click.option("--channel", default=None, help="Default: the member's channel.")


def _definition_options(function):
    """The parameters approve, checkcommitreadiness and commit carry (and must agree on)."""
    for option in reversed(
        [
            click.option("--name", required=True),
            click.option("--version", required=True),
            click.option("--sequence", required=True, type=click.IntRange(1)),
            click.option("--policy", default="", help="Signature policy or channel policy."),
            click.option(
                "--collections",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="A Fabric collections_config.json.",
            ),
        ]
    ):
        function = option(function)
    return function


def _definition(name: str, version: str, sequence: int, policy: str, collections: Path | None):
    from ca.errors import CaError
    from network.chaincode_deploy import Definition, application_policy, collections_from_file

    try:
        application_policy(policy)
        package = collections_from_file(collections) if collections else None
    except CaError as exc:
        fail(f"--{'collections' if collections else 'policy'}: {exc}")
    return Definition(name, version, sequence, policy, package)


def _as_admin(
    home: Path, network: str | None, member: str, call: Callable[[Any], Awaitable[Any]]
) -> Any:
    """Run ``call(client)`` as the member's admin; a refusal is one line, exit 1."""
    from network.gateway_client import GatewayClientError

    async def run() -> Any:
        async with gateway_client(home, network, member, "orgadmin") as client:
            return await call(client)

    try:
        return asyncio.run(run())
    except GatewayClientError as exc:
        details = "; ".join(f"{d.msp_id}: {d.message}" for d in exc.details)
        fail(f"{exc}" + (f" ({details})" if details else ""), code=1)


def _channel(home: Path, network: str | None, member: str, channel: str | None) -> str:
    return channel or connection_file(home, network, member)["channel"]


@GROUP.command("install")
@click.argument("package_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@MEMBER
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def install_command(
    package_file: Path, member: str, home: Path, network: str | None, output: str
) -> None:
    """Install a package (``chaincode package``) on the member's peer; its package ID."""
    from network.chaincode_deploy import install

    data = package_file.read_bytes()
    identifier = _as_admin(home, network, member, lambda admin: install(admin, data))
    emit_record({"package_id": identifier, "member": member}, output, "installed")


@GROUP.command("queryinstalled")
@MEMBER
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def queryinstalled_command(member: str, home: Path, network: str | None, output: str) -> None:
    """The packages installed on the member's peer."""
    from network.chaincode_deploy import query_installed

    rows = _as_admin(home, network, member, query_installed)
    if output == "json":
        emit_json({"installed": [{"package_id": p, "label": label} for p, label in rows]})
    else:
        emit_table(["package ID", "label"], rows, title=f"installed on {member}'s peer")


@GROUP.command("approveformyorg")
@_definition_options
@click.option("--package-id", required=True, help="From install or queryinstalled.")
@MEMBER
@CHANNEL
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def approve_command(
    package_id: str, member: str, channel: str | None, home: Path, network: str | None,
    output: str, **fields: Any,
) -> None:  # fmt: skip
    """Approve a definition for the member's organization (a transaction)."""
    from network.chaincode_deploy import approve

    definition = _definition(**fields)
    mspid = connection_file(home, network, member)["mspId"]
    channel = _channel(home, network, member, channel)
    tx_id = _as_admin(
        home, network, member, lambda a: approve(a, channel, definition, package_id, mspid)
    )
    emit_record({"txid": tx_id, "approved_by": mspid}, output, "approved")


@GROUP.command("checkcommitreadiness")
@_definition_options
@MEMBER
@CHANNEL
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def readiness_command(
    member: str, channel: str | None, home: Path, network: str | None, output: str,
    **fields: Any,
) -> None:  # fmt: skip
    """Which organizations approved exactly this definition."""
    from network.chaincode_deploy import commit_readiness

    definition = _definition(**fields)
    channel = _channel(home, network, member, channel)
    approvals = _as_admin(home, network, member, lambda a: commit_readiness(a, channel, definition))
    if output == "json":
        emit_json({"approvals": approvals})
    else:
        emit_table(["organization", "approved"], sorted(approvals.items()), "commit readiness")


@GROUP.command("commit")
@_definition_options
@MEMBER
@CHANNEL
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def commit_command(
    member: str, channel: str | None, home: Path, network: str | None, output: str,
    **fields: Any,
) -> None:  # fmt: skip
    """Commit the definition on the channel (needs enough organizations' approvals)."""
    from network.chaincode_deploy import commit

    definition = _definition(**fields)
    channel = _channel(home, network, member, channel)
    tx_id = _as_admin(home, network, member, lambda a: commit(a, channel, definition))
    emit_record({"txid": tx_id, "channel": channel}, output, "committed")


@GROUP.command("querycommitted")
@click.option("--name", default="", help="One chaincode (with its approvals).")
@MEMBER
@CHANNEL
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def querycommitted_command(
    name: str, member: str, channel: str | None, home: Path, network: str | None, output: str
) -> None:
    """The chaincode definitions committed on the channel."""
    from network.chaincode_deploy import query_committed

    channel = _channel(home, network, member, channel)
    rows = _as_admin(home, network, member, lambda a: query_committed(a, channel, name))
    if output == "json":
        emit_json({"channel": channel, "definitions": rows})
        return
    columns = ["name", "version", "sequence", "endorsement policy", "collections"]
    keys = ["name", "version", "sequence", "endorsement_policy"]
    table = [(*(r[k] for k in keys), ", ".join(r["collections"]) or "-") for r in rows]
    emit_table(columns, table, title=f"committed on {channel}")
