"""``consortium network create | list | show`` over the control plane's API."""

from __future__ import annotations

import uuid

import click

from network.controlplane.cli_support import api_command, show, show_list
from network.controlplane.client import Client
from network.output import OUTPUT_OPTION

SUMMARY = ("Id", "Name", "Status", "FrameworkVersion", "CreationDate")


@click.group("network")
def COMMAND() -> None:
    """Create and inspect networks (AMB CreateNetwork, ListNetworks, GetNetwork)."""


@COMMAND.command("create")
@click.argument("name")
@click.option("--member", "member_name", required=True, help="Name of the first member.")
@click.option("--admin-user", default="admin", show_default=True)
@click.option("--admin-password", required=True, help="CA admin password (AMB rules).")
@click.option("--edition", type=click.Choice(["STARTER", "STANDARD"]), default="STARTER")
@click.option("--framework-version", default="2.2", show_default=True)
@click.option("--threshold", type=int, default=50, show_default=True, help="Percent, 0-100.")
@click.option("--duration", type=int, default=24, show_default=True, help="Hours, 1-168.")
@click.option(
    "--comparator",
    type=click.Choice(["GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO"]),
    default="GREATER_THAN",
    show_default=True,
)
@click.option("--description", default=None)
@OUTPUT_OPTION
@api_command
def create(
    client: Client,
    name: str,
    member_name: str,
    admin_user: str,
    admin_password: str,
    edition: str,
    framework_version: str,
    threshold: int,
    duration: int,
    comparator: str,
    description: str | None,
    output: str,
) -> None:
    """Create a network with its first member, owned by the calling account."""
    body = {
        "ClientRequestToken": str(uuid.uuid4()),
        "Name": name,
        "Description": description,
        "Framework": "HYPERLEDGER_FABRIC",
        "FrameworkVersion": framework_version,
        "FrameworkConfiguration": {"Fabric": {"Edition": edition}},
        "VotingPolicy": {
            "ApprovalThresholdPolicy": {
                "ThresholdPercentage": threshold,
                "ProposalDurationInHours": duration,
                "ThresholdComparator": comparator,
            }
        },
        "MemberConfiguration": {
            "Name": member_name,
            "FrameworkConfiguration": {
                "Fabric": {"AdminUsername": admin_user, "AdminPassword": admin_password}
            },
        },
    }
    body = {key: value for key, value in body.items() if value is not None}
    show(client.call("POST", "/networks", body), output, "network created")


@COMMAND.command("list")
@OUTPUT_OPTION
@api_command
def list_(client: Client, output: str) -> None:
    """Networks the calling account is a member of or invited to."""
    show_list(list(client.pages("/networks", "Networks")), SUMMARY, output, "networks")


@COMMAND.command("show")
@click.argument("network_id")
@OUTPUT_OPTION
@api_command
def show_(client: Client, network_id: str, output: str) -> None:
    """One network, with its voting policy."""
    show(client.call("GET", f"/networks/{network_id}")["Network"], output, network_id)
