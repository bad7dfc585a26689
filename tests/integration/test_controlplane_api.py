"""Every AMB operation through the unmodified boto3 client against a real server process:
shapes, pagination, idempotency tokens and every error class with its HTTP status."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.test_controlplane_server import (  # the helpers and the module-scoped server
    PASSWORD,
    ControlPlaneProcess,
    client,
    create_network,
    error_code,
    grow,
    member_config,
    policy,
    server,  # noqa: F401 - a fixture
)

STATUS = {
    "InvalidRequestException": 400,
    "IllegalActionException": 400,
    "TooManyTagsException": 400,
    "AccessDeniedException": 403,
    "ResourceNotFoundException": 404,
    "ResourceAlreadyExistsException": 409,
    "ResourceNotReadyException": 409,
    "ResourceLimitExceededException": 429,
    "ThrottlingException": 429,
}


def account() -> str:
    return str(random.randrange(10**11, 10**12))


def expect(code: str, call: Any, *args: Any, **kwargs: Any) -> str:
    """Call, expect AMB error ``code`` with its HTTP status; returns the message."""
    with pytest.raises(ClientError) as excinfo:
        call(*args, **kwargs)
    assert error_code(excinfo) == code, excinfo.value.response["Error"]
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == STATUS[code]
    assert excinfo.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == code
    return excinfo.value.response["Error"]["Message"]


def network_request(**change: Any) -> dict[str, Any]:
    """A valid CreateNetwork request (STARTER, org1), with ``change`` over it."""
    return {
        "Name": "valid",
        "Framework": "HYPERLEDGER_FABRIC",
        "FrameworkVersion": "2.2",
        "FrameworkConfiguration": {"Fabric": {"Edition": "STARTER"}},
        "VotingPolicy": policy(),
        "MemberConfiguration": member_config("org1"),
        **change,
    }


@pytest.fixture
def api(server: ControlPlaneProcess) -> Any:  # noqa: F811
    return client(server.url, account())


def test_networks_create_get_list(api: Any) -> None:
    network_id, member_id = create_network(
        api, name="alpha", Description="first", Tags={"env": "test"}
    )
    network = api.get_network(NetworkId=network_id)["Network"]
    assert network["Id"] == network_id and network["Name"] == "alpha"
    assert network["Status"] == "AVAILABLE"
    assert network["FrameworkAttributes"]["Fabric"]["Edition"] == "STARTER"
    assert network["VotingPolicy"] == policy()
    assert network["Tags"] == {"env": "test"}
    assert network["Arn"].startswith("arn:aws:managedblockchain:us-east-1:")
    summaries = api.list_networks()["Networks"]
    assert [n["Id"] for n in summaries] == [network_id]
    assert api.list_networks(Name="other")["Networks"] == []
    assert api.list_networks(Status="AVAILABLE", Framework="HYPERLEDGER_FABRIC")["Networks"]
    member = api.get_member(NetworkId=network_id, MemberId=member_id)["Member"]
    assert member["Name"] == "org1" and member["Status"] == "AVAILABLE"
    assert member["FrameworkAttributes"]["Fabric"]["AdminUsername"] == "admin"
    assert "AdminPassword" not in str(member)
    # AVAILABLE at once (no supervisor), so with the endpoints AMB would give them
    domain = f"{network_id.lower()}.managedblockchain.us-east-1.amazonaws.com"
    assert network["FrameworkAttributes"]["Fabric"]["OrderingServiceEndpoint"] == (
        f"orderer.{domain}:30001"
    )
    assert member["FrameworkAttributes"]["Fabric"]["CaEndpoint"] == (
        f"ca.{member_id.lower()}.{domain}:30002"
    )


def test_members_list_update_delete(server: ControlPlaneProcess) -> None:  # noqa: F811
    first = client(server.url, account())
    network_id, first_member = create_network(first)
    members = grow(server.url, network_id, (first, first_member), 2)
    (second, second_member) = members[1]
    listed = first.list_members(NetworkId=network_id)["Members"]
    assert {m["Id"]: m["IsOwned"] for m in listed} == {first_member: True, second_member: False}
    assert [m["Id"] for m in first.list_members(NetworkId=network_id, IsOwned=True)["Members"]] == [
        first_member
    ]
    assert (
        first.list_members(NetworkId=network_id, Name="org2")["Members"][0]["Id"] == second_member
    )
    logs = {"Fabric": {"CaLogs": {"Cloudwatch": {"Enabled": True}}}}
    second.update_member(
        NetworkId=network_id, MemberId=second_member, LogPublishingConfiguration=logs
    )
    shown = first.get_member(NetworkId=network_id, MemberId=second_member)["Member"]
    assert shown["LogPublishingConfiguration"] == logs
    expect(
        "AccessDeniedException",
        first.delete_member,
        NetworkId=network_id,
        MemberId=second_member,
    )
    second.delete_member(NetworkId=network_id, MemberId=second_member)
    assert (
        first.get_member(NetworkId=network_id, MemberId=second_member)["Member"]["Status"]
        == "DELETED"
    )
    assert first.get_network(NetworkId=network_id)["Network"]["Status"] == "AVAILABLE"


@pytest.mark.parametrize("zone", ["us-east-11", "us-east-1g", "us-east-1", "eu-west-1a"])
def test_a_node_in_a_zone_the_region_lacks_is_refused(api: Any, zone: str) -> None:
    """Issue 21: "us-east-11" was accepted; a zone is the region's name and a real letter."""
    network_id, member_id = create_network(api)
    config = {"InstanceType": "bc.t3.small", "AvailabilityZone": zone}
    message = expect(
        "InvalidRequestException",
        api.create_node,
        NetworkId=network_id,
        MemberId=member_id,
        NodeConfiguration=config,
    )
    assert f"{zone} is not a zone of us-east-1" in message
    config["AvailabilityZone"] = "us-east-1f"
    node_id = api.create_node(NetworkId=network_id, MemberId=member_id, NodeConfiguration=config)[
        "NodeId"
    ]
    node = api.get_node(NetworkId=network_id, MemberId=member_id, NodeId=node_id)["Node"]
    assert node["AvailabilityZone"] == "us-east-1f"


