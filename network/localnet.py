"""The network `consortium up` runs under ``.consortium/``, as the governance commands
see it: where its control plane listens, its network id, its members' accounts.

A user who typed ``consortium up deploy/three-members.yaml`` should not have to copy
the control plane's URL or ``n-…``/``m-…`` ids into every ``proposal`` command: with
one network under the home folder (or ``$CONSORTIUM_NETWORK`` naming one), those
commands default to it and accept names where AMB wants ids.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from network.errors import NetworkError

HOME_VARIABLE = "CONSORTIUM_HOME"
NETWORK_VARIABLE = "CONSORTIUM_NETWORK"
_ID = re.compile(r"^(n|m|nd|p|in)-[A-Z0-9]+$")  # AMB ids; also a mistyped one


class NameNotFound(NetworkError):
    """A network or member name that matches none (or several); the message lists them."""


@dataclass(frozen=True)
class LocalNetwork:
    name: str
    endpoint: str
    network_id: str
    accounts: dict[str, str] = field(default_factory=dict)  # member name → account
    credentials: Path | None = None  # the control plane's secrets (strict SigV4)


CREDENTIALS = "control-plane/credentials"  # under a network's folder


def is_id(value: str) -> bool:
    """An AMB identifier (``n-``, ``m-``, ``nd-``, ``p-``, ``in-`` + upper-case letters
    and digits; a mistyped id stays an id, so the API answers ResourceNotFound)."""
    return bool(_ID.match(value))


def find_local(home: Path | None = None) -> LocalNetwork | None:
    """The running network under ``home`` (``$CONSORTIUM_HOME`` or ``.consortium``):
    the one there, or the one ``$CONSORTIUM_NETWORK`` names; None when it is not clear."""
    from network.locate import NetworkNotFound, networks, recorded_spec
    from network.spec import SpecError, load_spec

    home = home or Path(os.environ.get(HOME_VARIABLE) or ".consortium")
    wanted = os.environ.get(NETWORK_VARIABLE)
    known = networks(home)
    if not known or (wanted is None and len(known) != 1):
        return None
    try:
        spec = load_spec(recorded_spec(home, wanted))
        state = json.loads((home / spec.name / "state.json").read_text())
    except (NetworkNotFound, SpecError, OSError, ValueError):
        return None
    plane = spec.control_plane
    accounts = {m.name: m.account for m in spec.members}
    accounts.update({m["name"]: m["account"] for m in state.get("joined", [])})
    return LocalNetwork(
        spec.name,
        f"http://{plane.host}:{plane.port}",
        state.get("network_id", ""),
        accounts,
        home / spec.name / CREDENTIALS,
    )


def pick_by_name(rows: Iterable[dict[str, Any]], name: str, id_key: str, what: str) -> str:
    """The id of the one row named ``name`` (deleted ones only if nothing else matches)."""
    rows = list(rows)
    named = [r for r in rows if r.get("Name") == name]
    live = [r for r in named if r.get("Status") not in ("DELETING", "DELETED")] or named
    if len(live) == 1:
        return str(live[0][id_key])
    known = ", ".join(sorted({str(r.get("Name")) for r in rows})) or "none"
    if not live:
        raise NameNotFound(f"no {what} named {name!r} (known: {known})")
    raise NameNotFound(f"{len(live)} {what}s are named {name!r}; give the id")
