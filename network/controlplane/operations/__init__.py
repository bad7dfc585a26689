"""Every operation of the control plane, grouped by the resource it acts on.

Each module declares its operations (``base.Operation``); this tuple is the whole API,
in the order the REST layer registers it.
"""

from __future__ import annotations

from network.controlplane.operations import (
    audit,
    invitations,
    members,
    networks,
    nodes,
    proposals,
    supervisor,
    tags,
)
from network.controlplane.operations.base import Operation

OPERATIONS: tuple[Operation, ...] = (
    *networks.OPERATIONS,
    *members.OPERATIONS,
    *nodes.OPERATIONS,
    *proposals.OPERATIONS,
    *invitations.OPERATIONS,
    *tags.OPERATIONS,
    *audit.OPERATIONS,
    *supervisor.OPERATIONS,
)
BY_PYTHON_NAME = {operation.python_name: operation for operation in OPERATIONS}
