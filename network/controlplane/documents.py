"""Documents as the API shapes them: plain Python read back from Ion, nulls left out.

Kept apart from the database so the client (``governance history``) can compare a
journal revision with the document a server showed without loading the database.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from amazon.ion.core import IonType


def plain(value: Any) -> Any:
    """An Ion value read back as plain Python (dict, list, str, int, bool, None)."""
    ion_type = getattr(value, "ion_type", None)
    if value is None or ion_type is IonType.NULL or getattr(value, "is_null", False):
        return None
    if ion_type is IonType.BOOL:
        return bool(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def compact(value: Any) -> Any:
    """A document without its null members: absent and null mean the same in AMB's shapes."""
    if isinstance(value, Mapping):
        return {key: compact(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [compact(item) for item in value]
    return value
