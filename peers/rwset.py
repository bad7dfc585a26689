"""Reading a transaction's read/write set back out of a block.

Endorsers write ``rwset.TxReadWriteSet`` (``chaincode.rwset.TxRWSet.to_proto``); every
committing peer reads it here. Private data reaches the block only as hashes, so the
hashed part is kept apart: committing peers check hashed reads and record hashed writes;
clear private values are applied only where the peer holds them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from google.protobuf.message import DecodeError

from chaincode.rwset import RangeQuery, TxRWSet
from chaincode.state import Version
from peers.errors import PeerError


class BadRWSet(PeerError):
    """The read/write set does not decode (Fabric's ``BAD_RWSET``)."""


@dataclass(frozen=True)
class HashedRead:
    namespace: str
    collection: str
    key_hash: bytes
    version: Version | None


@dataclass(frozen=True)
class HashedWrite:
    namespace: str
    collection: str
    key_hash: bytes
    value_hash: bytes | None  # None: delete


@dataclass(frozen=True)
class HashedMetadataWrite:
    """New metadata of a private key (e.g. its key-level endorsement policy), by hash."""

    namespace: str
    collection: str
    key_hash: bytes
    entries: dict[str, bytes]


@dataclass(frozen=True)
class CollectionHash:
    """A collection the transaction wrote, with the hash its clear write set must have."""

    namespace: str
    collection: str
    pvt_rwset_hash: bytes  # SHA-256 of the collection's clear ``KVRWSet`` bytes


@dataclass
class CommittedRWSet:
    public: TxRWSet
    hashed_reads: list[HashedRead] = field(default_factory=list)
    hashed_writes: list[HashedWrite] = field(default_factory=list)
    hashed_metadata_writes: list[HashedMetadataWrite] = field(default_factory=list)
    collection_hashes: list[CollectionHash] = field(default_factory=list)

    def written_keys(self) -> list[tuple[str, str]]:
        return [(ns, key) for ns, rw in self.public.namespaces.items() for key in rw.writes] + [
            (ns, key) for ns, rw in self.public.namespaces.items() for key in rw.metadata_writes
        ]

    def written_key_hashes(self) -> list[tuple[str, str, bytes]]:
        """(namespace, collection, key hash) of every private key written or given new
        metadata: what key-level endorsement policies on private data apply to."""
        return [(w.namespace, w.collection, w.key_hash) for w in self.hashed_writes] + [
            (w.namespace, w.collection, w.key_hash) for w in self.hashed_metadata_writes
        ]


def _version(read: kv_rwset_pb2.KVRead | kv_rwset_pb2.KVReadHash) -> Version | None:
    if not read.HasField("version"):
        return None
    return Version(read.version.block_num, read.version.tx_num)


def decode_rwset(data: bytes) -> CommittedRWSet:
    try:
        tx = rwset_pb2.TxReadWriteSet.FromString(data)
        result = CommittedRWSet(TxRWSet())
        for ns in tx.ns_rwset:
            kv = kv_rwset_pb2.KVRWSet.FromString(ns.rwset)
            target = result.public.namespace(ns.namespace)
            for read in kv.reads:
                target.reads[read.key] = _version(read)
            for query in kv.range_queries_info:
                target.range_queries.append(
                    RangeQuery(
                        query.start_key,
                        query.end_key,
                        query.itr_exhausted,
                        [(r.key, _version(r)) for r in query.raw_reads.kv_reads],
                    )
                )
            for write in kv.writes:
                target.writes[write.key] = None if write.is_delete else write.value
            for meta in kv.metadata_writes:
                target.metadata_writes[meta.key] = {e.name: e.value for e in meta.entries}
            for coll in ns.collection_hashed_rwset:
                hashed = kv_rwset_pb2.HashedRWSet.FromString(coll.hashed_rwset)
                if coll.pvt_rwset_hash:
                    result.collection_hashes.append(
                        CollectionHash(ns.namespace, coll.collection_name, coll.pvt_rwset_hash)
                    )
                for read in hashed.hashed_reads:
                    result.hashed_reads.append(
                        HashedRead(
                            ns.namespace, coll.collection_name, read.key_hash, _version(read)
                        )
                    )
                for write in hashed.hashed_writes:
                    result.hashed_writes.append(
                        HashedWrite(
                            ns.namespace,
                            coll.collection_name,
                            write.key_hash,
                            None if write.is_delete else write.value_hash,
                        )
                    )
                for meta in hashed.metadata_writes:
                    result.hashed_metadata_writes.append(
                        HashedMetadataWrite(
                            ns.namespace,
                            coll.collection_name,
                            meta.key_hash,
                            {e.name: e.value for e in meta.entries},
                        )
                    )
    except (DecodeError, UnicodeDecodeError) as exc:
        raise BadRWSet(f"read/write set does not decode: {exc}") from None
    return result
