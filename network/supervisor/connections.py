"""One connection file per member, for any Fabric gateway client."""

from __future__ import annotations

import json

from network.supervisor.base import SupervisorBase


class ConnectionFiles(SupervisorBase):
    """One connection file per member, for any Fabric gateway client."""

    def write_connection_files(self) -> None:
        folder = self.home.root / "connection"
        folder.mkdir(parents=True, exist_ok=True)
        for member in self.members:
            peer = member.peers[0]
            base = self.home.member(member.name)
            identities = {}
            for user in ("user1", "orgadmin"):
                msp = base / "users" / user / "msp"
                identities[user] = {
                    "cert": str(next((msp / "signcerts").iterdir()).resolve()),
                    "key": str(next((msp / "keystore").iterdir()).resolve()),
                }
            channel = next(
                (c.name for c in self.spec.channels if member.name in self.channel_members(c)),
                "",
            )
            connection = {
                "network": self.spec.name,
                "channel": channel,
                "mspId": member.mspid,
                "gateway": {
                    "endpoint": f"{peer.host}:{peer.port}",
                    "tlsRootCert": str((base / "peers" / peer.name / "tls" / "ca.crt").resolve()),
                    "hostnameOverride": peer.host,
                },
                "identities": identities,
            }
            (folder / f"{member.name}.json").write_text(json.dumps(connection, indent=2))
