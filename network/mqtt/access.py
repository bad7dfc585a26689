"""Who may do what on the network's MQTT broker: users, passwords and topic ACLs.

``consortium up`` runs Mosquitto with TLS, no anonymous clients, one user per member and
one for the bridge. The bridge publishes every event and reads the ingress topics. A
member reads the events of its own channels (blocks, transactions, chaincode events)
and the network's governance events; the ingress member — the one whose identity the
bridge submits with — alone publishes on the submit topics of its channels and reads
their replies, and every member publishes on its own ``…/members/<member>/submit/…``
topics, which the bridge submits as that member. So org2 cannot submit as org1: the
broker refuses its publish on org1's topics, and the bridge never sees it.

Passwords are stored the way ``mosquitto_passwd`` stores them (``$7$``: PBKDF2-SHA512,
101 iterations, a 12-byte salt), so the file needs no Mosquitto tool to write.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from network.mqtt import topics

BRIDGE_USER = "consortium-bridge"
_ITERATIONS = 101


@dataclass(frozen=True)
class Login:
    """How one client signs in: user name, password, and the broker's TLS root."""

    username: str
    password: str
    ca_file: str

    def as_json(self) -> dict[str, str]:
        return {"username": self.username, "password": self.password, "tlsRootCert": self.ca_file}


def new_password() -> str:
    return secrets.token_urlsafe(24)


def password_line(username: str, password: str, salt: bytes | None = None) -> str:
    """One line of a Mosquitto password file for ``username``."""
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS)
    encoded = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"{username}:$7${_ITERATIONS}${encoded[0]}${encoded[1]}\n"


def acl(network: str, members: Mapping[str, Sequence[str]], ingress_member: str | None) -> str:
    """A Mosquitto ACL file: ``members`` maps each member (its MQTT user) to its channels.
    With an ingress (``ingress_member`` set), every member also publishes on its own
    submit topics of its channels and reads their replies; the bridge submits those as
    that member."""
    root = f"{topics.ROOT}/{topics.level(network)}"
    lines = [f"user {BRIDGE_USER}", f"topic readwrite {root}/#", ""]
    for member, channels in members.items():
        lines.append(f"user {member}")
        lines.append(f"topic read {root}/governance/#")
        for channel in channels:
            prefix = topics.prefix(network, channel)
            lines += [f"topic read {prefix}/{kind}" for kind in ("blocks", "tx/+")]
            lines.append(f"topic read {prefix}/chaincode/+/+")
            if member == ingress_member:
                lines.append(f"topic write {prefix}/submit/+/+")
                lines.append(f"topic read {prefix}/result/+")
            if ingress_member is not None:
                own = topics.member_prefix(network, channel, member)
                lines += [f"topic write {own}/submit/+/+", f"topic read {own}/result/+"]
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True)
class BrokerFiles:
    """The files a secured broker reads: its TLS certificate, key and root, the password
    file and the ACL file."""

    cert: Path
    key: Path
    ca: Path
    passwords: Path
    acl: Path

    def listener(self, host: str, port: int) -> str:
        """Mosquitto listener lines: TLS only, signed-in users only, topics per the ACL."""
        return (
            f"listener {port} {host}\n"
            f"certfile {self.cert}\nkeyfile {self.key}\ncafile {self.ca}\n"
            "allow_anonymous false\n"
            f"password_file {self.passwords}\n"
            f"acl_file {self.acl}\n"
        )
