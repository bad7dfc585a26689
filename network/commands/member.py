"""``consortium member create | list | show | delete`` over the control plane's API."""

from __future__ import annotations

import uuid

import click

from network.controlplane.cli_support import NETWORK_OPTION, api_command, show, show_list
from network.controlplane.client import Client
from network.output import OUTPUT_OPTION, emit_json


@click.group("member")
def COMMAND() -> None:
    """Join with an invitation, inspect and leave (AMB CreateMember, ListMembers, …)."""


@COMMAND.command("create")
@NETWORK_OPTION
@click.option("--invitation", "invitation_id", required=True, help="A PENDING invitation (in-…).")
@click.option("--name", required=True, help="Member name: letters, digits, single hyphens.")
@click.option("--admin-user", default="admin", show_default=True)
@click.option("--admin-password", required=True)
@click.option("--description", default=None)
@OUTPUT_OPTION
@api_command
def create(
    client: Client,
    network_id: str,
    invitation_id: str,
    name: str,
    admin_user: str,
    admin_password: str,
    description: str | None,
    output: str,
) -> None:
    """Accept an invitation by creating the calling account's member."""
    config = {
        "Name": name,
        "FrameworkConfiguration": {
            "Fabric": {"AdminUsername": admin_user, "AdminPassword": admin_password}
        },
    }
    if description:
        config["Description"] = description
    body = {
        "ClientRequestToken": str(uuid.uuid4()),
        "InvitationId": invitation_id,
        "MemberConfiguration": config,
    }
    show(client.call("POST", f"/networks/{network_id}/members", body), output, "member created")


@COMMAND.command("list")
@NETWORK_OPTION
@click.option("--owned/--all", "owned", default=None, help="Only the calling account's members.")
@OUTPUT_OPTION
@api_command
def list_(client: Client, network_id: str, owned: bool | None, output: str) -> None:
    """The network's members."""
    query = {} if owned is None else {"isOwned": "true" if owned else "false"}
    rows = list(client.pages(f"/networks/{network_id}/members", "Members", query))
    show_list(rows, ("Id", "Name", "Status", "IsOwned", "CreationDate"), output, "members")


@COMMAND.command("show")
@click.argument("member_id")
@NETWORK_OPTION
@OUTPUT_OPTION
@api_command
def show_(client: Client, member_id: str, network_id: str, output: str) -> None:
    """One member."""
    member = client.call("GET", f"/networks/{network_id}/members/{member_id}")["Member"]
    show(member, output, member_id)


@COMMAND.command("delete")
@click.argument("member_id")
@NETWORK_OPTION
@OUTPUT_OPTION
@api_command
def delete(client: Client, member_id: str, network_id: str, output: str) -> None:
    """Leave the network: the member and its nodes are deleted (owner account only)."""
    client.call("DELETE", f"/networks/{network_id}/members/{member_id}")
    if output == "json":
        emit_json({"MemberId": member_id, "Deleted": True})
    else:
        click.echo(f"member {member_id} deleted")
