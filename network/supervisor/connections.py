"""One connection file per member, for any Fabric gateway client."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from network.connection_profiles import common_connection_profile
from network.supervisor.base import SupervisorBase
from network.supervisor.home import write_atomically

PROFILES = "ccp"
"""The folder under ``connection/`` holding each member's common connection profile."""


class ConnectionFiles(SupervisorBase):
    """One connection file per member, for any Fabric gateway client."""

    def write_connection_files(self) -> None:
        """``connection/<member>.json``: the member's gateway peers (``gateway`` is the
        first; ``gateways`` lists all, so a client can fail over), its channels, which
        channel each of its chaincodes is on, every ordering node, and its identities;
        and ``ccp/<member>.json``, the same as a Fabric common connection profile (what
        fabric-network and Caliper read; in a folder of their own so that whatever lists
        ``connection/*.json`` finds members only)."""
        folder = self.home.root / "connection"
        folder.mkdir(parents=True, exist_ok=True)
        for member in self.members:
            if not member.peers:
                continue
            base = self.home.member(member.name)
            identities = {}
            for user in ("user1", "orgadmin"):
                msp = base / "users" / user / "msp"
                identities[user] = {
                    "cert": str(next((msp / "signcerts").iterdir()).resolve()),
                    "key": str(next((msp / "keystore").iterdir()).resolve()),
                    **tls_files(base / "users" / user / "tls"),
                }
            channels = [
                c.name for c in self.spec.channels if member.name in self.channel_members(c)
            ]
            gateways = [
                {
                    "endpoint": f"{peer.host}:{peer.port}",
                    "tlsRootCert": str((base / "peers" / peer.name / "tls" / "ca.crt").resolve()),
                    "hostnameOverride": tls_server_name(peer.host),
                }
                for peer in member.peers
            ]
            connection = {
                "network": self.spec.name,
                "channel": channels[0] if channels else "",
                "channels": channels,
                "chaincodes": {
                    name: channel
                    for name, channel in self.chaincode_channels().items()
                    if channel in channels
                },
                "mspId": member.mspid,
                "gateway": gateways[0],
                "gateways": gateways,
                "orderers": [  # every ordering node (a cluster has several)
                    {
                        "endpoint": f"{o.host}:{o.port}",
                        "tlsRootCert": str(
                            (self.home.root / "ordering" / o.name / "tls" / "ca.crt").resolve()
                        ),
                    }
                    for o in self.spec.orderers
                ],
                "identities": identities,
            }
            if "tlsCert" in identities["user1"]:  # what a client of the member presents
                user1 = identities["user1"]
                connection["clientTls"] = {"cert": user1["tlsCert"], "key": user1["tlsKey"]}
            login = self.mqtt_login(member.name)
            if login is not None and self.spec.events is not None:
                events = self.spec.events
                connection["mqtt"] = {
                    "endpoint": f"{events.broker_host}:{events.broker_port}",
                    **login.as_json(),
                }
            write_atomically(folder / f"{member.name}.json", json.dumps(connection, indent=2))
            ca = {
                "url": f"https://{member.ca.host}:{member.ca.port}",
                "tlsRootCert": str((base / "ca" / "tlsca-cert.pem").resolve()),
            }
            profile = common_connection_profile(member.name, connection, ca)
            profile_text = json.dumps(profile, indent=2)
            write_atomically(folder / PROFILES / f"{member.name}.json", profile_text)


def tls_files(folder: Path) -> dict[str, str]:
    """``tlsCert``/``tlsKey``: a user's TLS client certificate and key (mutual TLS),
    nothing for a user enrolled before mutual TLS."""
    cert, key = folder / "client.crt", folder / "client.key"
    if not (cert.is_file() and key.is_file()):
        return {}
    return {"tlsCert": str(cert.resolve()), "tlsKey": str(key.resolve())}


def tls_server_name(host: str) -> str:
    """The name a client should expect in the peer's TLS certificate. Node's TLS sends
    it as SNI, which RFC 6066 forbids for an IP address (Node warns on every
    connection), so for an IP it is ``localhost``, which every node certificate `up`
    issues also names."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return "localhost"