def test_nodes_create_get_list_update_delete(api: Any) -> None:
    network_id, member_id = create_network(api)
    node_id = api.create_node(
        NetworkId=network_id,
        MemberId=member_id,
        NodeConfiguration={"InstanceType": "bc.t3.small", "StateDB": "LevelDB"},
        Tags={"role": "endorser"},
    )["NodeId"]
    node = api.get_node(NetworkId=network_id, MemberId=member_id, NodeId=node_id)["Node"]
    assert node["Status"] == "AVAILABLE" and node["StateDB"] == "LevelDB"
    assert node["AvailabilityZone"] == "us-east-1a" and node["Tags"] == {"role": "endorser"}
    fabric = node["FrameworkAttributes"]["Fabric"]
    host = f"{node_id.lower()}.{member_id.lower()}.{network_id.lower()}"
    assert fabric == {
        "PeerEndpoint": f"{host}.managedblockchain.us-east-1.amazonaws.com:30003",
        "PeerEventEndpoint": f"{host}.managedblockchain.us-east-1.amazonaws.com:30004",
    }
    assert [n["Id"] for n in api.list_nodes(NetworkId=network_id, MemberId=member_id)["Nodes"]] == [
        node_id
    ]
    logs = {"Fabric": {"PeerLogs": {"Cloudwatch": {"Enabled": True}}}}
    api.update_node(
        NetworkId=network_id, MemberId=member_id, NodeId=node_id, LogPublishingConfiguration=logs
    )
    assert (
        api.get_node(NetworkId=network_id, NodeId=node_id)["Node"]["LogPublishingConfiguration"]
        == logs
    )
    api.delete_node(NetworkId=network_id, MemberId=member_id, NodeId=node_id)
    assert api.get_node(NetworkId=network_id, NodeId=node_id)["Node"]["Status"] == "DELETED"
    assert api.list_nodes(NetworkId=network_id, Status="AVAILABLE")["Nodes"] == []


