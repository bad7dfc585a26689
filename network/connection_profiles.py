"""Fabric common connection profiles and Caliper network configurations, built from a
member's connection file (``connection/<member>.json``).

A common connection profile (CCP) is the document fabric-network, Fabric's SDKs and
Hyperledger Caliper read to find a member's peers, CA and orderers. Certificates are
named by absolute path, like the connection file's. A Caliper
network configuration (format 2.0.0) names, per member, an identity (certificate and
key files) and the path of that member's profile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: The version of Caliper's network configuration format this module writes.
CALIPER_FORMAT = "2.0.0"


def _pem(path: str) -> dict[str, str]:
    """A ``tlsCACerts`` entry naming the certificate's file (as the member's connection
    file does: `up` writes the profile before every node's certificate exists)."""
    return {"path": path}


def _peer_name(member: str, index: int) -> str:
    """A stable, unique peer name for the profile: the gateway's order in the member's
    connection file, so the first (the one Caliper's gateway connector dials) stays first."""
    return f"peer{index}.{member}"


def _peer_entry(gateway: dict[str, str]) -> dict[str, Any]:
    """One peer as a CCP describes it: a grpcs URL, its TLS root and the name to expect
    in its certificate (both spellings the SDKs read)."""
    return {
        "url": f"grpcs://{gateway['endpoint']}",
        "tlsCACerts": _pem(gateway["tlsRootCert"]),
        "grpcOptions": {
            "ssl-target-name-override": gateway["hostnameOverride"],
            "hostnameOverride": gateway["hostnameOverride"],
        },
    }


def common_connection_profile(
    member: str, connection: dict[str, Any], ca: dict[str, str] | None = None
) -> dict[str, Any]:
    """The CCP of ``member`` from its connection file; ``ca`` (``url``, ``tlsRootCert``)
    adds the member's certificate authority."""
    gateways = connection.get("gateways") or [connection["gateway"]]
    peers = {_peer_name(member, i): _peer_entry(g) for i, g in enumerate(gateways)}
    orderers = {
        f"orderer{i}": {
            "url": f"grpcs://{o['endpoint']}",
            "tlsCACerts": _pem(o["tlsRootCert"]),
            "grpcOptions": {"ssl-target-name-override": "localhost"},
        }
        for i, o in enumerate(connection.get("orderers", []))
    }
    organization: dict[str, Any] = {"mspid": connection["mspId"], "peers": list(peers)}
    profile: dict[str, Any] = {
        "name": f"{connection['network']}-{member}",
        "version": "1.0.0",
        "client": {
            "organization": member,
            "connection": {"timeout": {"peer": {"endorser": "300"}}},
        },
        "organizations": {member: organization},
        "peers": peers,
        "orderers": orderers,
        "channels": {
            channel: {"orderers": list(orderers), "peers": {name: {} for name in peers}}
            for channel in connection.get("channels", [])
        },
    }
    client_tls = connection.get("clientTls")
    if client_tls:  # Fabric's CCP names the client's mutual-TLS key pair here
        profile["client"]["tlsCerts"] = {
            "client": {"key": {"path": client_tls["key"]}, "cert": {"path": client_tls["cert"]}}
        }
    if ca is not None:
        name = f"ca.{member}"
        organization["certificateAuthorities"] = [name]
        profile["certificateAuthorities"] = {
            name: {"url": ca["url"], "tlsCACerts": _pem(ca["tlsRootCert"])}
        }
    return profile


def caliper_network_config(
    network: str,
    members: list[tuple[dict[str, Any], Path]],
    identity: str = "user1",
) -> dict[str, Any]:
    """A Caliper network configuration for ``members``, each a connection file and the
    path of that member's CCP; the first member is the one Caliper uses by default.
    Every channel any member is on is listed with the chaincodes the files name."""
    channels: dict[str, list[str]] = {}
    for connection, _ in members:
        for chaincode, channel in connection.get("chaincodes", {}).items():
            names = channels.setdefault(channel, [])
            if chaincode not in names:
                names.append(chaincode)
    return {
        "name": f"consortium-{network}",
        "version": CALIPER_FORMAT,
        "caliper": {"blockchain": "fabric"},
        "channels": [
            {"channelName": channel, "contracts": [{"id": name} for name in names]}
            for channel, names in channels.items()
        ],
        "organizations": [
            {
                "mspid": connection["mspId"],
                "identities": {
                    "certificates": [
                        {
                            "name": identity,
                            "clientPrivateKey": {"path": connection["identities"][identity]["key"]},
                            "clientSignedCert": {
                                "path": connection["identities"][identity]["cert"]
                            },
                        }
                    ]
                },
                "connectionProfile": {"path": str(profile), "discover": True},
            }
            for connection, profile in members
        ],
    }
