"""``host:port`` as the bridge config, the network spec and the CLI accept it (IPv6 hosts in
brackets)."""

from __future__ import annotations

import re
from typing import Any

_ADDRESS = re.compile(r"^(?P<host>[A-Za-z0-9.:_-]+|\[[0-9a-fA-F:]+\]):(?P<port>\d{1,5})$")


def parse_address(text: Any) -> tuple[str, int]:
    """``host:port`` → (host, port), or ValueError naming what is wrong."""
    match = _ADDRESS.match(str(text))
    if not match or not 1 <= int(match["port"]) <= 65535:
        raise ValueError(f"{text!r} is not host:port")
    return match["host"].strip("[]"), int(match["port"])