def test_proposals_votes_invitations(server: ControlPlaneProcess) -> None:  # noqa: F811
    api = client(server.url, account())
    network_id, member_id = create_network(api)
    invited = account()
    proposal_id = api.create_proposal(
        NetworkId=network_id,
        MemberId=member_id,
        Actions={"Invitations": [{"Principal": invited}]},
        Description="invite a bank",
        Tags={"kind": "invite"},
    )["ProposalId"]
    proposal = api.get_proposal(NetworkId=network_id, ProposalId=proposal_id)["Proposal"]
    assert proposal["Status"] == "IN_PROGRESS" and proposal["OutstandingVoteCount"] == 1
    assert proposal["ExpirationDate"] > proposal["CreationDate"]
    assert proposal["ProposedByMemberName"] == "org1" and proposal["Tags"] == {"kind": "invite"}
    listed = api.list_proposals(NetworkId=network_id)["Proposals"]
    assert [p["ProposalId"] for p in listed] == [proposal_id]
    api.vote_on_proposal(
        NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=member_id, Vote="YES"
    )
    votes = api.list_proposal_votes(NetworkId=network_id, ProposalId=proposal_id)["ProposalVotes"]
    assert votes == [{"Vote": "YES", "MemberName": "org1", "MemberId": member_id}]
    guest = client(server.url, invited)
    invitations = guest.list_invitations()["Invitations"]
    assert [i["Status"] for i in invitations] == ["PENDING"]
    assert invitations[0]["NetworkSummary"]["Id"] == network_id
    guest.get_network(NetworkId=network_id)  # an invitee may look at the network
    guest.reject_invitation(InvitationId=invitations[0]["InvitationId"])
    assert guest.list_invitations()["Invitations"][0]["Status"] == "REJECTED"
    message = expect(
        "IllegalActionException",
        guest.reject_invitation,
        InvitationId=invitations[0]["InvitationId"],
    )
    assert "REJECTED" in message
    expect(
        "InvalidRequestException",
        guest.create_member,
        NetworkId=network_id,
        InvitationId=invitations[0]["InvitationId"],
        MemberConfiguration=member_config("late"),
    )


def test_tags(api: Any) -> None:
    network_id, member_id = create_network(api)
    for arn in (
        api.get_network(NetworkId=network_id)["Network"]["Arn"],
        api.get_member(NetworkId=network_id, MemberId=member_id)["Member"]["Arn"],
    ):
        api.tag_resource(ResourceArn=arn, Tags={"a": "1", "b": "2"})
        assert api.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"a": "1", "b": "2"}
        api.untag_resource(ResourceArn=arn, TagKeys=["a"])
        assert api.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"b": "2"}
    arn = api.get_network(NetworkId=network_id)["Network"]["Arn"]
    api.tag_resource(ResourceArn=arn, Tags={f"k{n}": "v" for n in range(30)})
    expect(
        "TooManyTagsException",
        api.tag_resource,
        ResourceArn=arn,
        Tags={f"x{n}": "v" for n in range(30)},
    )
    assert len(api.list_tags_for_resource(ResourceArn=arn)["Tags"]) == 31  # nothing written
    expect(
        "ResourceNotFoundException",
        api.list_tags_for_resource,
        ResourceArn="arn:aws:managedblockchain:us-east-1:111111111111:networks/n-NONE",
    )
    expect("InvalidRequestException", api.list_tags_for_resource, ResourceArn="arn:nope")


