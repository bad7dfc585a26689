"""Each member's own gateway, for requests a member sends on its own ingress topics
(``…/<channel>/members/<member>/submit/<chaincode>/<function>``): the bridge submits
them as that member, so a member submits as itself and never as another.

The gateway is opened from the member's connection file in the folder ``consortium up``
writes them to (``connection/<member>.json``) on the member's first request, and opened
again when the file's content changes (certificate rotation, a member invited back; the
supervisor rewrites every file on each reconcile pass, so its time stamp says nothing). A member
voted in after the bridge started is found the same way, without a restart; one voted
out has no file any more, and its requests are refused (the broker's ACL refuses them
first).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from network.gateway_client import GatewayClient
from network.mqtt.errors import IngressError

_MEMBER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class MemberGateways:
    """Gateways by member name, each as the member's ``identity``."""

    def __init__(self, connections: Path, identity: str) -> None:
        self.connections = connections
        self.identity = identity
        self._open: dict[str, tuple[str, GatewayClient]] = {}
        self._retired: list[GatewayClient] = []  # replaced: requests may still be on them

    async def gateway(self, member: str) -> GatewayClient:
        """``member``'s gateway; ``IngressError`` when no such member submits here."""
        path = self._file(member)
        try:
            text = path.read_text()
        except OSError:
            await self._forget(member)
            raise IngressError("topic", f"{member!r} is not a member of this network") from None
        cached = self._open.get(member)
        if cached is not None and cached[0] == text:
            return cached[1]
        if cached is not None:  # closed at the end: a request in flight keeps its channel
            self._retired.append(self._open.pop(member)[1])
        try:
            client = GatewayClient.from_connection(json.loads(text), self.identity)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IngressError("topic", f"{member!r} cannot submit here: {exc}") from None
        self._open[member] = (text, client)
        return client

    def _file(self, member: str) -> Path:
        if not _MEMBER.match(member):  # it becomes a file name: no paths
            raise IngressError("topic", f"{member!r} is not a member name")
        return self.connections / f"{member}.json"

    async def _forget(self, member: str) -> None:
        cached = self._open.pop(member, None)
        if cached is not None:
            await cached[1].close()

    async def close(self) -> None:
        for member in list(self._open):
            await self._forget(member)
        for client in self._retired:
            await client.close()
        self._retired.clear()
