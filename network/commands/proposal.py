"""``consortium proposal create | vote | list | show`` over the control plane's API."""

from __future__ import annotations

import uuid

import click

from network.controlplane.cli_support import NETWORK_OPTION, api_command, show, show_list
from network.controlplane.client import Client
from network.controlplane.errors import ControlPlaneError
from network.output import OUTPUT_OPTION, emit_json, fail


@click.group("proposal")
def COMMAND() -> None:
    """Propose, vote and follow governance (AMB CreateProposal, VoteOnProposal, …)."""


@COMMAND.command("create")
@NETWORK_OPTION
@click.option("--member", "member_id", required=True, help="The proposing member (yours).")
@click.option("--invite", "invite", multiple=True, help="Account id to invite (repeatable).")
@click.option("--remove", "remove", multiple=True, help="Member id to remove (repeatable).")
@click.option("--description", default=None)
@OUTPUT_OPTION
@api_command
def create(
    client: Client,
    network_id: str,
    member_id: str,
    invite: tuple[str, ...],
    remove: tuple[str, ...],
    description: str | None,
    output: str,
) -> None:
    """Propose inviting accounts and/or removing members."""
    if not invite and not remove:
        fail("give at least one --invite ACCOUNT or --remove MEMBER")
    actions = {}
    if invite:
        actions["Invitations"] = [{"Principal": account} for account in invite]
    if remove:
        actions["Removals"] = [{"MemberId": member} for member in remove]
    body = {"ClientRequestToken": str(uuid.uuid4()), "MemberId": member_id, "Actions": actions}
    if description:
        body["Description"] = description
    answer = client.call("POST", f"/networks/{network_id}/proposals", body)
    show(answer, output, "proposal created")


@COMMAND.command("vote")
@click.argument("proposal_id")
@NETWORK_OPTION
@click.option("--member", "member_id", required=True, help="The voting member (yours).")
@click.option("--yes/--no", "yes", required=True, default=None, help="Your vote.")
@OUTPUT_OPTION
@api_command
def vote(
    client: Client, proposal_id: str, network_id: str, member_id: str, yes: bool, output: str
) -> None:
    """Vote YES or NO, once per member; prints the proposal's status after the vote."""
    body = {"VoterMemberId": member_id, "Vote": "YES" if yes else "NO"}
    base = f"/networks/{network_id}/proposals/{proposal_id}"
    client.call("POST", f"{base}/votes", body)
    try:
        proposal = client.call("GET", base)["Proposal"]
    except ControlPlaneError:  # e.g. the vote removed the voter, who may no longer look
        proposal = {"ProposalId": proposal_id, "Status": "UNKNOWN to this account any more"}
    if output == "json":
        emit_json(proposal)
        return
    counts = ""
    if "YesVoteCount" in proposal:
        counts = (
            f" ({proposal['YesVoteCount']} yes, {proposal['NoVoteCount']} no, "
            f"{proposal['OutstandingVoteCount']} outstanding)"
        )
    click.echo(f"voted {body['Vote']} on {proposal_id}: {proposal['Status']}{counts}")


@COMMAND.command("list")
@NETWORK_OPTION
@OUTPUT_OPTION
@api_command
def list_(client: Client, network_id: str, output: str) -> None:
    """The network's proposals."""
    rows = list(client.pages(f"/networks/{network_id}/proposals", "Proposals"))
    columns = ("ProposalId", "Status", "ProposedByMemberName", "CreationDate", "ExpirationDate")
    show_list(rows, columns, output, "proposals")


@COMMAND.command("show")
@click.argument("proposal_id")
@NETWORK_OPTION
@OUTPUT_OPTION
@api_command
def show_(client: Client, proposal_id: str, network_id: str, output: str) -> None:
    """One proposal with its counts, and its votes."""
    base = f"/networks/{network_id}/proposals/{proposal_id}"
    proposal = client.call("GET", base)["Proposal"]
    proposal["Votes"] = list(client.pages(f"{base}/votes", "ProposalVotes"))
    show(proposal, output, proposal_id)
