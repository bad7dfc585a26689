"""A transaction's read/write set, in a form tests can assert on and Fabric's protobuf.

``TxRWSet.to_proto`` gives ``rwset.TxReadWriteSet`` exactly as a Fabric endorser puts it
in a proposal response: namespaces and keys sorted, reads carrying (block, tx) versions,
private writes present only as SHA-256 hashes (the clear values go in ``to_private_proto``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2

from chaincode.version import Version


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass
class RangeQuery:
    """What a range scan saw, so validation can detect phantoms."""

    start: str
    end: str
    exhausted: bool
    reads: list[tuple[str, Version]] = field(default_factory=list)


@dataclass
class CollectionRWSet:
    reads: dict[str, Version | None] = field(default_factory=dict)
    writes: dict[str, bytes | None] = field(default_factory=dict)
    purges: set[str] = field(default_factory=set)
    metadata_writes: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def has_writes(self) -> bool:
        return bool(self.writes or self.metadata_writes)

    def hashed_proto(self) -> kv_rwset_pb2.HashedRWSet:
        return kv_rwset_pb2.HashedRWSet(
            hashed_reads=[
                kv_rwset_pb2.KVReadHash(key_hash=sha256(key.encode()), version=_version(v))
                for key, v in sorted(self.reads.items())
            ],
            hashed_writes=[
                kv_rwset_pb2.KVWriteHash(
                    key_hash=sha256(key.encode()),
                    is_delete=value is None,
                    value_hash=b"" if value is None else sha256(value),
                    is_purge=key in self.purges,
                )
                for key, value in sorted(self.writes.items())
            ],
            metadata_writes=[
                kv_rwset_pb2.KVMetadataWriteHash(
                    key_hash=sha256(key.encode()), entries=_entries(entries)
                )
                for key, entries in sorted(self.metadata_writes.items())
            ],
        )

    def private_proto(self) -> kv_rwset_pb2.KVRWSet:
        return kv_rwset_pb2.KVRWSet(
            writes=_kv_writes(self.writes), metadata_writes=_metadata_writes(self.metadata_writes)
        )


@dataclass
class NamespaceRWSet:
    reads: dict[str, Version | None] = field(default_factory=dict)
    range_queries: list[RangeQuery] = field(default_factory=list)
    writes: dict[str, bytes | None] = field(default_factory=dict)
    metadata_writes: dict[str, dict[str, bytes]] = field(default_factory=dict)
    collections: dict[str, CollectionRWSet] = field(default_factory=dict)

    def collection(self, name: str) -> CollectionRWSet:
        return self.collections.setdefault(name, CollectionRWSet())

    def public_proto(self) -> kv_rwset_pb2.KVRWSet:
        return kv_rwset_pb2.KVRWSet(
            reads=[
                kv_rwset_pb2.KVRead(key=key, version=_version(v))
                for key, v in sorted(self.reads.items())
            ],
            range_queries_info=[_range_query_info(rq) for rq in self.range_queries],
            writes=_kv_writes(self.writes),
            metadata_writes=_metadata_writes(self.metadata_writes),
        )


@dataclass
class TxRWSet:
    namespaces: dict[str, NamespaceRWSet] = field(default_factory=dict)

    def namespace(self, name: str) -> NamespaceRWSet:
        return self.namespaces.setdefault(name, NamespaceRWSet())

    def has_writes(self) -> bool:
        return any(
            ns.writes or ns.metadata_writes or any(c.has_writes() for c in ns.collections.values())
            for ns in self.namespaces.values()
        )

    def to_private_proto(self) -> rwset_pb2.TxPvtReadWriteSet:
        return rwset_pb2.TxPvtReadWriteSet(
            data_model=rwset_pb2.TxReadWriteSet.KV,
            ns_pvt_rwset=[
                rwset_pb2.NsPvtReadWriteSet(
                    namespace=name,
                    collection_pvt_rwset=[
                        rwset_pb2.CollectionPvtReadWriteSet(
                            collection_name=coll, rwset=c.private_proto().SerializeToString()
                        )
                        for coll, c in sorted(ns.collections.items())
                        if c.has_writes()
                    ],
                )
                for name, ns in sorted(self.namespaces.items())
                if any(c.has_writes() for c in ns.collections.values())
            ],
        )

    def to_proto(self) -> rwset_pb2.TxReadWriteSet:
        return rwset_pb2.TxReadWriteSet(
            data_model=rwset_pb2.TxReadWriteSet.KV,
            ns_rwset=[
                rwset_pb2.NsReadWriteSet(
                    namespace=name,
                    rwset=ns.public_proto().SerializeToString(),
                    collection_hashed_rwset=[
                        rwset_pb2.CollectionHashedReadWriteSet(
                            collection_name=coll,
                            hashed_rwset=c.hashed_proto().SerializeToString(),
                            pvt_rwset_hash=(
                                sha256(c.private_proto().SerializeToString())
                                if c.has_writes()
                                else b""
                            ),
                        )
                        for coll, c in sorted(ns.collections.items())
                    ],
                )
                for name, ns in sorted(self.namespaces.items())
            ],
        )


MAX_DEGREE_QUERY_READS_HASHING = 50
"""Fabric hashes a range's reads into a Merkle summary once there are more than this."""