def test_pagination(api: Any) -> None:
    created = [create_network(api, name=f"net{n:02d}")[0] for n in range(12)]
    seen, token, pages = [], None, 0
    while True:
        page = api.list_networks(MaxResults=5, **({"NextToken": token} if token else {}))
        assert len(page["Networks"]) <= 5
        seen += [n["Id"] for n in page["Networks"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and sorted(seen) == sorted(created) and len(set(seen)) == 12
    assert len(api.list_networks()["Networks"]) == 10  # AMB's default and maximum page
    expect("InvalidRequestException", api.list_networks, MaxResults=11)
    expect("InvalidRequestException", api.list_networks, NextToken="garbage!")


def test_idempotency_tokens(api: Any) -> None:
    arguments = {
        "ClientRequestToken": "token-1",
        "Name": "idem",
        "Framework": "HYPERLEDGER_FABRIC",
        "FrameworkVersion": "2.2",
        "FrameworkConfiguration": {"Fabric": {"Edition": "STARTER"}},
        "VotingPolicy": policy(),
        "MemberConfiguration": member_config("org1"),
    }
    first = api.create_network(**arguments)
    again = api.create_network(**arguments)
    assert (first["NetworkId"], first["MemberId"]) == (again["NetworkId"], again["MemberId"])
    assert len(api.list_networks()["Networks"]) == 1
    message = expect(
        "InvalidRequestException", api.create_network, **{**arguments, "Name": "other"}
    )
    assert "ClientRequestToken" in message
    node = {
        "NetworkId": first["NetworkId"],
        "MemberId": first["MemberId"],
        "NodeConfiguration": {"InstanceType": "bc.t3.small"},
        "ClientRequestToken": "node-1",
    }
    assert api.create_node(**node)["NodeId"] == api.create_node(**node)["NodeId"]
    assert len(api.list_nodes(NetworkId=first["NetworkId"])["Nodes"]) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"Name": "x" * 65}, "Name"),
        ({"Name": "   "}, "Name"),
        ({"Description": "d" * 129}, "Description"),
        ({"FrameworkVersion": "9.9"}, "FrameworkVersion"),
        ({"Framework": "ETHEREUM"}, "Framework"),
        ({"VotingPolicy": policy(101)}, "ThresholdPercentage"),
        ({"VotingPolicy": policy(50, 169)}, "ProposalDurationInHours"),
        ({"VotingPolicy": policy(50, 24, "MOST")}, "ThresholdComparator"),
        ({"VotingPolicy": {"ApprovalThresholdPolicy": {"ThresholdPercentage": 50}}}, "Proposal"),
        ({"MemberConfiguration": member_config("-bad")}, "MemberConfiguration.Name"),
        ({"MemberConfiguration": member_config("9lives")}, "MemberConfiguration.Name"),
        (
            {
                "MemberConfiguration": {
                    "Name": "org1",
                    "FrameworkConfiguration": {
                        "Fabric": {"AdminUsername": "admin", "AdminPassword": "alllowercase1"}
                    },
                }
            },
            "AdminPassword",
        ),
        (
            {
                "MemberConfiguration": {
                    "Name": "org1",
                    "FrameworkConfiguration": {
                        "Fabric": {"AdminUsername": "1admin", "AdminPassword": PASSWORD}
                    },
                }
            },
            "AdminUsername",
        ),
        ({"FrameworkConfiguration": {"Fabric": {"Edition": "HUGE"}}}, "Edition"),
        ({"Tags": {"k" * 129: "v"}}, "Tags"),
    ],
    ids=lambda value: str(value)[:40],
)
def test_create_network_validation(api: Any, change: dict[str, Any], field: str) -> None:
    message = expect("InvalidRequestException", api.create_network, **network_request(**change))
    assert field in message
    assert api.list_networks()["Networks"] == []  # nothing written


def test_error_classes(server: ControlPlaneProcess) -> None:  # noqa: F811
    owner = client(server.url, account())
    network_id, member_id = create_network(owner)
    stranger = client(server.url, account())
    expect("ResourceNotFoundException", owner.get_network, NetworkId="n-DOESNOTEXIST")
    expect("ResourceNotFoundException", owner.get_member, NetworkId=network_id, MemberId="m-X")
    expect("AccessDeniedException", stranger.get_network, NetworkId=network_id)
    expect(
        "AccessDeniedException",
        stranger.create_proposal,
        NetworkId=network_id,
        MemberId=member_id,
        Actions={"Invitations": [{"Principal": "123123123123"}]},
    )
    expect(
        "InvalidRequestException",
        owner.create_proposal,
        NetworkId=network_id,
        MemberId=member_id,
        Actions={"Invitations": [{"Principal": "not-an-account"}]},
    )
    expect(
        "InvalidRequestException",
        owner.create_proposal,
        NetworkId=network_id,
        MemberId=member_id,
        Actions={},
    )
    proposal_id = owner.create_proposal(
        NetworkId=network_id,
        MemberId=member_id,
        Actions={"Invitations": [{"Principal": "123123123123"}]},
    )["ProposalId"]
    owner.vote_on_proposal(
        NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=member_id, Vote="NO"
    )
    assert (
        owner.get_proposal(NetworkId=network_id, ProposalId=proposal_id)["Proposal"]["Status"]
        == "REJECTED"
    )
    expect(
        "IllegalActionException",
        owner.vote_on_proposal,
        NetworkId=network_id,
        ProposalId=proposal_id,
        VoterMemberId=member_id,
        Vote="YES",
    )
    expect(
        "InvalidRequestException",
        owner.vote_on_proposal,
        NetworkId=network_id,
        ProposalId=proposal_id,
        VoterMemberId=member_id,
        Vote="MAYBE",
    )
    expect(
        "InvalidRequestException",
        owner.create_node,
        NetworkId=network_id,
        MemberId=member_id,
        NodeConfiguration={"InstanceType": "bc.m5.4xlarge"},  # not in STARTER
    )
    for _ in range(2):
        owner.create_node(
            NetworkId=network_id,
            MemberId=member_id,
            NodeConfiguration={"InstanceType": "bc.t3.small"},
        )
    expect(
        "ResourceLimitExceededException",
        owner.create_node,
        NetworkId=network_id,
        MemberId=member_id,
        NodeConfiguration={"InstanceType": "bc.t3.small"},
    )
    assert len(owner.list_nodes(NetworkId=network_id)["Nodes"]) == 2


