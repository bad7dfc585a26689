"""``consortium node run <kind>``: run one node of a network in the foreground.

``node`` is a group and ``run`` a group inside it, so each kind of node (control plane,
orderer, peer, CA) is one subcommand added to ``RUN`` from its own module.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import click

from network.controlplane.cli_support import NETWORK_OPTION, api_command, show, show_list
from network.controlplane.client import Client
from network.nodeopts import LOG_LEVEL_OPTION, OPERATIONS_OPTION, check_listen, setup_logging
from network.output import OUTPUT_OPTION, emit_json, fail


@click.group("node")
def COMMAND() -> None:
    """Run a network's processes; create, list, show and delete peer nodes (AMB)."""


@COMMAND.group("run")
def RUN() -> None:
    """Run one node in the foreground until SIGTERM."""


@RUN.command("control-plane")
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for the ledger and secrets (created if missing).",
)
@click.option(
    "--port",
    required=True,
    type=click.IntRange(0, 65535),
    help="TCP port for the AMB-compatible REST API (0: any free port).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML: host, region, strict, credentials_file, reconcile, "
    "clock, rate_limit, burst, sweep_seconds, member_quota.",
)
@LOG_LEVEL_OPTION
@OPERATIONS_OPTION
def control_plane(
    data: Path,
    port: int,
    config_file: Path | None,
    log_level: str | None,
    operations_listen: str,
) -> None:
    """The AMB-style control plane: networks, members, proposals, votes, invitations, nodes."""
    from network.controlplane.errors import StoreError
    from network.controlplane.server import load_config, serve

    setup_logging(log_level)
    check_listen(operations_listen)
    config = load_config(config_file)

    def ready(bound: int) -> None:
        click.echo(f"control plane listening on http://{config.host}:{bound}", nl=True)

    try:
        asyncio.run(serve(data, port, config, ready, operations_listen))
    except (StoreError, ValueError, OSError) as exc:
        fail(str(exc))


@COMMAND.command("create")
@NETWORK_OPTION
@click.option("--member", "member_id", required=True, help="The member that owns the peer.")
@click.option("--instance-type", default="bc.t3.small", show_default=True)
@click.option("--state-db", type=click.Choice(["CouchDB", "LevelDB"]), default="CouchDB")
@click.option("--availability-zone", default=None)
@OUTPUT_OPTION
@api_command
def create(
    client: Client,
    network_id: str,
    member_id: str,
    instance_type: str,
    state_db: str,
    availability_zone: str | None,
    output: str,
) -> None:
    """Ask for a peer node of one of your members (AMB CreateNode)."""
    config = {"InstanceType": instance_type, "StateDB": state_db}
    if availability_zone:
        config["AvailabilityZone"] = availability_zone
    body = {
        "ClientRequestToken": str(uuid.uuid4()),
        "MemberId": member_id,
        "NodeConfiguration": config,
    }
    show(client.call("POST", f"/networks/{network_id}/nodes", body), output, "node created")


@COMMAND.command("list")
@NETWORK_OPTION
@click.option("--member", "member_id", default=None, help="Only this member's nodes.")
@OUTPUT_OPTION
@api_command
def list_(client: Client, network_id: str, member_id: str | None, output: str) -> None:
    """The network's peer nodes."""
    query = {"memberId": member_id} if member_id else {}
    rows = list(client.pages(f"/networks/{network_id}/nodes", "Nodes", query))
    columns = ("Id", "Status", "InstanceType", "AvailabilityZone", "CreationDate")
    show_list(rows, columns, output, "nodes")


@COMMAND.command("show")
@click.argument("node_id")
@NETWORK_OPTION
@OUTPUT_OPTION
@api_command
def show_(client: Client, node_id: str, network_id: str, output: str) -> None:
    """One node."""
    show(client.call("GET", f"/networks/{network_id}/nodes/{node_id}")["Node"], output, node_id)


@COMMAND.command("delete")
@click.argument("node_id")
@NETWORK_OPTION
@OUTPUT_OPTION
@api_command
def delete(client: Client, node_id: str, network_id: str, output: str) -> None:
    """Delete one of your nodes (AMB DeleteNode)."""
    client.call("DELETE", f"/networks/{network_id}/nodes/{node_id}")
    if output == "json":
        emit_json({"NodeId": node_id, "Deleted": True})
    else:
        click.echo(f"node {node_id} deleted")
