"""A committed Fabric block, read as the rows the analytics database gets from it.

Pure: bytes in, plain values out, so the mapping (what a key's document looks like, which
transactions count, which namespaces become tables) is tested without a peer or a
database. Blocks are read through ``proto.envelope.parse_block``, the one envelope reader.

A key's document is the JSON object's own fields (so ``WHERE color = 'blue'`` works) plus
``fabric: {key, block, position, txid}``, the Fabric coordinates of the revision. A value
that is JSON but not an object (or an object with its own ``fabric`` field) is kept under
``value``; anything that is not JSON as ``{blob, length, sha256}`` (``blob`` left out
above ``BLOB_BYTES``). A JSON value whose document would pass ledgerdb's 128 KB document
limit is kept as ``{length, sha256, note}`` too: one oversized value must not stop the
node (and with it every later block of the channel).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from amazon.ion import simpleion
from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.msp import identities_pb2
from google.protobuf.message import DecodeError

from ledgerdb.limits import DOCUMENT_BYTES
from proto.blockhash import block_header_hash
from proto.envelope import Code, ParsedTx, parse_block

FABRIC = "fabric"
"""The field of every key document that holds its Fabric coordinates."""
BLOCKS_TABLE = "blocks"
TRANSACTIONS_TABLE = "transactions"
RESERVED_TABLES = frozenset({BLOCKS_TABLE, TRANSACTIONS_TABLE})
BLOB_BYTES = 100 * 1024
"""Larger non-JSON values keep only length and SHA-256 (a document is at most 128 KB)."""
MEASURE_BYTES = 32 * 1024
"""JSON values from this size on have their document's Ion size measured: a document
below it cannot reach ``DOCUMENT_BYTES`` (Ion binary is never 4x its JSON text), and
measuring every small value would cost the catch-up rate."""


@dataclass(frozen=True)
class KeyWrite:
    """One key written (``document``) or deleted (``document is None``) by a valid tx."""

    table: str
    key: str
    document: dict[str, Any] | None
    position: int = 0
    """The writing transaction's position in its block (a delete has no document)."""


@dataclass(frozen=True)
class BlockRows:
    """Everything one block writes: its ``blocks`` row, its ``transactions`` rows (valid
    or not) and the key writes of its valid transactions, in block order."""

    number: int
    header_hash: bytes
    previous_hash: bytes
    block: dict[str, Any]
    transactions: list[dict[str, Any]] = field(default_factory=list)
    writes: list[KeyWrite] = field(default_factory=list)


def table_name(namespace: str) -> str:
    """The table a chaincode namespace's keys go to: its name as a table name (see
    ``_identifier``), unless that is one of the analytics tables (a chaincode called
    ``blocks`` gets ``blocks_chaincode``)."""
    return f"{namespace}_chaincode" if namespace in RESERVED_TABLES else _identifier(namespace)


def _identifier(name: str) -> str:
    """``name`` as ledgerdb (QLDB) allows table names: letters, digits and ``_``, not
    starting with a digit. Fabric allows ``-`` in chaincode and collection names and a
    leading digit; ``-`` becomes ``_`` and a leading digit gets a ``_`` before it."""
    table = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return f"_{table}" if table[:1].isdigit() else table


def key_document(key: str, value: bytes, block: int, position: int, txid: str) -> dict:
    """The document a key's value becomes (see the module docstring)."""
    coordinates = {"key": key, "block": block, "position": position, "txid": txid}
    try:
        parsed = json.loads(value, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError, RecursionError):
        if len(value) <= BLOB_BYTES:
            return {**_digest_document(value, coordinates), "blob": value}
        return _digest_document(value, coordinates, f"not JSON and over {BLOB_BYTES} bytes")
    if isinstance(parsed, dict) and FABRIC not in parsed:
        document = {**parsed, FABRIC: coordinates}
    else:
        document = {FABRIC: coordinates, "value": parsed}
    if len(value) >= MEASURE_BYTES and _ion_size(document) > DOCUMENT_BYTES:
        return _digest_document(
            value, coordinates, f"JSON over ledgerdb's {DOCUMENT_BYTES}-byte document limit"
        )
    return document


def _digest_document(value: bytes, coordinates: dict, why: str = "") -> dict[str, Any]:
    """A value kept as its length and SHA-256; ``why`` (if any) becomes ``note``, so a
    reader knows the value was left out and why."""
    document = {
        FABRIC: coordinates,
        "length": len(value),
        "sha256": hashlib.sha256(value).hexdigest(),
    }
    if why:
        document["note"] = f"value not stored: {why}; length and sha256 identify it"
    return document


def _ion_size(document: dict[str, Any]) -> int:
    """The document's Ion binary size, as ledgerdb counts it against its limit."""
    try:
        return len(simpleion.dumps(document, binary=True))
    except (TypeError, ValueError):  # not representable: ledgerdb would refuse it anyway
        return DOCUMENT_BYTES + 1


def validation_codes(block: common_pb2.Block) -> bytes:
    """The peer's ``TRANSACTIONS_FILTER``: one validation code per transaction."""
    metadata = block.metadata.metadata
    return metadata[common_pb2.TRANSACTIONS_FILTER] if len(metadata) > 2 else b""