def test_already_exists_and_member_limit(server: ControlPlaneProcess) -> None:  # noqa: F811
    first = client(server.url, account())
    network_id, first_member = create_network(first)
    members = grow(server.url, network_id, (first, first_member), 5)  # STARTER: at most 5 members
    voters = members
    newcomer = account()
    proposal_id = first.create_proposal(
        NetworkId=network_id,
        MemberId=first_member,
        Actions={"Invitations": [{"Principal": newcomer}]},
    )["ProposalId"]
    for voter, voter_member in voters[:3]:
        voter.vote_on_proposal(
            NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=voter_member, Vote="YES"
        )
    guest = client(server.url, newcomer)
    invitation_id = guest.list_invitations()["Invitations"][0]["InvitationId"]
    expect(
        "ResourceAlreadyExistsException",
        guest.create_member,
        NetworkId=network_id,
        InvitationId=invitation_id,
        MemberConfiguration=member_config("org2"),
    )
    expect(
        "ResourceLimitExceededException",
        guest.create_member,
        NetworkId=network_id,
        InvitationId=invitation_id,
        MemberConfiguration=member_config("org6"),
    )
    assert guest.list_invitations()["Invitations"][0]["Status"] == "PENDING"  # nothing written
    expect(
        "AccessDeniedException",
        first.create_member,
        NetworkId=network_id,
        InvitationId=invitation_id,
        MemberConfiguration=member_config("org7"),
    )


def test_throttling(tmp_path: Path) -> None:
    process = ControlPlaneProcess(tmp_path / "data", {"rate_limit": 0.1, "burst": 2}).start()
    try:
        api = client(process.url, account())
        api.list_networks()
        api.list_networks()
        expect("ThrottlingException", api.list_networks)
        client(process.url, account()).list_networks()  # buckets are per account
    finally:
        process.stop()


def test_not_ready_and_the_supervisor_report(tmp_path: Path) -> None:
    process = ControlPlaneProcess(tmp_path / "data", {"reconcile": "external"}).start()
    try:
        api = client(process.url, account())
        network_id, member_id = create_network(api)
        assert (
            api.get_member(NetworkId=network_id, MemberId=member_id)["Member"]["Status"]
            == "CREATING"
        )
        expect(
            "ResourceNotReadyException",
            api.create_node,
            NetworkId=network_id,
            MemberId=member_id,
            NodeConfiguration={"InstanceType": "bc.t3.small"},
        )
        # AMB lists no ResourceNotReadyException for UpdateMember: a bad request
        message = expect(
            "InvalidRequestException",
            api.update_member,
            NetworkId=network_id,
            MemberId=member_id,
            LogPublishingConfiguration={"Fabric": {"CaLogs": {"Cloudwatch": {"Enabled": True}}}},
        )
        assert "CREATING" in message
        desired = process.internal("/internal/desired")
        assert {m["Id"]: m["AdminPassword"] for m in desired["Members"]} == {member_id: PASSWORD}
        process.internal(
            "/internal/report",
            {
                "Resource": "networks",
                "Id": network_id,
                "Status": "AVAILABLE",
                "Endpoint": "127.0.0.1:7050",
            },
        )
        process.internal(
            "/internal/report",
            {
                "Resource": "members",
                "Id": member_id,
                "Status": "AVAILABLE",
                "Endpoint": "127.0.0.1:7054",
            },
        )
        member = api.get_member(NetworkId=network_id, MemberId=member_id)["Member"]
        assert member["Status"] == "AVAILABLE"
        assert member["FrameworkAttributes"]["Fabric"]["CaEndpoint"] == "127.0.0.1:7054"
        network = api.get_network(NetworkId=network_id)["Network"]
        assert (
            network["FrameworkAttributes"]["Fabric"]["OrderingServiceEndpoint"] == "127.0.0.1:7050"
        )
        node_id = api.create_node(
            NetworkId=network_id,
            MemberId=member_id,
            NodeConfiguration={"InstanceType": "bc.t3.small"},
        )["NodeId"]
        assert api.get_node(NetworkId=network_id, NodeId=node_id)["Node"]["Status"] == "CREATING"
        logs = {"Fabric": {"PeerLogs": {"Cloudwatch": {"Enabled": True}}}}
        message = expect(
            "InvalidRequestException",
            api.update_node,
            NetworkId=network_id,
            NodeId=node_id,
            LogPublishingConfiguration=logs,
        )
        assert "CREATING" in message
        api_delete = api.delete_member
        expect("ResourceNotReadyException", api.delete_node, NetworkId=network_id, NodeId=node_id)
        api_delete(NetworkId=network_id, MemberId=member_id)
        assert (
            api.get_member(NetworkId=network_id, MemberId=member_id)["Member"]["Status"]
            == "DELETING"
        )
        assert api.get_node(NetworkId=network_id, NodeId=node_id)["Node"]["Status"] == "DELETING"
    finally:
        process.stop()


