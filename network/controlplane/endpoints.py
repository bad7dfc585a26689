"""The endpoints an AVAILABLE resource carries, as AMB names them.

On AMB a network is AVAILABLE with its ``OrderingServiceEndpoint``, a member with its
``CaEndpoint``, a node with its ``PeerEndpoint`` and ``PeerEventEndpoint``: AMB code
reads them as soon as the status allows. With a supervisor (``reconcile: external``)
a resource becomes AVAILABLE only when the supervisor reports the address its process
listens on. A control plane run alone has no processes, so a resource is AVAILABLE at
once with the addresses AMB would give it — same host names, same ports (30001 ordering,
30002 CA, 30003 peer, 30004 peer events) — so code written against AMB finds every
field it expects.
"""

from __future__ import annotations

from typing import Any

ORDERER_PORT, CA_PORT, PEER_PORT, PEER_EVENT_PORT = 30001, 30002, 30003, 30004


def _domain(region: str, network_id: str) -> str:
    return f"{network_id.lower()}.managedblockchain.{region}.amazonaws.com"


def network_endpoints(region: str, network_id: str) -> dict[str, str]:
    return {"OrderingServiceEndpoint": f"orderer.{_domain(region, network_id)}:{ORDERER_PORT}"}


def member_endpoints(region: str, network_id: str, member_id: str) -> dict[str, str]:
    host = f"ca.{member_id.lower()}.{_domain(region, network_id)}"
    return {"CaEndpoint": f"{host}:{CA_PORT}"}


def node_endpoints(region: str, network_id: str, member_id: str, node_id: str) -> dict[str, str]:
    host = f"{node_id.lower()}.{member_id.lower()}.{_domain(region, network_id)}"
    return {"PeerEndpoint": f"{host}:{PEER_PORT}", "PeerEventEndpoint": f"{host}:{PEER_EVENT_PORT}"}


def reported(table: str, endpoint: str) -> dict[str, Any]:
    """The fields a supervisor's report of ``endpoint`` sets: our peers serve events on
    their one port, so a node's event endpoint is its peer endpoint."""
    if table == "networks":
        return {"OrderingServiceEndpoint": endpoint}
    if table == "members":
        return {"CaEndpoint": endpoint}
    return {"PeerEndpoint": endpoint, "PeerEventEndpoint": endpoint}
