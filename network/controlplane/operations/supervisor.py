"""The supervisor's side: what it must make true, and what it reports back.

These routes answer loopback callers only and act as the system account. The desired
state includes members' CA admin passwords (from ``Secrets``, never the journal),
because the supervisor bootstraps each member's CA with it.
"""

from __future__ import annotations

from typing import Any

from network.controlplane import request_shapes as shapes
from network.controlplane.endpoints import reported
from network.controlplane.errors import InvalidRequestException, ResourceNotFoundException
from network.controlplane.operations.base import Call, Mutation, Read

STATUSES = {
    "networks": shapes.NetworkStatus,
    "members": shapes.MemberStatus,
    "nodes": shapes.NodeStatus,
}
REPORT_INPUT = shapes.Struct(
    {
        "Resource": shapes.Str(enum=tuple(STATUSES)),
        "Id": shapes.ResourceIdString,
        "Status": shapes.Str(min=1, max=32),
        "Endpoint": shapes.Str(max=256),
    },
    required=("Resource", "Id", "Status"),
)


def desired_state(call: Call) -> dict[str, Any]:
    """Everything the supervisor must make true, including members' CA admin passwords."""
    members = [
        {**member, "AdminPassword": call.env.secrets.get(member["Id"])}
        for member in call.txn.rows("members")
    ]
    return {
        "Networks": call.txn.rows("networks"),
        "Members": members,
        "Nodes": call.txn.rows("nodes"),
    }


def report_status(call: Call) -> dict[str, Any]:
    """The supervisor says what actually runs: a status and, once up, an endpoint."""
    table, doc_id, status = call.params["Resource"], call.params["Id"], call.params["Status"]
    document = call.txn.get(table, doc_id)
    if document is None:
        raise ResourceNotFoundException(f"{table[:-1].title()} {doc_id} not found.")
    allowed = STATUSES[table].enum or ()
    if status not in allowed:
        raise InvalidRequestException(
            f"Status {status} is not a {table[:-1]} status; use one of {', '.join(allowed)}."
        )
    updated = {**document, "Status": status}
    endpoint = call.params.get("Endpoint")
    if endpoint:
        fabric = {**updated["FrameworkAttributes"].get("Fabric", {}), **reported(table, endpoint)}
        updated["FrameworkAttributes"] = {**updated["FrameworkAttributes"], "Fabric": fabric}
    call.txn.put(table, updated)
    return {}


OPERATIONS = (
    Read("DesiredState", "GET /internal/desired", desired_state, local=True),
    Mutation("ReportStatus", "POST /internal/report", report_status, REPORT_INPUT, local=True),
)
