"""AMB-style pagination: ``MaxResults`` and an opaque ``NextToken``.

The token is the sort key of the last row returned (base64 of JSON), not an offset, so
pages stay stable while rows are added between calls.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from network.controlplane.errors import InvalidRequestException


def _encode_token(key: Sequence[str]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


def _decode_token(token: str) -> tuple[str, ...]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequestException(f"nextToken '{token}' is not a token we issued") from None
    if not isinstance(key, list) or not all(isinstance(part, str) for part in key):
        raise InvalidRequestException(f"nextToken '{token}' is not a token we issued")
    return tuple(key)


def paginate(
    rows: Iterable[Mapping[str, Any]],
    key: Callable[[Mapping[str, Any]], tuple[str, ...]],
    max_results: int | None,
    next_token: str | None,
    limit: int,
) -> tuple[list[Mapping[str, Any]], str | None]:
    """One page in a stable order; the token is the sort key of the last row returned."""
    ordered = sorted(rows, key=key)
    if next_token:
        after = _decode_token(next_token)
        ordered = [row for row in ordered if key(row) > after]
    size = max_results or limit
    page = ordered[:size]
    token = _encode_token(key(page[-1])) if len(ordered) > size else None
    return page, token


def by_creation(row: Mapping[str, Any]) -> tuple[str, ...]:
    return (row["CreationDate"], row.get("Id") or row.get("ProposalId") or row["InvitationId"])


def listing(
    key: str,
    rows: Iterable[Mapping[str, Any]],
    params: Mapping[str, Any],
    limit: int,
    show: Callable[[Mapping[str, Any]], Any],
    order: Callable[[Mapping[str, Any]], tuple[str, ...]] = by_creation,
) -> dict[str, Any]:
    """A List… answer: one page of ``rows`` under ``key``, and a NextToken if more follow."""
    page, token = paginate(rows, order, params.get("maxResults"), params.get("nextToken"), limit)
    answer: dict[str, Any] = {key: [show(row) for row in page]}
    if token:
        answer["NextToken"] = token
    return answer
