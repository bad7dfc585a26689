"""Tags on any resource, named by its ARN (AMB's TagResource family).

A resource the caller may not see is reported as not found rather than forbidden, so
an ARN does not reveal whether another account's resource exists.
"""

from __future__ import annotations

from typing import Any

from network.controlplane import request_shapes as shapes
from network.controlplane import resources as res
from network.controlplane.errors import ResourceNotFoundException, ResourceNotReadyException
from network.controlplane.operations.base import Call, Document, Mutation, Read
from network.controlplane.operations.common import checked_tags, participates

TAGS = "/tags/{resourceArn:.+}"  # an ARN holds slashes


def _may_see(call: Call, table: str, document: Document) -> bool:
    if table == "invitations":
        return document["Principal"] == call.caller
    if table in ("members", "nodes"):
        return document["Owner"] == call.caller
    network_id = document.get("NetworkId") or document["Id"]
    return participates(call.txn, call.caller, network_id)


def _tagged(call: Call, resource_arn: str) -> tuple[str, Document]:
    """(table, document) of the live resource the caller may see under ``resource_arn``."""
    named = res.parse_arn(resource_arn)
    document = None if named is None else call.txn.get(*named)
    if named is None or document is None or document.get("Arn") != resource_arn:
        raise ResourceNotFoundException(f"Resource {resource_arn} not found.")
    table = named[0]
    if not _may_see(call, table, document):
        raise ResourceNotFoundException(f"Resource {resource_arn} not found.")
    if document.get("Status") == "DELETED":
        raise ResourceNotReadyException(f"Resource {resource_arn} is DELETED.")
    return table, document


def tag_resource(call: Call, resource_arn: str) -> dict[str, Any]:
    table, document = _tagged(call, resource_arn)
    tags = {**document.get("Tags", {}), **call.params["Tags"]}
    call.txn.put(table, {**document, "Tags": checked_tags(tags, resource_arn)})
    return {}


def untag_resource(call: Call, resource_arn: str) -> dict[str, Any]:
    table, document = _tagged(call, resource_arn)
    keys = set(call.params["tagKeys"])
    tags = {k: v for k, v in document.get("Tags", {}).items() if k not in keys}
    call.txn.put(table, {**document, "Tags": tags})
    return {}


def list_tags_for_resource(call: Call, resource_arn: str) -> dict[str, Any]:
    return {"Tags": dict(_tagged(call, resource_arn)[1].get("Tags", {}))}


OPERATIONS = (
    Mutation("TagResource", f"POST {TAGS}", tag_resource, shapes.TagResourceInput),
    Mutation("UntagResource", f"DELETE {TAGS}", untag_resource, shapes.UntagResourceInput),
    Read("ListTagsForResource", f"GET {TAGS}", list_tags_for_resource),
)
