"""What the resources' operations share: AMB's access rules and lifecycle conventions.

Each lookup raises AMB's error type for its failure (not found, another account's, not
AVAILABLE), so an operation states its checks as a few calls in order, and one failure
reads the same whichever operation meets it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from network.controlplane import resources as res
from network.controlplane.errors import (
    AccessDeniedException,
    InvalidRequestException,
    ResourceNotFoundException,
    ResourceNotReadyException,
    TooManyTagsException,
)
from network.controlplane.ledger import Txn
from network.controlplane.operations.base import Call, Document

LIVE_MEMBER = ("CREATING", "AVAILABLE", "UPDATING")
LIVE_NODE = ("CREATING", "AVAILABLE", "UPDATING", "UNHEALTHY", "FAILED")
MAX_TAGS = 50


# ---- networks and who takes part ---------------------------------------------------------


def find_network(txn: Txn, network_id: str) -> Document:
    found = txn.get("networks", network_id)
    if found is None or found["Status"] == "DELETED":
        raise ResourceNotFoundException(f"Network {network_id} not found.")
    return found


def networks_of(txn: Txn, caller: str) -> set[str]:
    """The networks ``caller`` takes part in: a live member, or a PENDING invitation."""
    owned = {
        m["NetworkId"] for m in txn.where("members", "Owner", caller) if m["Status"] != "DELETED"
    }
    invited = {
        i["NetworkId"]
        for i in txn.where("invitations", "Principal", caller)
        if i["Status"] == "PENDING"
    }
    return owned | invited


def participates(txn: Txn, caller: str, network_id: str) -> bool:
    if any(
        m["NetworkId"] == network_id and m["Status"] != "DELETED"
        for m in txn.where("members", "Owner", caller)
    ):
        return True
    return any(
        i["NetworkId"] == network_id and i["Status"] == "PENDING"
        for i in txn.where("invitations", "Principal", caller)
    )


def visible_network(call: Call, network_id: str) -> Document:
    """The network, if the caller may see it (AMB: a member of it, or invited to it)."""
    found = find_network(call.txn, network_id)
    if not participates(call.txn, call.caller, network_id):
        _not_taking_part(call, network_id)
    return found


def listed_network(call: Call, network_id: str) -> Document:
    """The network whose members, nodes or votes the caller lists.

    AMB lists no ResourceNotFoundException for ListMembers, ListNodes and
    ListProposalVotes: to a caller, a network that does not exist is one it takes no
    part in, so both answer AccessDeniedException.
    """
    found = call.txn.get("networks", network_id)
    if found is None or found["Status"] == "DELETED":
        _not_taking_part(call, network_id)
    if not participates(call.txn, call.caller, network_id):
        _not_taking_part(call, network_id)
    return found


def _not_taking_part(call: Call, network_id: str) -> NoReturn:
    raise AccessDeniedException(
        f"Account {call.caller} is neither a member of nor invited to network {network_id}."
    )


def edition(network_doc: Mapping[str, Any]) -> res.Edition:
    return res.EDITIONS[network_doc["FrameworkAttributes"]["Fabric"]["Edition"]]


# ---- members -----------------------------------------------------------------------------


def find_member(txn: Txn, network_id: str, member_id: str) -> Document:
    found = txn.get("members", member_id)
    if found is None or found["NetworkId"] != network_id:
        raise ResourceNotFoundException(f"Member {member_id} not found in network {network_id}.")
    return found


def owned_member(call: Call, network_id: str, member_id: str) -> Document:
    """The member, if the caller owns it: only the owner acts for a member."""
    found = find_member(call.txn, network_id, member_id)
    if found["Owner"] != call.caller:
        raise AccessDeniedException(
            f"Member {member_id} belongs to another account; only its owner may act for it."
        )
    if found["Status"] == "DELETED":
        raise ResourceNotFoundException(f"Member {member_id} was deleted.")
    return found


def acting_member(call: Call, network_id: str, member_id: str) -> Document:
    """The caller's member, AVAILABLE to act (update, leave, run nodes, propose)."""
    found = owned_member(call, network_id, member_id)
    available("Member", found, member_id)
    return found


def live_members(txn: Txn, network_id: str) -> list[Document]:
    """Members that count (electorate, limits), as the transaction would leave them."""
    members = sorted(txn.where("members", "NetworkId", network_id), key=lambda m: m["Id"])
    return [m for m in members if m["Status"] in LIVE_MEMBER]


def check_invitee(call: Call, invitation: Mapping[str, Any]) -> None:
    """Only the invited account may accept or reject an invitation."""
    if invitation["Principal"] != call.caller:
        raise AccessDeniedException(
            f"Invitation {invitation['InvitationId']} was issued to another account, "
            f"not {call.caller}."
        )


# ---- lifecycle ---------------------------------------------------------------------------


def available(kind: str, document: Mapping[str, Any], doc_id: str) -> None:
    if document["Status"] != "AVAILABLE":
        raise ResourceNotReadyException(
            f"{kind} {doc_id} is {document['Status']}; it must be AVAILABLE."
        )


def created_status(call: Call) -> str:
    """With no supervisor to report, a new resource is AVAILABLE at once."""
    return "AVAILABLE" if call.env.reconcile == "immediate" else "CREATING"


def created_endpoints(call: Call, endpoints: dict[str, str]) -> dict[str, str]:
    """``endpoints`` for a resource AVAILABLE at once (no supervisor); none for one that
    waits for its supervisor to report where its process listens."""
    return endpoints if call.env.reconcile == "immediate" else {}


def removed_status(call: Call) -> str:
    """With no supervisor to report, a removed resource is DELETED at once."""
    return "DELETED" if call.env.reconcile == "immediate" else "DELETING"


def checked_tags(tags: Mapping[str, str] | None, arn: str) -> dict[str, str]:
    tags = dict(tags or {})
    if len(tags) > MAX_TAGS:
        raise TooManyTagsException(f"{arn or 'the resource'} may carry at most {MAX_TAGS} tags.")
    return tags


def update_log_publishing(call: Call, table: str, document: Mapping[str, Any]) -> dict[str, Any]:
    """UpdateMember and UpdateNode change one thing: where the resource publishes logs.

    Only an AVAILABLE resource changes. AMB lists no ResourceNotReadyException for
    either operation, so any other status is InvalidRequestException.
    """
    if document["Status"] != "AVAILABLE":
        kind = {"members": "Member", "nodes": "Node"}[table]
        raise InvalidRequestException(
            f"{kind} {document['Id']} is {document['Status']}; only an AVAILABLE "
            f"{kind.lower()} can be updated."
        )
    if "LogPublishingConfiguration" in call.params:
        updated = {
            **document,
            "LogPublishingConfiguration": call.params["LogPublishingConfiguration"],
        }
        call.txn.put(table, updated)
    return {}


def matches(params: Mapping[str, Any], row: Mapping[str, Any], filters: Mapping[str, str]) -> bool:
    """A list's filters: each query member given (``status``) must equal its field."""
    return all(params.get(query) in (None, row[field]) for query, field in filters.items())
