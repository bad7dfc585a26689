"""Members: an account joins a network by accepting an invitation, and may leave it.

A member counts against its network's edition limit (or the configured quota) while it
is live; when the last one leaves, the network goes with it. The CA admin password is
handed to ``Secrets``, never to the journal, which cannot forget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from network.controlplane import request_shapes as shapes
from network.controlplane import resources as res
from network.controlplane.endpoints import member_endpoints
from network.controlplane.errors import (
    InvalidRequestException,
    ResourceAlreadyExistsException,
    ResourceLimitExceededException,
    ResourceNotFoundException,
)
from network.controlplane.operations.base import Call, NetworkMutation, Read
from network.controlplane.operations.common import (
    LIVE_NODE,
    acting_member,
    available,
    check_invitee,
    checked_tags,
    created_endpoints,
    created_status,
    edition,
    find_member,
    find_network,
    listed_network,
    live_members,
    matches,
    owned_member,
    removed_status,
    update_log_publishing,
    visible_network,
)
from network.controlplane.pagination import listing


def _check_room(call: Call, network: Mapping[str, Any], name: str) -> None:
    """A new member needs a free name and room under the network's member limit."""
    network_id = network["Id"]
    live = live_members(call.txn, network_id)
    if any(member["Name"] == name for member in live):
        raise ResourceAlreadyExistsException(
            f"A member named {name} already exists in network {network_id}."
        )
    limit = call.env.member_quota or edition(network).members
    if len(live) >= limit:
        raise ResourceLimitExceededException(
            f"Network {network_id} already has {len(live)} members, its limit "
            f"({network['FrameworkAttributes']['Fabric']['Edition']} edition or quota)."
        )


def stage_member(
    call: Call,
    network: Mapping[str, Any],
    config: Mapping[str, Any],
    invitation_id: str | None,
) -> str:
    """Stage a new member of ``network`` owned by the caller; returns its id."""
    fabric = config["FrameworkConfiguration"].get("Fabric")
    if fabric is None:
        raise InvalidRequestException(
            "MemberConfiguration.FrameworkConfiguration.Fabric is required for HYPERLEDGER_FABRIC."
        )
    _check_room(call, network, config["Name"])
    member_id = res.new_id("members")
    member_arn = res.arn(call.env.region, call.caller, "members", member_id)
    call.txn.put(
        "members",
        {
            "NetworkId": network["Id"],
            "Id": member_id,
            "Name": config["Name"],
            "Description": config.get("Description"),
            "FrameworkAttributes": {
                "Fabric": {
                    "AdminUsername": fabric["AdminUsername"],
                    **created_endpoints(
                        call, member_endpoints(call.env.region, network["Id"], member_id)
                    ),
                }
            },
            "LogPublishingConfiguration": config.get("LogPublishingConfiguration"),
            "Status": created_status(call),
            "CreationDate": res.iso(call.env.clock.now()),
            "Tags": checked_tags(config.get("Tags"), member_arn),
            "Arn": member_arn,
            "KmsKeyArn": config.get("KmsKeyArn") or res.AWS_OWNED_KEY,
            "Owner": call.caller,
            "InvitationId": invitation_id,
        },
    )
    call.env.secrets.put(member_id, fabric["AdminPassword"])
    return member_id


def _pending_invitation(call: Call, network_id: str, invitation_id: str) -> dict[str, Any]:
    invitation = call.txn.get("invitations", invitation_id)
    if invitation is None or invitation["NetworkId"] != network_id:
        raise ResourceNotFoundException(
            f"Invitation {invitation_id} not found for network {network_id}."
        )
    check_invitee(call, invitation)
    if invitation["Status"] != "PENDING":
        raise InvalidRequestException(
            f"InvitationId {invitation_id} is {invitation['Status']}; only a PENDING "
            "invitation can be accepted."
        )
    return invitation


def create_member(call: Call, network_id: str) -> dict[str, str]:
    network = find_network(call.txn, network_id)
    invitation_id = call.params["InvitationId"]
    invitation = _pending_invitation(call, network_id, invitation_id)
    available("Network", network, network_id)
    config = call.params["MemberConfiguration"]
    member_id = stage_member(call, network, config, invitation_id)
    call.txn.put("invitations", {**invitation, "Status": "ACCEPTED"})
    return {"MemberId": member_id}


def get_member(call: Call, network_id: str, member_id: str) -> dict[str, Any]:
    visible_network(call, network_id)
    member = find_member(call.txn, network_id, member_id)
    return {"Member": res.project(member, res.MEMBER)}


def list_members(call: Call, network_id: str) -> dict[str, Any]:
    listed_network(call, network_id)
    members = call.txn.where("members", "NetworkId", network_id)
    rows = [{**m, "IsOwned": m["Owner"] == call.caller} for m in members]
    filters = {"name": "Name", "status": "Status", "isOwned": "IsOwned"}
    shown = [row for row in rows if matches(call.params, row, filters)]
    return listing("Members", shown, call.params, 20, _summary)


def _summary(member: Mapping[str, Any]) -> dict[str, Any]:
    return res.project(member, (*res.MEMBER_SUMMARY, "IsOwned"))


def update_member(call: Call, network_id: str, member_id: str) -> dict[str, Any]:
    find_network(call.txn, network_id)
    return update_log_publishing(call, "members", owned_member(call, network_id, member_id))


def delete_member(call: Call, network_id: str, member_id: str) -> dict[str, Any]:
    find_network(call.txn, network_id)
    stage_removal(call, acting_member(call, network_id, member_id))
    return {}


def stage_removal(call: Call, member: Mapping[str, Any]) -> None:
    """A member leaves: it and its nodes go; the last member takes the network along."""
    status = removed_status(call)
    txn = call.txn
    txn.put("members", {**member, "Status": status})
    for node in txn.where("nodes", "MemberId", member["Id"]):
        if node["Status"] in LIVE_NODE:
            txn.put("nodes", {**node, "Status": status})
    if not live_members(txn, member["NetworkId"]):
        network = txn.get("networks", member["NetworkId"])
        txn.put("networks", {**network, "Status": status})


MEMBERS = "/networks/{networkId}/members"
MEMBER = "/networks/{networkId}/members/{memberId}"
OPERATIONS = (
    NetworkMutation("CreateMember", f"POST {MEMBERS}", create_member, shapes.CreateMemberInput),
    Read("ListMembers", f"GET {MEMBERS}", list_members, shapes.ListMembersInput),
    Read("GetMember", f"GET {MEMBER}", get_member),
    NetworkMutation("UpdateMember", f"PATCH {MEMBER}", update_member, shapes.UpdateMemberInput),
    NetworkMutation("DeleteMember", f"DELETE {MEMBER}", delete_member),
)
