"""Commit of clear private data: what a committing peer does with the collections a
valid transaction wrote.

The block carries only hashes. For each collection this peer's organization is a member
of, the clear write set is taken from the transient store (pushed at endorsement), or,
when it is not there or its hash does not match the block's ``pvt_rwset_hash``, pulled
from peers of the collection's member organizations. Data whose hash matches is written
to the private state and kept per transaction for ``DeliverWithPrivateData``; a tampered
value is refused; data nobody could give is recorded as missing and the block commits
anyway, and ``peers.reconciler`` fetches it later. A non-member stores only the hashes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from google.protobuf.message import DecodeError

from chaincode.state import Version
from peers.collections import Collection, collections_of
from peers.lifecycle import read_definition
from peers.transientstore import TransientStore
from peers.worldstate import BlockUpdate, WorldState

log = logging.getLogger(__name__)


class PrivateDataPuller(Protocol):
    """Asks other peers for a collection's clear write set; blocking (the committer runs
    on a worker thread)."""

    def pull(
        self, channel_id: str, tx_id: str, namespace: str, collection: Collection
    ) -> list[bytes]:
        """Candidate ``KVRWSet`` bytes from every member peer that answered."""
        ...


@dataclass
class PrivateOutcome:
    """How each collection of a block's transactions was resolved, for the trace."""

    by_tx: dict[str, dict[str, str]] = field(default_factory=dict)

    def note(self, tx_id: str, namespace: str, collection: str, outcome: str) -> None:
        self.by_tx.setdefault(tx_id, {})[f"{namespace}/{collection}"] = outcome


def matches_hash(candidate: bytes | None, expected: bytes) -> bool:
    """Is ``candidate`` the clear data whose hash a block's ``pvt_rwset_hash`` holds."""
    return candidate is not None and hashlib.sha256(candidate).digest() == expected


def resolve_private(
    channel_id: str,
    mspid: str,
    update: BlockUpdate,
    state: WorldState,
    transient: TransientStore,
    puller: PrivateDataPuller | None = None,
) -> PrivateOutcome:
    """Fill ``update``'s private writes, per-transaction private data and missing records
    from its ``expected_private`` entries."""
    outcome = PrivateOutcome()
    definitions: dict[str, dict[str, Collection]] = {}
    held: dict[Version, rwset_pb2.TxPvtReadWriteSet] = {}
    for position, tx_id, namespace, name, expected in update.expected_private:
        if namespace not in definitions:
            definitions[namespace] = collections_of(read_definition(state, namespace))
        collection = definitions[namespace].get(name)
        if collection is None or not collection.is_member(mspid):
            continue  # hashes only
        clear = transient.get(tx_id, namespace, name)
        how = "transient"
        if clear is not None and not matches_hash(clear, expected):
            log.warning(
                "channel %s: tx %s: private data of %s/%s from the transient store does not "
                "match the block's hash; refused",
                channel_id,
                tx_id,
                namespace,
                name,
            )
            outcome.note(tx_id, namespace, name, "refused")
            clear = None
        if clear is None and puller is not None:
            how = "pulled"
            candidates = puller.pull(channel_id, tx_id, namespace, collection)
            clear = next((c for c in candidates if matches_hash(c, expected)), None)
        if clear is None:
            log.warning(
                "channel %s: tx %s: private data of %s/%s is missing (recorded)",
                channel_id,
                tx_id,
                namespace,
                name,
            )
            update.missing_private.append((position, namespace, name))
            how = "missing"
        else:
            _apply(update, position, namespace, name, clear)
            _hold(held, position, namespace, name, clear)
        previous = outcome.by_tx.get(tx_id, {}).get(f"{namespace}/{name}")
        outcome.note(tx_id, namespace, name, f"{previous}, {how}" if previous else how)
    update.private_rwsets.extend(
        (position, private.SerializeToString(deterministic=True))
        for position, private in held.items()
    )
    return outcome


@dataclass(frozen=True)
class ClearData:
    """A collection's clear ``KVRWSet``, read: its writes (value None = delete) and its
    metadata writes (e.g. a key-level endorsement policy), by key."""

    writes: list[tuple[str, bytes | None]]
    metadata: list[tuple[str, dict[str, bytes]]]


def read_clear(clear: bytes) -> ClearData | None:
    """None if it does not decode (its hash matched, so an endorser signed garbage: only
    the hash is kept)."""
    try:
        kv = kv_rwset_pb2.KVRWSet.FromString(clear)
    except DecodeError:
        return None
    return ClearData(
        [(w.key, None if w.is_delete else w.value) for w in kv.writes],
        [(m.key, {e.name: e.value for e in m.entries}) for m in kv.metadata_writes],
    )


def _apply(update: BlockUpdate, position: Version, namespace: str, name: str, clear: bytes) -> None:
    data = read_clear(clear)
    if data is None:
        update.missing_private.append((position, namespace, name))
        return
    for key, value in data.writes:
        update.private_writes.append((position, namespace, name, key, value))
    for key, entries in data.metadata:
        update.private_metadata.append((position, namespace, name, key, entries))


def _hold(
    held: dict[Version, rwset_pb2.TxPvtReadWriteSet],
    position: Version,
    namespace: str,
    name: str,
    clear: bytes,
) -> None:
    private = held.setdefault(
        position, rwset_pb2.TxPvtReadWriteSet(data_model=rwset_pb2.TxReadWriteSet.KV)
    )
    add_collection(private, namespace, name, clear)


def add_collection(
    private: rwset_pb2.TxPvtReadWriteSet, namespace: str, name: str, clear: bytes
) -> None:
    """Add one collection's clear ``KVRWSet`` bytes to a transaction's private data."""
    ns = next((n for n in private.ns_pvt_rwset if n.namespace == namespace), None)
    if ns is None:
        ns = private.ns_pvt_rwset.add(namespace=namespace)
    ns.collection_pvt_rwset.add(collection_name=name, rwset=clear)


def collection_rwset(
    private: rwset_pb2.TxPvtReadWriteSet, namespace: str, collection: str
) -> bytes | None:
    """One collection's ``KVRWSet`` bytes out of a transaction's private data."""
    for ns in private.ns_pvt_rwset:
        if ns.namespace == namespace:
            for coll in ns.collection_pvt_rwset:
                if coll.collection_name == collection:
                    return coll.rwset
    return None


def filter_private(
    private: rwset_pb2.TxPvtReadWriteSet, allowed: Callable[[str, str], bool]
) -> rwset_pb2.TxPvtReadWriteSet:
    """Only the collections ``allowed(namespace, collection)`` says the reader may see."""
    kept = rwset_pb2.TxPvtReadWriteSet(data_model=private.data_model)
    for ns in private.ns_pvt_rwset:
        collections = [
            c for c in ns.collection_pvt_rwset if allowed(ns.namespace, c.collection_name)
        ]
        if collections:
            kept.ns_pvt_rwset.add(namespace=ns.namespace, collection_pvt_rwset=collections)
    return kept
