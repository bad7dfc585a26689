"""Governance through boto3 against a real server: the voting table (2-5 members ×
thresholds × both comparators, early approval, early rejection), expiry on the server's
manual clock, the invite → accept → create-member flow and the removal flow.

Expected outcomes come from the closed forms in docs/governance.md, computed here
independently of ``network.controlplane.voting``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_controlplane_server import (
    ControlPlaneProcess,
    client,
    create_network,
    error_code,
    grow,
    grow_more,
    member_config,
    policy,
    server,  # noqa: F401 - a fixture
)

POLICIES = [
    (50, "GREATER_THAN"),
    (50, "GREATER_THAN_OR_EQUAL_TO"),
    (66, "GREATER_THAN"),
    (67, "GREATER_THAN_OR_EQUAL_TO"),
    (75, "GREATER_THAN_OR_EQUAL_TO"),
    (100, "GREATER_THAN_OR_EQUAL_TO"),
    (0, "GREATER_THAN"),
    (0, "GREATER_THAN_OR_EQUAL_TO"),
]
_accounts = iter(range(500000000000, 600000000000, 7))


def needed(percentage: int, comparator: str, members: int) -> int:
    if comparator == "GREATER_THAN":
        return math.floor(percentage * members / 100) + 1
    return math.ceil(percentage * members / 100)


def status(api: Any, network_id: str, proposal_id: str) -> str:
    return api.get_proposal(NetworkId=network_id, ProposalId=proposal_id)["Proposal"]["Status"]


def propose(api: Any, network_id: str, member_id: str) -> str:
    principal = str(next(_accounts))
    return api.create_proposal(
        NetworkId=network_id,
        MemberId=member_id,
        Actions={"Invitations": [{"Principal": principal}]},
    )["ProposalId"]


def vote(voter: tuple[Any, str], network_id: str, proposal_id: str, value: str) -> None:
    api, member_id = voter
    api.vote_on_proposal(
        NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=member_id, Vote=value
    )


def refused(voter: tuple[Any, str], network_id: str, proposal_id: str) -> str:
    with pytest.raises(ClientError) as excinfo:
        vote(voter, network_id, proposal_id, "YES")
    return error_code(excinfo)


@pytest.fixture(scope="module")
def networks(server: ControlPlaneProcess) -> dict[tuple[int, str], tuple[str, list]]:  # noqa: F811
    """One network per policy, grown to 5 members, keeping each size's snapshot."""
    built = {}
    for index, (percentage, comparator) in enumerate(POLICIES):
        owner = client(server.url, f"{index + 1:012d}")
        network_id, first = create_network(owner, voting=policy(percentage, 24, comparator))
        built[(percentage, comparator)] = (network_id, [(owner, first)])
    return built


@pytest.mark.parametrize("members", [2, 3, 4, 5])
@pytest.mark.parametrize(("percentage", "comparator"), POLICIES, ids=lambda v: str(v))
def test_voting_table(
    server: ControlPlaneProcess,  # noqa: F811
    networks: dict,
    members: int,
    percentage: int,
    comparator: str,
) -> None:
    network_id, voters = networks[(percentage, comparator)]
    if len(voters) < members:  # sizes run in order; grow this policy's network by one
        grow_more(server.url, network_id, voters, members)
    assert len(voters) == members
    owner, first = voters[0]
    need = needed(percentage, comparator, members)

    # early approval: YES votes, approved on exactly the needed one
    proposal_id = propose(owner, network_id, first)
    if need == 0:
        assert status(owner, network_id, proposal_id) == "APPROVED"
    for count, voter in enumerate(voters, start=1):
        if (count > need and need > 0) or need == 0:
            assert refused(voter, network_id, proposal_id) == "IllegalActionException"
            continue
        vote(voter, network_id, proposal_id, "YES")
        expected = "APPROVED" if count >= need else "IN_PROGRESS"
        assert status(owner, network_id, proposal_id) == expected, (count, need)

    # early rejection: NO votes, rejected once the rest cannot reach the threshold
    proposal_id = propose(owner, network_id, first)
    for count, voter in enumerate(voters, start=1):
        if need == 0:
            assert status(owner, network_id, proposal_id) == "APPROVED"
            break
        vote(voter, network_id, proposal_id, "NO")
        if count > members - need:
            assert status(owner, network_id, proposal_id) == "REJECTED"
            assert all(
                refused(v, network_id, proposal_id) == "IllegalActionException"
                for v in voters[count:]
            )
            break
        assert status(owner, network_id, proposal_id) == "IN_PROGRESS"
    proposal = owner.get_proposal(NetworkId=network_id, ProposalId=proposal_id)["Proposal"]
    assert (
        proposal["YesVoteCount"] + proposal["NoVoteCount"] + proposal["OutstandingVoteCount"]
        == members
    )


def test_unreachable_policy_rejects_at_creation(server: ControlPlaneProcess) -> None:  # noqa: F811
    api = client(server.url, "777777777777")
    network_id, member_id = create_network(api, voting=policy(100, 24, "GREATER_THAN"))
    assert status(api, network_id, propose(api, network_id, member_id)) == "REJECTED"


