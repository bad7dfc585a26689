"""Which network a command means when the user names none.

Fabric and AMB users type ``consortium status`` or ``consortium connection org1`` without
a spec file: ``up`` records the spec's absolute path in the network's folder, and these
helpers find the one network under the home folder (or the one ``--network`` names).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from network.errors import NetworkError

STATE_FILE = "state.json"
SPEC_KEY = "spec_file"


class NetworkNotFound(NetworkError):
    """No network, or more than one, matches; the message says which exist."""


class MemberNotFound(NetworkError):
    """The network holds no connection file for the member: not a member, or never up."""


def networks(home: Path) -> list[str]:
    """The networks under ``home``: folders holding a state file."""
    if not home.is_dir():
        return []
    return sorted(p.name for p in home.iterdir() if (p / STATE_FILE).is_file())


def network_folder(home: Path, network: str | None) -> Path:
    """The named network's folder, or the only one's."""
    known = networks(home)
    if network is None:
        if not known:
            raise NetworkNotFound(
                f"no network runs under {home} (no {home}/<network>/state.json); start one "
                "with `consortium up deploy/two-members.yaml`, or pass --home"
            )
        if len(known) != 1:
            listed = ", ".join(known) or "none"
            raise NetworkNotFound(
                f"{home} holds {len(known)} networks ({listed}); name one with --network"
            )
        network = known[0]
    folder = home / network
    if network not in known:
        raise NetworkNotFound(
            f"no network {network!r} under {home} (networks: {', '.join(known) or 'none'})"
        )
    return folder


def recorded_spec(home: Path, network: str | None) -> Path:
    """The spec file ``up`` ran for the network (recorded in its state file)."""
    folder = network_folder(home, network)
    state = json.loads((folder / STATE_FILE).read_text())
    spec = state.get(SPEC_KEY)
    if not spec:
        raise NetworkNotFound(
            f"network {folder.name!r} was started before specs were recorded; pass SPEC"
        )
    if not Path(spec).is_file():
        raise NetworkNotFound(f"network {folder.name!r} was started from {spec}, which is gone")
    return Path(spec)


def connection_file(home: Path, network: str | None, member: str) -> dict[str, Any]:
    """The member's connection file of the named network, or of the only one.

    Here, not in a command, so that every command that talks to a member's gateway
    (``invoke``, ``tx``, ``events``) finds it the same way."""
    folder = network_folder(home, network)
    path = folder / "connection" / f"{member}.json"
    if not path.exists():
        raise MemberNotFound(f"no member {member!r} in network {folder.name!r} (no {path})")
    return json.loads(path.read_text())
