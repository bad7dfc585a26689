"""``consortium invitation list | reject`` over the control plane's API."""

from __future__ import annotations

import click

from network.controlplane.cli_support import api_command, show_list
from network.controlplane.client import Client
from network.output import OUTPUT_OPTION, emit_json


@click.group("invitation")
def COMMAND() -> None:
    """Invitations issued to the calling account (AMB ListInvitations, RejectInvitation)."""


@COMMAND.command("list")
@OUTPUT_OPTION
@api_command
def list_(client: Client, output: str) -> None:
    """Invitations to the calling account, with the network each is for."""
    rows = [
        {**row, "NetworkId": row["NetworkSummary"]["Id"], "Network": row["NetworkSummary"]["Name"]}
        for row in client.pages("/invitations", "Invitations")
    ]
    columns = ("InvitationId", "NetworkId", "Network", "Status", "ExpirationDate")
    show_list(rows, columns, output, "invitations")


@COMMAND.command("reject")
@click.argument("invitation_id")
@OUTPUT_OPTION
@api_command
def reject(client: Client, invitation_id: str, output: str) -> None:
    """Decline a PENDING invitation."""
    client.call("DELETE", f"/invitations/{invitation_id}")
    if output == "json":
        emit_json({"InvitationId": invitation_id, "Status": "REJECTED"})
    else:
        click.echo(f"invitation {invitation_id} rejected")