def test_pagination_of_members_votes_and_filters(server: ControlPlaneProcess) -> None:  # noqa: F811
    first = client(server.url, account())
    network_id, first_member = create_network(
        first, voting=policy(100, 24, "GREATER_THAN_OR_EQUAL_TO")
    )
    members = grow(server.url, network_id, (first, first_member), 3)
    pages = [first.list_members(NetworkId=network_id, MaxResults=2)]
    pages.append(
        first.list_members(NetworkId=network_id, MaxResults=2, NextToken=pages[0]["NextToken"])
    )
    assert [len(p["Members"]) for p in pages] == [2, 1] and "NextToken" not in pages[1]
    assert {m["Id"] for p in pages for m in p["Members"]} == {m for _, m in members}
    proposal_id = first.create_proposal(
        NetworkId=network_id,
        MemberId=first_member,
        Actions={"Invitations": [{"Principal": account()}]},
    )["ProposalId"]
    for voter, member_id in members:
        voter.vote_on_proposal(
            NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=member_id, Vote="YES"
        )
    seen, token = [], None
    while True:
        extra = {"NextToken": token} if token else {}
        page = first.list_proposal_votes(
            NetworkId=network_id, ProposalId=proposal_id, MaxResults=1, **extra
        )
        seen += [v["MemberId"] for v in page["ProposalVotes"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == [m for _, m in members]  # in the order they were cast
    expect("InvalidRequestException", first.list_members, NetworkId=network_id, Status="BOGUS")
    expect("InvalidRequestException", first.list_members, NetworkId=network_id, MaxResults=21)
    expect("InvalidRequestException", first.list_proposals, NetworkId=network_id, MaxResults=101)


def test_refused_requests_write_nothing(server: ControlPlaneProcess) -> None:  # noqa: F811
    owner = client(server.url, account())
    network_id, member_id = create_network(owner)
    proposal_id = owner.create_proposal(
        NetworkId=network_id,
        MemberId=member_id,
        Actions={"Invitations": [{"Principal": "123123123123"}]},
    )["ProposalId"]
    owner.vote_on_proposal(
        NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=member_id, Vote="YES"
    )
    stranger = client(server.url, account())
    tip = server.internal("/ping")["LedgerTip"]
    vote = {"NetworkId": network_id, "ProposalId": proposal_id, "Vote": "YES"}
    expect("AccessDeniedException", stranger.vote_on_proposal, VoterMemberId=member_id, **vote)
    expect("ResourceNotFoundException", owner.vote_on_proposal, VoterMemberId="m-NOBODY", **vote)
    expect("IllegalActionException", owner.vote_on_proposal, VoterMemberId=member_id, **vote)
    expect(
        "ResourceNotFoundException",
        owner.vote_on_proposal,
        NetworkId=network_id,
        ProposalId="p-NOPE",
        VoterMemberId=member_id,
        Vote="NO",
    )
    expect(
        "InvalidRequestException",
        owner.create_node,
        NetworkId=network_id,
        MemberId=member_id,
        NodeConfiguration={"InstanceType": "bc.x9.huge"},
    )
    expect(
        "InvalidRequestException",
        owner.create_network,
        Name="   ",
        Framework="HYPERLEDGER_FABRIC",
        FrameworkVersion="2.2",
        VotingPolicy=policy(),
        MemberConfiguration=member_config("a"),
    )
    assert server.internal("/ping")["LedgerTip"] == tip
