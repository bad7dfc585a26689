"""A peer's commit hash (block metadata slot ``COMMIT_HASH``), as Fabric's
``core/ledger/kvledger`` computes it: operators compare peers' state by it.

For every block from 1 on (or once a previous block carries one), the hash is
SHA-256(varint(len(filter)) ‖ filter ‖ update bytes ‖ previous commit hash), where the
update bytes serialize the block's state updates deterministically as Fabric's
``txmgr.Updates {repeated KVWrite}`` (``updates.proto``, not among Fabric's published
protos, so encoded here by hand): namespaces in order, each with its public writes by key
then its collections' hashed writes by collection and key hash; a namespace (collection)
is named only on its first entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from fabric_protos.common import common_pb2


@dataclass(frozen=True)
class KVWrite:
    """One entry of a block's update batch (a key hash and value hash for a collection)."""

    namespace: str
    collection: str
    key: bytes
    value: bytes | None  # None: a delete
    block: int
    tx: int


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte = number & 0x7F
        number >>= 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, value: bytes) -> bytes:
    """A length-delimited field (proto3: an empty one is left out)."""
    return _varint(number << 3 | 2) + _varint(len(value)) + value if value else b""


def order_preserving_uint64(number: int) -> bytes:
    """Fabric's ``EncodeOrderPreservingVarUint64``: a length byte, then the big-endian
    bytes without leading zeros."""
    raw = number.to_bytes(8, "big").lstrip(b"\x00")
    return bytes([len(raw)]) + raw


def _kv_write(write: KVWrite, namespace: str, collection: str) -> bytes:
    version = order_preserving_uint64(write.block) + order_preserving_uint64(write.tx)
    return b"".join(
        (
            _field(1, namespace.encode()),
            _field(2, collection.encode()),
            _field(3, write.key),
            b"\x20\x01" if write.value is None else b"",
            _field(5, write.value or b""),
            _field(6, version),
        )
    )


def updates_bytes(writes: Iterable[KVWrite]) -> bytes:
    """The update batch's bytes; ``writes`` hold each key's final write of the block."""
    ordered = sorted(writes, key=lambda w: (w.namespace, w.collection != "", w.collection, w.key))
    out = bytearray()
    previous: tuple[str, str] | None = None
    for write in ordered:
        if write.namespace == "":
            continue  # the channel config's namespace: Fabric leaves it out
        same_ns = previous is not None and previous[0] == write.namespace
        same_collection = same_ns and previous is not None and previous[1] == write.collection
        entry = _kv_write(
            write,
            "" if same_ns else write.namespace,
            "" if same_collection or not write.collection else write.collection,
        )
        out += _field(1, entry)  # never empty: the version is always there
        previous = (write.namespace, write.collection)
    return bytes(out)


def commit_hash(transactions_filter: bytes, updates: bytes, previous: bytes) -> bytes:
    data = _varint(len(transactions_filter)) + transactions_filter + updates + previous
    return hashlib.sha256(data).digest()


def commit_hash_metadata(value: bytes) -> bytes:
    """The metadata slot's bytes: ``common.Metadata {value}``."""
    return common_pb2.Metadata(value=value).SerializeToString()


def read_commit_hash(block: common_pb2.Block) -> bytes:
    """A stored block's commit hash, or b"" if it carries none."""
    metadata = block.metadata.metadata
    if len(metadata) <= common_pb2.COMMIT_HASH or not metadata[common_pb2.COMMIT_HASH]:
        return b""
    return common_pb2.Metadata.FromString(metadata[common_pb2.COMMIT_HASH]).value
