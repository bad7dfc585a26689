"""Proposals and votes: how a network invites and removes members (AMB's governance).

The electorate is fixed when a proposal is created (the live members then) and written
once, in its own table, so later revisions of the proposal carry only the counts. A
proposal is decided by ``network/controlplane/voting.py`` as each vote lands; once
approved, its actions run in the same transaction as the deciding vote, so nobody can
see an approved proposal whose invitations are not issued yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from network.controlplane import request_shapes as shapes
from network.controlplane import resources as res
from network.controlplane.errors import (
    IllegalActionException,
    InvalidRequestException,
    ResourceNotFoundException,
)
from network.controlplane.operations.base import Call, Document, Mutation, NetworkMutation, Read
from network.controlplane.operations.common import (
    LIVE_MEMBER,
    acting_member,
    available,
    checked_tags,
    find_network,
    listed_network,
    live_members,
    owned_member,
    visible_network,
)
from network.controlplane.operations.members import stage_removal
from network.controlplane.pagination import listing
from network.controlplane.voting import Comparator, Outcome, Policy, Tally, decide


def _policy(network: Mapping[str, Any]) -> Policy:
    threshold = network["VotingPolicy"]["ApprovalThresholdPolicy"]
    return Policy(
        threshold["ThresholdPercentage"],
        threshold["ProposalDurationInHours"],
        Comparator(threshold["ThresholdComparator"]),
    )


def _check_actions(call: Call, network_id: str, actions: Mapping[str, Any]) -> None:
    """At least one action; invitees are account ids; removals name live members here."""
    invitations = actions.get("Invitations", [])
    removals = actions.get("Removals", [])
    if not invitations and not removals:
        raise InvalidRequestException("Actions must hold at least one of Invitations or Removals.")
    for index, invite in enumerate(invitations, start=1):
        principal = invite["Principal"]
        if not (len(principal) == 12 and principal.isdigit()):
            raise InvalidRequestException(
                f"Actions.Invitations.{index}.Principal '{principal}' is not a 12-digit "
                "AWS account id."
            )
    for index, removal in enumerate(removals, start=1):
        target = call.txn.get("members", removal["MemberId"])
        if target is None or target["NetworkId"] != network_id:
            raise ResourceNotFoundException(
                f"Actions.Removals.{index}.MemberId {removal['MemberId']} is not a member "
                f"of network {network_id}."
            )
        if target["Status"] not in LIVE_MEMBER:
            raise InvalidRequestException(
                f"Actions.Removals.{index}.MemberId {removal['MemberId']} is "
                f"{target['Status']} and cannot be removed."
            )


def create_proposal(call: Call, network_id: str) -> dict[str, str]:
    params = call.params
    network = find_network(call.txn, network_id)
    available("Network", network, network_id)
    proposer = acting_member(call, network_id, params["MemberId"])
    actions = params["Actions"]
    _check_actions(call, network_id, actions)
    now = call.env.clock.now()
    electorate = sorted(m["Id"] for m in live_members(call.txn, network_id))
    proposal_id = res.new_id("proposals")
    proposal_arn = res.arn(call.env.region, call.caller, "proposals", proposal_id)
    proposal = {
        "ProposalId": proposal_id,
        "NetworkId": network_id,
        "Description": params.get("Description"),
        "Actions": {
            "Invitations": actions.get("Invitations", []),
            "Removals": actions.get("Removals", []),
        },
        "ProposedByMemberId": proposer["Id"],
        "ProposedByMemberName": proposer["Name"],
        "Status": "IN_PROGRESS",
        "CreationDate": res.iso(now),
        "ExpirationDate": res.iso(_policy(network).expiration(now)),
        "YesVoteCount": 0,
        "NoVoteCount": 0,
        "OutstandingVoteCount": len(electorate),
        "Tags": checked_tags(params.get("Tags"), proposal_arn),
        "Arn": proposal_arn,
    }
    # written once: every later revision of the proposal only carries the counts.
    electorate_doc = {"ProposalId": proposal_id, "NetworkId": network_id, "Members": electorate}
    call.txn.put("electorates", electorate_doc)
    _stage_outcome(call, network, proposal, now)
    return {"ProposalId": proposal_id}


def _stage_outcome(
    call: Call, network: Mapping[str, Any], proposal: Document, now: datetime
) -> None:
    """Record the proposal with its status; on approval its actions run in the same txn."""
    tally = Tally(
        proposal["YesVoteCount"] + proposal["NoVoteCount"] + proposal["OutstandingVoteCount"],
        proposal["YesVoteCount"],
        proposal["NoVoteCount"],
    )
    outcome = decide(_policy(network), tally, res.parse_iso(proposal["CreationDate"]), now)
    proposal["Status"] = outcome.value
    call.txn.put("proposals", proposal)  # first: decided, then effects
    if outcome is Outcome.APPROVED and not _run_actions(call, network, proposal, now):
        call.txn.put("proposals", {**proposal, "Status": "ACTION_FAILED"})


def _run_actions(
    call: Call, network: Mapping[str, Any], proposal: Mapping[str, Any], now: datetime
) -> bool:
    """Issue the invitations and remove the members; False if a removal target is gone."""
    for invite in proposal["Actions"]["Invitations"]:
        _stage_invitation(call, network, proposal, invite["Principal"], now)
    succeeded = True
    for removal in proposal["Actions"]["Removals"]:
        member = call.txn.get("members", removal["MemberId"])
        if member is None or member["Status"] not in LIVE_MEMBER:
            succeeded = False
            continue
        stage_removal(call, member)
    return succeeded


def _stage_invitation(
    call: Call,
    network: Mapping[str, Any],
    proposal: Mapping[str, Any],
    principal: str,
    now: datetime,
) -> None:
    invitation_id = res.new_id("invitations")
    call.txn.put(
        "invitations",
        {
            "InvitationId": invitation_id,
            "NetworkId": network["Id"],
            "Principal": principal,
            "ProposalId": proposal["ProposalId"],
            "Status": "PENDING",
            "CreationDate": res.iso(now),
            "ExpirationDate": res.iso(now + timedelta(days=res.INVITATION_DAYS)),
            "Arn": res.arn(call.env.region, principal, "invitations", invitation_id),
            "Tags": {},
        },
    )


def find_proposal(call: Call, network_id: str, proposal_id: str) -> Document:
    proposal = call.txn.get("proposals", proposal_id)
    if proposal is None or proposal["NetworkId"] != network_id:
        raise ResourceNotFoundException(
            f"Proposal {proposal_id} not found in network {network_id}."
        )
    return proposal


def get_proposal(call: Call, network_id: str, proposal_id: str) -> dict[str, Any]:
    visible_network(call, network_id)
    proposal = find_proposal(call, network_id, proposal_id)
    return {"Proposal": res.project(proposal, res.PROPOSAL)}


def list_proposals(call: Call, network_id: str) -> dict[str, Any]:
    visible_network(call, network_id)
    rows = call.txn.where("proposals", "NetworkId", network_id)
    return listing("Proposals", rows, call.params, 100, _summary)


def _summary(proposal: Mapping[str, Any]) -> dict[str, Any]:
    return res.project(proposal, res.PROPOSAL_SUMMARY)


def _check_voter(call: Call, proposal: Mapping[str, Any], voter_id: str) -> None:
    """Votes are taken while IN_PROGRESS, once per member of the proposal's electorate."""
    proposal_id = proposal["ProposalId"]
    if proposal["Status"] != "IN_PROGRESS":
        raise IllegalActionException(
            f"Proposal {proposal_id} is {proposal['Status']}; votes are no longer accepted."
        )
    electorate = call.txn.get("electorates", proposal_id) or {"Members": []}
    if voter_id not in electorate["Members"]:
        raise IllegalActionException(
            f"Member {voter_id} was not a member of the network when proposal "
            f"{proposal_id} was created, so it cannot vote on it."
        )
    if call.txn.get("votes", f"{proposal_id}.{voter_id}") is not None:
        raise IllegalActionException(
            f"Member {voter_id} has already voted on proposal {proposal_id}."
        )


