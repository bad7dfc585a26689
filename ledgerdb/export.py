"""Blocks as QLDB shows them (Ion) and as JSON lines, for people and outside verifiers.

The Ion view is exact: every hash is a blob, the timestamp an Ion timestamp, documents
are the stored Ion values, so an outside verifier can recompute every hash from it.
JSON cannot carry Ion's types, so the JSON view adds each Ion value's stored binary
(base64) next to its readable form; hashes are base64, as QLDB prints them.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import IonType
from amazon.ion.simple_types import IonPyNull
from amazon.ion.simpleion import IonPyValueModel

from ledgerdb.block import Block, EntryKind, Revision, to_timestamp
from ledgerdb.journal import Digest


def block_view(block: Block) -> dict[str, Any]:
    """The block in QLDB's shape, as Ion values; opaque entries carry a ``payload`` blob."""
    revisions = [entry.revision() for entry in block.entries if entry.kind is EntryKind.REVISION]
    return _view(block, block.transaction_info_value(), revisions)


def block_views(blocks: Iterable[Block]) -> Iterator[dict[str, Any]]:
    """``block_view`` of many blocks, for exports: the same values, decoded faster.

    Decoding the stored Ion was three quarters of an export's time. Here each block's
    stored Ion (its transactionInfo, then every revision) is read in one call, as one Ion
    stream (each stored value begins with its own version marker, which resets the symbol
    table, so the concatenation reads back value by value), and into plain Python values
    wherever they keep the Ion type (amazon.ion's ``MAY_BE_BARE``; annotated or ambiguous
    values stay IonPy): what is written from them is byte for byte what ``block_view``
    gives (``tests/unit/ledgerdb/test_export.py``). Views come one at a time: holding
    thousands of decoded blocks at once makes the garbage collector's passes the cost.
    """
    return (_fast_view(block) for block in blocks)


def _fast_view(block: Block) -> dict[str, Any]:
    stored = [block.transaction_info]
    stored += [entry.body for entry in block.entries if entry.kind is EntryKind.REVISION]
    try:
        values = simpleion.loads(
            b"".join(stored), single_value=False, value_model=IonPyValueModel.MAY_BE_BARE
        )
    except Exception:  # the value-by-value reader names what is wrong
        return block_view(block)
    if len(values) != len(stored):
        return block_view(block)
    revisions = [
        Revision(value["metadata"], value.get("data"), _hash_or_none(value.get("dataHash")))
        for value in values[1:]
    ]
    return _view(block, values[0], revisions)


def _hash_or_none(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def _view(block: Block, info: Any, revisions: Sequence[Revision]) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    stored = iter(revisions)
    for entry in block.entries:
        if entry.kind is EntryKind.PAYLOAD:
            items.append({"hash": entry.hash, "payload": entry.body})
            continue
        revision = next(stored)
        item: dict[str, Any] = {"hash": entry.hash, "metadata": revision.metadata}
        if revision.data is not None:
            item["data"] = revision.data
        elif revision.data_hash is not None:  # redacted
            item["dataHash"] = revision.data_hash
        items.append(item)
    return {
        "blockAddress": block.address.to_dict(),
        "transactionId": block.transaction_id,
        "blockTimestamp": to_timestamp(block.timestamp_micros),
        "blockHash": block.block_hash,
        "entriesHash": block.entries_hash,
        "previousBlockHash": block.previous_block_hash,
        "entriesHashList": list(block.entries_hash_list),
        "transactionInfo": info,
        "revisions": items,
    }


def block_json(block: Block, view: dict[str, Any] | None = None) -> dict[str, Any]:
    """``block_view`` as JSON, plus the stored Ion binary of every Ion value (base64)."""
    view = to_json(block_view(block) if view is None else view)
    view["transactionInfoIon"] = b64(block.transaction_info)
    for item, entry in zip(view["revisions"], block.entries, strict=True):
        if entry.kind is EntryKind.REVISION:
            item["ion"] = b64(entry.body)
    return view


def block_ion_text(block: Block, view: dict[str, Any] | None = None) -> str:
    shown = block_view(block) if view is None else view
    return simpleion.dumps(shown, binary=False, omit_version_marker=True)


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
    if value is None or isinstance(value, IonPyNull):  # any Ion null, typed or not
        return None
    if getattr(value, "ion_type", None) is IonType.BOOL:  # IonPyBool is an int subclass
        return bool(value)
    if isinstance(value, bool | int | float | str):
        return value if not isinstance(value, str) else str(value)
    return str(value)
