"""Networks: created together with their first member, seen only by those taking part.

AMB's model accepts frameworks and partial voting policies that a Fabric network cannot
run with; the checks beyond the model are here, before anything is staged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from network.controlplane import request_shapes as shapes
from network.controlplane import resources as res
from network.controlplane.endpoints import network_endpoints
from network.controlplane.errors import InvalidRequestException
from network.controlplane.operations.base import Call, Mutation, Read
from network.controlplane.operations.common import (
    checked_tags,
    created_endpoints,
    created_status,
    matches,
    networks_of,
    visible_network,
)
from network.controlplane.operations.members import stage_member
from network.controlplane.pagination import listing

THRESHOLD_FIELDS = ("ThresholdPercentage", "ProposalDurationInHours", "ThresholdComparator")


def _fabric_edition(params: Mapping[str, Any]) -> str:
    """The edition of a network we can run (Fabric, a supported version, a whole policy)."""
    if params["Framework"] != "HYPERLEDGER_FABRIC":
        raise InvalidRequestException(
            f"Framework {params['Framework']} is not offered: this control plane runs "
            "HYPERLEDGER_FABRIC networks."
        )
    if params["FrameworkVersion"] not in res.FABRIC_VERSIONS:
        raise InvalidRequestException(
            f"FrameworkVersion {params['FrameworkVersion']} is not supported; use one of "
            f"{', '.join(res.FABRIC_VERSIONS)}."
        )
    fabric = params.get("FrameworkConfiguration", {}).get("Fabric")
    if fabric is None:
        raise InvalidRequestException(
            "FrameworkConfiguration.Fabric.Edition is required for HYPERLEDGER_FABRIC."
        )
    threshold = params["VotingPolicy"].get("ApprovalThresholdPolicy", {})
    for name in THRESHOLD_FIELDS:
        if name not in threshold:
            raise InvalidRequestException(
                f"VotingPolicy.ApprovalThresholdPolicy.{name} is required."
            )
    return fabric["Edition"]


def create_network(call: Call) -> dict[str, str]:
    params = call.params
    edition = _fabric_edition(params)
    now = call.env.clock.now()
    network_id = res.new_id("networks")
    network_arn = res.arn(call.env.region, call.caller, "networks", network_id)
    network = {
        "Id": network_id,
        "Name": params["Name"],
        "Description": params.get("Description"),
        "Framework": params["Framework"],
        "FrameworkVersion": params["FrameworkVersion"],
        "FrameworkAttributes": {
            "Fabric": {
                "Edition": edition,
                **created_endpoints(call, network_endpoints(call.env.region, network_id)),
            }
        },
        "VotingPolicy": params["VotingPolicy"],
        "Status": created_status(call),
        "CreationDate": res.iso(now),
        "Tags": checked_tags(params.get("Tags"), network_arn),
        "Arn": network_arn,
        "Creator": call.caller,
    }
    call.txn.put("networks", network)
    member_id = stage_member(call, network, params["MemberConfiguration"], None)
    return {"NetworkId": network_id, "MemberId": member_id}


def get_network(call: Call, network_id: str) -> dict[str, Any]:
    return {"Network": res.project(visible_network(call, network_id), res.NETWORK)}


def list_networks(call: Call) -> dict[str, Any]:
    found = [call.txn.get("networks", n) for n in sorted(networks_of(call.txn, call.caller))]
    filters = {"name": "Name", "framework": "Framework", "status": "Status"}
    rows = [n for n in found if n is not None and matches(call.params, n, filters)]
    return listing("Networks", rows, call.params, 10, _summary)


def _summary(network: Mapping[str, Any]) -> dict[str, Any]:
    return res.project(network, res.NETWORK_SUMMARY)


OPERATIONS = (
    Mutation("CreateNetwork", "POST /networks", create_network, shapes.CreateNetworkInput),
    Read("ListNetworks", "GET /networks", list_networks, shapes.ListNetworksInput),
    Read("GetNetwork", "GET /networks/{networkId}", get_network),
)
