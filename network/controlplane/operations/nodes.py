"""Peer nodes: each belongs to one member, which alone may create, change or delete it.

The edition decides the instance types and how many live nodes a member may run; the
availability zone must be one of the configured region's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from network.controlplane import request_shapes as shapes
from network.controlplane import resources as res
from network.controlplane.endpoints import node_endpoints
from network.controlplane.errors import (
    AccessDeniedException,
    InvalidRequestException,
    ResourceLimitExceededException,
    ResourceNotFoundException,
    ResourceNotReadyException,
)
from network.controlplane.operations.base import Call, Document, NetworkMutation, Read
from network.controlplane.operations.common import (
    LIVE_NODE,
    acting_member,
    checked_tags,
    created_endpoints,
    created_status,
    edition,
    find_network,
    listed_network,
    matches,
    removed_status,
    update_log_publishing,
    visible_network,
)
from network.controlplane.pagination import listing

DELETABLE = ("AVAILABLE", "UNHEALTHY", "FAILED", "CREATE_FAILED")


# The availability zones of the regions Amazon Managed Blockchain (Fabric) runs in. A zone
# is the region's name and one letter; "us-east-11" is not one (issue 21). A region AMB
# does not run in (a local config may name any) gets the letters every region has.
ZONES = {
    "us-east-1": "abcdef",
    "eu-west-1": "abc",
    "eu-west-2": "abc",
    "ap-southeast-1": "abc",
    "ap-northeast-1": "acd",
    "ap-northeast-2": "abcd",
}


def zones_of(region: str) -> list[str]:
    return [region + letter for letter in ZONES.get(region, "abc")]


def _placement(call: Call, network: Mapping[str, Any], member_id: str) -> tuple[str, str]:
    """(instance type, zone) of a new node, if the edition and the region offer them."""
    config = call.params["NodeConfiguration"]
    offered = edition(network)
    if config["InstanceType"] not in offered.instance_types:
        raise InvalidRequestException(
            f"NodeConfiguration.InstanceType {config['InstanceType']} is not available in "
            f"the {network['FrameworkAttributes']['Fabric']['Edition']} edition; use one "
            f"of {', '.join(offered.instance_types)}."
        )
    region = call.env.region
    zone = config.get("AvailabilityZone") or f"{region}a"
    if zone not in zones_of(region):
        raise InvalidRequestException(
            f"NodeConfiguration.AvailabilityZone {zone} is not a zone of {region}; "
            f"use one of {', '.join(zones_of(region))}."
        )
    nodes = [n for n in call.txn.where("nodes", "MemberId", member_id) if n["Status"] in LIVE_NODE]
    if len(nodes) >= offered.nodes_per_member:
        raise ResourceLimitExceededException(
            f"Member {member_id} already has {len(nodes)} nodes, the per-member limit of "
            "its network's edition."
        )
    return config["InstanceType"], zone


def create_node(call: Call, network_id: str) -> dict[str, str]:
    network = find_network(call.txn, network_id)
    if "MemberId" not in call.params:
        raise InvalidRequestException("MemberId is required for HYPERLEDGER_FABRIC nodes.")
    member_id = call.params["MemberId"]
    member = acting_member(call, network_id, member_id)
    instance_type, zone = _placement(call, network, member_id)
    config = call.params["NodeConfiguration"]
    node_id = res.new_id("nodes")
    node_arn = res.arn(call.env.region, call.caller, "nodes", node_id)
    call.txn.put(
        "nodes",
        {
            "NetworkId": network_id,
            "MemberId": member_id,
            "Id": node_id,
            "InstanceType": instance_type,
            "AvailabilityZone": zone,
            "FrameworkAttributes": {
                "Fabric": created_endpoints(
                    call, node_endpoints(call.env.region, network_id, member_id, node_id)
                )
            },
            "LogPublishingConfiguration": config.get("LogPublishingConfiguration"),
            "StateDB": config.get("StateDB", "CouchDB"),
            "KmsKeyArn": member.get("KmsKeyArn") or res.AWS_OWNED_KEY,  # AMB: inherited
            "Status": created_status(call),
            "CreationDate": res.iso(call.env.clock.now()),
            "Tags": checked_tags(call.params.get("Tags"), node_arn),
            "Arn": node_arn,
            "Owner": call.caller,
        },
    )
    return {"NodeId": node_id}


def _find_node(call: Call, network_id: str, node_id: str, member_id: str | None) -> Document:
    """The node, if it is in the network (and of ``member_id``, when one is named)."""
    node = call.txn.get("nodes", node_id)
    if node is None or node["NetworkId"] != network_id or member_id not in (None, node["MemberId"]):
        raise ResourceNotFoundException(f"Node {node_id} not found in network {network_id}.")
    return node


def _owned_node(call: Call, network_id: str, node_id: str, member_id: str | None) -> Document:
    find_network(call.txn, network_id)
    node = _find_node(call, network_id, node_id, member_id)
    if node["Owner"] != call.caller:
        raise AccessDeniedException(f"Node {node_id} belongs to another account.")
    return node


def get_node(call: Call, network_id: str, node_id: str) -> dict[str, Any]:
    visible_network(call, network_id)
    node = _find_node(call, network_id, node_id, call.params.get("memberId"))
    return {"Node": res.project(node, res.NODE)}


def list_nodes(call: Call, network_id: str) -> dict[str, Any]:
    listed_network(call, network_id)
    filters = {"memberId": "MemberId", "status": "Status"}
    nodes = call.txn.where("nodes", "NetworkId", network_id)
    rows = [n for n in nodes if matches(call.params, n, filters)]
    return listing("Nodes", rows, call.params, 20, _summary)


def _summary(node: Mapping[str, Any]) -> dict[str, Any]:
    return res.project(node, res.NODE_SUMMARY)


def update_node(call: Call, network_id: str, node_id: str) -> dict[str, Any]:
    node = _owned_node(call, network_id, node_id, call.params.get("MemberId"))
    return update_log_publishing(call, "nodes", node)


def delete_node(call: Call, network_id: str, node_id: str) -> dict[str, Any]:
    node = _owned_node(call, network_id, node_id, call.params.get("memberId"))
    if node["Status"] not in DELETABLE:
        raise ResourceNotReadyException(
            f"Node {node_id} is {node['Status']}; it cannot be deleted now."
        )
    call.txn.put("nodes", {**node, "Status": removed_status(call)})
    return {}


NODES = "/networks/{networkId}/nodes"
NODE = "/networks/{networkId}/nodes/{nodeId}"
OPERATIONS = (
    NetworkMutation("CreateNode", f"POST {NODES}", create_node, shapes.CreateNodeInput),
    Read("ListNodes", f"GET {NODES}", list_nodes, shapes.ListNodesInput),
    Read("GetNode", f"GET {NODE}", get_node, shapes.NodeQueryInput),
    NetworkMutation("UpdateNode", f"PATCH {NODE}", update_node, shapes.UpdateNodeInput),
    NetworkMutation("DeleteNode", f"DELETE {NODE}", delete_node, shapes.NodeQueryInput),
)