PrivateData = Mapping[int, rwset_pb2.TxPvtReadWriteSet]
"""Clear private writes by transaction position (``BlockAndPrivateData.private_data_map``)."""


def collection_table(namespace: str, collection: str) -> str:
    """The table of a private data collection: ``basic__assetCollection``. ``__`` is in
    no chaincode name (Fabric's ``[a-zA-Z0-9]+([-_][a-zA-Z0-9]+)*``), so the first
    ``__`` separates the chaincode from the collection."""
    return f"{_identifier(namespace)}__{_identifier(collection)}"


def block_rows(block: common_pb2.Block, private: PrivateData | None = None) -> BlockRows:
    """The rows of ``block`` (a block as the peer's Deliver serves it, filter included)
    and, from ``private``, the clear values of collections the member may read."""
    number = block.header.number
    header_hash = block_header_hash(block.header)
    codes = validation_codes(block)
    parsed = parse_block(block)
    rows = BlockRows(
        number=number,
        header_hash=header_hash,
        previous_hash=block.header.previous_hash,
        block={
            "number": number,
            "header_hash": header_hash.hex(),
            "previous_hash": block.header.previous_hash.hex(),
            "data_hash": block.header.data_hash.hex(),
            "transaction_count": len(parsed),
        },
    )
    for position, tx in enumerate(parsed):
        code = codes[position] if position < len(codes) else Code.NOT_VALIDATED
        rows.transactions.append(_transaction_row(tx, number, position, code))
        if code == Code.VALID:
            clear = _clear_writes((private or {}).get(position))
            rows.writes.extend(_key_writes(tx, number, position, clear))
    return rows


def _transaction_row(tx: ParsedTx, block: int, position: int, code: int) -> dict[str, Any]:
    header = tx.channel_header
    seconds = header.timestamp.seconds + header.timestamp.nanos / 1e9 if header else 0.0
    return {
        "txid": tx.tx_id,
        "block": block,
        "position": position,
        "type": common_pb2.HeaderType.Name(header.type) if header else "",
        "creator_msp": _creator_msp(tx),
        "chaincode": tx.chaincode_name,
        "validation_code": Code.Name(code),
        "timestamp": datetime.fromtimestamp(seconds, UTC),
    }


def _creator_msp(tx: ParsedTx) -> str:
    if tx.signature_header is None:
        return ""
    try:
        return identities_pb2.SerializedIdentity.FromString(tx.signature_header.creator).mspid
    except DecodeError:
        return ""


Clear = dict[tuple[str, str], list[kv_rwset_pb2.KVWrite]]
Coordinates = tuple[int, int, str]  # block, position, txid


def _clear_writes(private: rwset_pb2.TxPvtReadWriteSet | None) -> Clear:
    """(namespace, collection) → its clear writes, for the collections the peer served."""
    if private is None:
        return {}
    return {
        (namespace.namespace, collection.collection_name): list(
            kv_rwset_pb2.KVRWSet.FromString(collection.rwset).writes
        )
        for namespace in private.ns_pvt_rwset
        for collection in namespace.collection_pvt_rwset
    }


def _key_writes(tx: ParsedTx, block: int, position: int, clear: Clear) -> list[KeyWrite]:
    """The writes of a valid endorser transaction, system namespaces (``_lifecycle``,
    ``lscc``) left out: they are Fabric's bookkeeping, not the network's data. Private
    collections: the clear writes where the member got them, else the hashes."""
    if tx.header_type != common_pb2.ENDORSER_TRANSACTION:
        return []
    results = tx.action.chaincode_action.results  # VALID: it decodes
    coordinates: Coordinates = (block, position, tx.tx_id)
    writes = []
    for namespace in rwset_pb2.TxReadWriteSet.FromString(results).ns_rwset:
        name = namespace.namespace
        if name.startswith("_") or name == "lscc":
            continue
        public = kv_rwset_pb2.KVRWSet.FromString(namespace.rwset).writes
        writes += _clear(table_name(name), public, coordinates)
        for hashed in namespace.collection_hashed_rwset:
            table = collection_table(name, hashed.collection_name)
            if (name, hashed.collection_name) in clear:
                writes += _clear(table, clear[name, hashed.collection_name], coordinates)
            else:
                writes += _hashed(table, hashed, coordinates)
    return writes


def _clear(table: str, writes: Sequence[kv_rwset_pb2.KVWrite], at: Coordinates) -> list[KeyWrite]:
    return [
        KeyWrite(table, w.key, None if w.is_delete else key_document(w.key, w.value, *at), at[1])
        for w in writes
    ]


def _hashed(
    table: str, hashed: rwset_pb2.CollectionHashedReadWriteSet, at: Coordinates
) -> list[KeyWrite]:
    """A collection the member may not read: each key by its hash, with its value's hash."""
    block, position, txid = at
    writes = []
    for w in kv_rwset_pb2.HashedRWSet.FromString(hashed.hashed_rwset).hashed_writes:
        key = w.key_hash.hex()
        coordinates = {"key": key, "block": block, "position": position, "txid": txid}
        document = {FABRIC: coordinates, "key_hash": key, "value_hash": w.value_hash.hex()}
        writes.append(KeyWrite(table, key, None if w.is_delete else document, position))
    return writes