def vote_on_proposal(call: Call, network_id: str, proposal_id: str) -> dict[str, Any]:
    network = find_network(call.txn, network_id)
    proposal = find_proposal(call, network_id, proposal_id)
    voter_id, vote = call.params["VoterMemberId"], call.params["Vote"]
    voter = owned_member(call, network_id, voter_id)
    _check_voter(call, proposal, voter_id)
    now = call.env.clock.now()
    call.txn.put(
        "votes",
        {
            "VoteId": f"{proposal_id}.{voter_id}",
            "ProposalId": proposal_id,
            "NetworkId": network_id,
            "MemberId": voter_id,
            "MemberName": voter["Name"],
            "Vote": vote,
            "Account": call.caller,
            "CastAt": res.iso(now),
        },
    )
    proposal["YesVoteCount" if vote == "YES" else "NoVoteCount"] += 1
    proposal["OutstandingVoteCount"] -= 1
    _stage_outcome(call, network, proposal, now)
    return {}


def list_proposal_votes(call: Call, network_id: str, proposal_id: str) -> dict[str, Any]:
    """Votes in the order they were cast (the block that wrote each one).

    AMB lists no ResourceNotFoundException for ListProposalVotes: a proposal id that is
    not one of the network's is a bad input, InvalidRequestException.
    """
    listed_network(call, network_id)
    proposal = call.txn.get("proposals", proposal_id)
    if proposal is None or proposal["NetworkId"] != network_id:
        raise InvalidRequestException(
            f"proposalId {proposal_id} is not a proposal of network {network_id}."
        )
    written = call.txn.in_order("votes", "ProposalId", proposal_id)
    rows = [{**vote, "Order": f"{sequence_no:012d}"} for _, sequence_no, vote in written]
    return listing("ProposalVotes", rows, call.params, 100, _vote_summary, _cast_order)


def _vote_summary(vote: Mapping[str, Any]) -> dict[str, Any]:
    return res.project(vote, res.VOTE_SUMMARY)


def _cast_order(row: Mapping[str, Any]) -> tuple[str, ...]:
    return (row["Order"],)


PROPOSALS = "/networks/{networkId}/proposals"
PROPOSAL = "/networks/{networkId}/proposals/{proposalId}"
OPERATIONS = (
    NetworkMutation(
        "CreateProposal", f"POST {PROPOSALS}", create_proposal, shapes.CreateProposalInput
    ),
    Read("ListProposals", f"GET {PROPOSALS}", list_proposals, shapes.PageInput),
    Read("GetProposal", f"GET {PROPOSAL}", get_proposal),
    Mutation(
        "VoteOnProposal",
        f"POST {PROPOSAL}/votes",
        vote_on_proposal,
        shapes.VoteOnProposalInput,
        queue_by="proposalId",
    ),
    Read("ListProposalVotes", f"GET {PROPOSAL}/votes", list_proposal_votes, shapes.PageInput),
)
