"""``block_to_live``: how long a collection's private data stays on a peer, Fabric's rule.

A collection with ``block_to_live`` N > 0 keeps what block b wrote through block b + N;
the commit of block b + N + 1 purges it (Fabric's ``pvtdatapolicy.ComputeExpiringBlock``:
``committingBlock + btl + 1``). 0 means forever. What is purged, in the same LMDB
transaction as that block's commit (``WorldState._purge_expired``), is what Fabric's
purge manager and private data store drop:

- the clear value and the private-data hash in the world state, unless the key was
  written again since (its version is no longer block b's), so a GetPrivateData or
  GetPrivateDataHash after expiry finds nothing;
- the collection's clear data of block b kept per transaction (``DeliverWithPrivateData``
  and ``Pull`` serve it no more), and any record that it was missing (nothing is
  reconciled past its expiry).

The block itself is never changed: its read/write sets keep the hashes, so the ledger
still proves what was written and when.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable

from peers.collections import collections_of
from peers.lifecycle import read_definition
from peers.worldstate import BlockUpdate, Expiry, WorldState

BlockToLive = Callable[[str, str], int]
"""(namespace, collection) → its block_to_live (0 = never purged)."""


def expiring_block(committed: int, block_to_live: int) -> int:
    """The block whose commit purges data that block ``committed`` wrote."""
    return committed + block_to_live + 1


def definitions_block_to_live(state: WorldState) -> BlockToLive:
    """Each collection's block_to_live as the committed chaincode definitions say (read
    once per namespace: one block's schedule is built with one lookup function)."""
    known: dict[str, dict[str, int]] = {}

    def block_to_live(namespace: str, collection: str) -> int:
        if namespace not in known:
            known[namespace] = {
                name: c.block_to_live
                for name, c in collections_of(read_definition(state, namespace)).items()
            }
        return known[namespace].get(collection, 0)

    return block_to_live


def key_expiries(
    committed: int,
    namespace: str,
    collection: str,
    block_to_live: int,
    keys: Iterable[tuple[bytes, str]],
) -> list[Expiry]:
    """The purge entries of one collection's keys written in block ``committed``:
    ``keys`` are (key hash, clear key or "" when only the hash is held)."""
    if block_to_live <= 0:
        return []
    at = expiring_block(committed, block_to_live)
    return [Expiry(at, committed, namespace, collection, h, key) for h, key in keys]


def key_hash(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def expiry_schedule(update: BlockUpdate, block_to_live: BlockToLive) -> list[Expiry]:
    """When the private data ``update`` writes is purged: one entry per key written
    or given new metadata (Fabric schedules no purge for a delete), one per collection with
    clear data held."""
    clear = {
        (namespace, collection, key_hash(key)): key
        for _, namespace, collection, key, _ in [*update.private_writes, *update.private_metadata]
    }
    schedule: dict[tuple[str, str, bytes], Expiry] = {}
    written = [
        (ns, coll, hashed)
        for _, ns, coll, hashed, value in update.hashed_writes
        if value is not None
    ]
    written += [(ns, coll, hashed) for _, ns, coll, hashed, _ in update.hashed_metadata]
    for namespace, collection, hashed in written:
        name = clear.get((namespace, collection, hashed), "")
        for entry in key_expiries(
            update.number,
            namespace,
            collection,
            block_to_live(namespace, collection),
            [(hashed, name)],
        ):
            schedule[(namespace, collection, hashed)] = entry
    for _, _, namespace, collection, _ in update.expected_private:
        for entry in key_expiries(
            update.number, namespace, collection, block_to_live(namespace, collection), [(b"", "")]
        ):
            schedule[(namespace, collection, b"")] = entry
    return list(schedule.values())
