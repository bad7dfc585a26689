"""Small JSON files an operator hands to a ledgerdb server (credentials, policies).

They are read once at start-up and refused as a whole, naming the option and the file, so
a typo stops the server before it serves anything instead of failing a request later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledgerdb.errors import InvalidInput


def load_json_object(
    path: Path,
    option: str,
    shape: str,
    valid: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> dict[str, Any]:
    """The JSON object in ``path``; ``InvalidInput`` naming ``option`` and ``path`` if the
    file is unreadable, not JSON, not an object, or fails ``valid`` (it must be ``shape``)."""
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{option} {path}: not a readable JSON file: {exc}") from None
    if not isinstance(value, dict) or not valid(value):
        raise InvalidInput(f"{option} {path}: must be {shape}")
    return value
