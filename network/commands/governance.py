"""``consortium governance history | query``: proven votes, and PartiQL over governance."""

from __future__ import annotations

import json

import click

from network.controlplane.cli_support import api_command, show_list
from network.controlplane.client import Client, verify_history
from network.output import OUTPUT_OPTION, emit_json, fail


@click.group("governance")
def COMMAND() -> None:
    """Verifiable governance records."""


@COMMAND.command("history")
@click.argument("proposal_id")
@OUTPUT_OPTION
@api_command
def history(client: Client, proposal_id: str, output: str) -> None:
    """Each revision of the proposal and each vote, with its block verified on this side.

    Every entry's block is re-hashed and its inclusion proof checked against the ledger
    digest; any mismatch stops with an error naming the entry.
    """
    answer = client.call("GET", f"/proposals/{proposal_id}/history")
    entries = verify_history(answer)
    if output == "json":
        emit_json({**answer, "Entries": entries})
        return
    rows = [
        {
            "Block": entry["SequenceNo"],
            "Table": entry["Table"],
            "What": _describe(entry),
            "Proof": f"{len(entry['Proof'])} hashes",
            "Verified": "yes",
        }
        for entry in entries
    ]
    title = (
        f"{proposal_id}: {len(rows)} entries verified against digest at block {answer['DigestTip']}"
    )
    show_list(rows, ("Block", "Table", "What", "Proof", "Verified"), output, title)


def _describe(entry: dict) -> str:
    document = entry["Document"]
    if entry["Table"] == "votes":
        return f"{document['MemberName']} ({document['MemberId']}) voted {document['Vote']}"
    return (
        f"v{entry['Version']} {document['Status']}: {document['YesVoteCount']} yes, "
        f"{document['NoVoteCount']} no, {document['OutstandingVoteCount']} outstanding"
    )


@COMMAND.command("query")
@click.argument("statement")
@click.option("--param", "params", multiple=True, help="A value for a ? parameter (JSON).")
@OUTPUT_OPTION
@api_command
def query(client: Client, statement: str, params: tuple[str, ...], output: str) -> None:
    """Run a read-only PartiQL query over the governance tables you can see.

    Tables: networks, members, invitations, proposals, electorates, votes, nodes. E.g.
    SELECT v.MemberName, v.Vote FROM votes AS v WHERE v.ProposalId = 'p-…'
    """
    try:
        parameters = [json.loads(param) for param in params]
    except ValueError as exc:
        fail(f"--param is not JSON: {exc}")
    values = client.call(
        "POST", "/governance/query", {"Statement": statement, "Parameters": parameters}
    )["Values"]
    if output == "json":
        emit_json(values)
        return
    if values and all(isinstance(value, dict) for value in values):
        columns = list(dict.fromkeys(key for value in values for key in value))
        show_list(values, columns, output, f"{len(values)} rows")
    else:
        for value in values:
            click.echo(json.dumps(value))
