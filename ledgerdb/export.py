"""Blocks as QLDB shows them (Ion) and as JSON lines, for people and outside verifiers.

The Ion view is exact: every hash is a blob, the timestamp an Ion timestamp, documents
are the stored Ion values, so an outside verifier can recompute every hash from it.
JSON cannot carry Ion's types, so the JSON view adds each Ion value's stored binary
(base64) next to its readable form; hashes are base64, as QLDB prints them.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from amazon.ion import simpleion

from ledgerdb.block import Block, EntryKind, to_timestamp
from ledgerdb.journal import Digest


def block_view(block: Block) -> dict[str, Any]:
    """The block in QLDB's shape, as Ion values; opaque entries carry a ``payload`` blob."""
    revisions: list[dict[str, Any]] = []
    for entry in block.entries:
        if entry.kind is EntryKind.PAYLOAD:
            revisions.append({"hash": entry.hash, "payload": entry.body})
            continue
        revision = entry.revision()
        item: dict[str, Any] = {"hash": entry.hash, "metadata": revision.metadata}
        if revision.data is not None:
            item["data"] = revision.data
        elif revision.data_hash is not None:  # redacted
            item["dataHash"] = revision.data_hash
        revisions.append(item)
    return {
        "blockAddress": block.address.to_dict(),
        "transactionId": block.transaction_id,
        "blockTimestamp": to_timestamp(block.timestamp_micros),
        "blockHash": block.block_hash,
        "entriesHash": block.entries_hash,
        "previousBlockHash": block.previous_block_hash,
        "entriesHashList": list(block.entries_hash_list),
        "transactionInfo": block.transaction_info_value(),
        "revisions": revisions,
    }


def block_json(block: Block) -> dict[str, Any]:
    """``block_view`` as JSON, plus the stored Ion binary of every Ion value (base64)."""
    view = to_json(block_view(block))
    view["transactionInfoIon"] = b64(block.transaction_info)
    for item, entry in zip(view["revisions"], block.entries, strict=True):
        if entry.kind is EntryKind.REVISION:
            item["ion"] = b64(entry.body)
    return view


def block_ion_text(block: Block) -> str:
    return simpleion.dumps(block_view(block), binary=False, omit_version_marker=True)


def digest_json(digest: Digest) -> dict[str, Any]:
    return {"digest": b64(digest.digest), "digestTipAddress": digest.tip.to_dict()}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def to_json(value: Any) -> Any:
    """An Ion value as JSON: blobs base64, timestamps ISO 8601, decimals as numbers."""
    if isinstance(value, bytes | bytearray):
        return b64(bytes(value))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value if not isinstance(value, str) else str(value)
    return str(value)
