"""Invitations: issued by approved proposals, seen and answered by the invited account.

An invitation is accepted by creating a member with it (``members.py``); here the
invitee lists its invitations, each with a summary of the network it opens, or
rejects one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from network.controlplane import request_shapes as shapes
from network.controlplane import resources as res
from network.controlplane.errors import IllegalActionException, ResourceNotFoundException
from network.controlplane.operations.base import Call, Mutation, Read
from network.controlplane.operations.common import check_invitee
from network.controlplane.pagination import listing


def list_invitations(call: Call) -> dict[str, Any]:
    rows = call.txn.where("invitations", "Principal", call.caller)

    def show(invitation: Mapping[str, Any]) -> dict[str, Any]:
        shown = res.project(invitation, res.INVITATION)
        network = call.txn.get("networks", invitation["NetworkId"])
        shown["NetworkSummary"] = res.project(network, res.NETWORK_SUMMARY)
        return shown

    return listing("Invitations", rows, call.params, 100, show)


def reject_invitation(call: Call, invitation_id: str) -> dict[str, Any]:
    invitation = call.txn.get("invitations", invitation_id)
    if invitation is None:
        raise ResourceNotFoundException(f"Invitation {invitation_id} not found.")
    check_invitee(call, invitation)
    if invitation["Status"] != "PENDING":
        raise IllegalActionException(
            f"Invitation {invitation_id} is {invitation['Status']}; only a PENDING "
            "invitation can be rejected."
        )
    call.txn.put("invitations", {**invitation, "Status": "REJECTED"})
    return {}


OPERATIONS = (
    Read("ListInvitations", "GET /invitations", list_invitations, shapes.PageInput),
    Mutation("RejectInvitation", "DELETE /invitations/{invitationId}", reject_invitation),
)