def _range_query_info(query: RangeQuery) -> kv_rwset_pb2.RangeQueryInfo:
    info = kv_rwset_pb2.RangeQueryInfo(
        start_key=query.start, end_key=query.end, itr_exhausted=query.exhausted
    )
    reads = [kv_rwset_pb2.KVRead(key=k, version=_version(v)) for k, v in query.reads]
    if len(reads) <= MAX_DEGREE_QUERY_READS_HASHING:
        info.raw_reads.CopyFrom(kv_rwset_pb2.QueryReads(kv_reads=reads))
    else:
        info.reads_merkle_hashes.CopyFrom(reads_merkle_summary(reads))
    return info


def reads_merkle_summary(
    reads: list[kv_rwset_pb2.KVRead], max_degree: int = MAX_DEGREE_QUERY_READS_HASHING
) -> kv_rwset_pb2.QueryReadsMerkleSummary:
    """Fabric's ``RangeQueryResultsHelper``: every ``max_degree + 1`` reads are serialised as
    ``QueryReads`` and hashed into a leaf; a level holding more than ``max_degree`` hashes
    is combined (concatenated, hashed) into one node of the next level."""
    tree: dict[int, list[bytes]] = {}
    max_level = 1

    def add(level: int, node: bytes) -> None:
        nonlocal max_level
        tree.setdefault(level, []).append(node)
        while len(tree[level]) > max_degree:
            combined = sha256(b"".join(tree.pop(level)))
            level += 1
            tree.setdefault(level, []).append(combined)
            max_level = max(max_level, level)

    chunk = max_degree + 1
    for start in range(0, len(reads), chunk):
        leaf = kv_rwset_pb2.QueryReads(kv_reads=reads[start : start + chunk])
        add(1, sha256(leaf.SerializeToString()))
    for level in range(1, max_level):  # finish: fold lower levels up to the top one
        hashes = tree.pop(level, [])
        if hashes:
            node = hashes[0] if len(hashes) == 1 else sha256(b"".join(hashes))
            tree.setdefault(level + 1, []).append(node)
    top = tree.get(max_level, [])
    if len(top) > max_degree:
        max_level += 1
        top = [sha256(b"".join(top))]
    return kv_rwset_pb2.QueryReadsMerkleSummary(
        max_degree=max_degree, max_level=max_level, max_level_hashes=top
    )


def _version(version: Version | None) -> kv_rwset_pb2.Version | None:
    if version is None:
        return None
    return kv_rwset_pb2.Version(block_num=version.block, tx_num=version.tx)


def _entries(entries: dict[str, bytes]) -> list[kv_rwset_pb2.KVMetadataEntry]:
    return [kv_rwset_pb2.KVMetadataEntry(name=k, value=v) for k, v in sorted(entries.items())]


def _kv_writes(writes: dict[str, bytes | None]) -> list[kv_rwset_pb2.KVWrite]:
    return [
        kv_rwset_pb2.KVWrite(key=key, is_delete=value is None, value=value or b"")
        for key, value in sorted(writes.items())
    ]


def _metadata_writes(writes: dict[str, dict[str, bytes]]) -> list[kv_rwset_pb2.KVMetadataWrite]:
    return [
        kv_rwset_pb2.KVMetadataWrite(key=key, entries=_entries(entries))
        for key, entries in sorted(writes.items())
    ]