def test_expiry_on_the_servers_clock(server: ControlPlaneProcess) -> None:  # noqa: F811
    api = client(server.url, "888888888888")
    network_id, first = create_network(api, voting=policy(50, 1, "GREATER_THAN"))
    voters = grow(server.url, network_id, (api, first), 3)
    proposal_id = propose(api, network_id, first)
    vote(voters[0], network_id, proposal_id, "YES")
    server.advance(3599)
    assert status(api, network_id, proposal_id) == "IN_PROGRESS"
    server.advance(1)
    assert status(api, network_id, proposal_id) == "EXPIRED"
    assert refused(voters[1], network_id, proposal_id) == "IllegalActionException"
    votes = api.list_proposal_votes(NetworkId=network_id, ProposalId=proposal_id)
    assert len(votes["ProposalVotes"]) == 1  # the refused vote wrote nothing

    # an approved invitation not used within 7 days expires too
    invited = "808080808080"
    proposal_id = api.create_proposal(
        NetworkId=network_id, MemberId=first, Actions={"Invitations": [{"Principal": invited}]}
    )["ProposalId"]
    for voter in voters[:2]:
        vote(voter, network_id, proposal_id, "YES")
    guest = client(server.url, invited)
    invitation_id = guest.list_invitations()["Invitations"][0]["InvitationId"]
    server.advance(7 * 24 * 3600)
    assert guest.list_invitations()["Invitations"][0]["Status"] == "EXPIRED"
    with pytest.raises(ClientError) as excinfo:
        guest.create_member(
            NetworkId=network_id,
            InvitationId=invitation_id,
            MemberConfiguration=member_config("late"),
        )
    assert error_code(excinfo) == "InvalidRequestException"


def test_invite_accept_create_member_flow(server: ControlPlaneProcess) -> None:  # noqa: F811
    api = client(server.url, "121212121212")
    network_id, first = create_network(api, voting=policy(50, 24, "GREATER_THAN"))
    voters = grow(server.url, network_id, (api, first), 2)
    pending = propose(api, network_id, first)  # created while there are 2 members

    newcomer = "343434343434"
    proposal_id = api.create_proposal(
        NetworkId=network_id, MemberId=first, Actions={"Invitations": [{"Principal": newcomer}]}
    )["ProposalId"]
    vote(voters[0], network_id, proposal_id, "YES")
    assert status(api, network_id, proposal_id) == "IN_PROGRESS"  # 1 of 2 is not > 50 %
    vote(voters[1], network_id, proposal_id, "YES")
    assert status(api, network_id, proposal_id) == "APPROVED"

    guest = client(server.url, newcomer)
    invitation = guest.list_invitations()["Invitations"][0]
    assert invitation["Status"] == "PENDING"
    member_id = guest.create_member(
        NetworkId=network_id,
        InvitationId=invitation["InvitationId"],
        MemberConfiguration=member_config("newbank"),
    )["MemberId"]
    assert guest.list_invitations()["Invitations"][0]["Status"] == "ACCEPTED"
    with pytest.raises(ClientError) as excinfo:  # an invitation is used once
        guest.create_member(
            NetworkId=network_id,
            InvitationId=invitation["InvitationId"],
            MemberConfiguration=member_config("twice"),
        )
    assert error_code(excinfo) == "InvalidRequestException"
    member = api.get_member(NetworkId=network_id, MemberId=member_id)["Member"]
    assert member["Status"] == "AVAILABLE" and member["Name"] == "newbank"
    # the newcomer was not a member when `pending` was created, so it has no vote there
    assert refused((guest, member_id), network_id, pending) == "IllegalActionException"
    # ...but votes on proposals made after it joined, where the electorate is 3
    later = propose(api, network_id, first)
    vote((guest, member_id), network_id, later, "YES")
    proposal = api.get_proposal(NetworkId=network_id, ProposalId=later)["Proposal"]
    assert proposal["OutstandingVoteCount"] == 2


def test_removal_flow(server: ControlPlaneProcess) -> None:  # noqa: F811
    api = client(server.url, "565656565656")
    network_id, first = create_network(api, voting=policy(50, 24, "GREATER_THAN"))
    voters = grow(server.url, network_id, (api, first), 3)
    target_api, target = voters[2]
    node_id = target_api.create_node(
        NetworkId=network_id, MemberId=target, NodeConfiguration={"InstanceType": "bc.t3.small"}
    )["NodeId"]
    proposal_id = api.create_proposal(
        NetworkId=network_id, MemberId=first, Actions={"Removals": [{"MemberId": target}]}
    )["ProposalId"]
    vote(voters[0], network_id, proposal_id, "YES")
    vote(voters[1], network_id, proposal_id, "YES")
    assert status(api, network_id, proposal_id) == "APPROVED"
    assert api.get_member(NetworkId=network_id, MemberId=target)["Member"]["Status"] == "DELETED"
    assert api.get_node(NetworkId=network_id, NodeId=node_id)["Node"]["Status"] == "DELETED"
    live = api.list_members(NetworkId=network_id, Status="AVAILABLE")["Members"]
    assert {m["Id"] for m in live} == {voters[0][1], voters[1][1]}
    with pytest.raises(ClientError) as excinfo:  # a removed member no longer acts
        target_api.create_proposal(
            NetworkId=network_id, MemberId=target, Actions={"Removals": [{"MemberId": first}]}
        )
    assert error_code(excinfo) in ("ResourceNotFoundException", "AccessDeniedException")
