"""Fabric's MVCC validation of a simulated transaction against the current state.

A transaction is valid only if every version it read is still current and every range
it scanned would return the same keys at the same versions; otherwise it gets Fabric's
``MVCC_READ_CONFLICT`` or ``PHANTOM_READ_CONFLICT`` code.
"""

from __future__ import annotations

from chaincode.rwset import RangeQuery, TxRWSet, sha256
from chaincode.state import StateReader, Version

VALID = "VALID"
MVCC_READ_CONFLICT = "MVCC_READ_CONFLICT"
PHANTOM_READ_CONFLICT = "PHANTOM_READ_CONFLICT"


def _version(current) -> Version | None:
    return current.version if current else None


def validate(rwset: TxRWSet, state: StateReader) -> str:
    """The Fabric validation code name for ``rwset`` against ``state``."""
    for namespace, ns in rwset.namespaces.items():
        for key, version in ns.reads.items():
            if _version(state.get(namespace, key)) != version:
                return MVCC_READ_CONFLICT
        for collection, coll in ns.collections.items():
            for key, version in coll.reads.items():
                current = state.get_private_hash(namespace, collection, sha256(key.encode()))
                if _version(current) != version:
                    return MVCC_READ_CONFLICT
        for query in ns.range_queries:
            if _rescan(state, namespace, query) != query.reads:
                return PHANTOM_READ_CONFLICT
    return VALID


def _rescan(state: StateReader, namespace: str, query: RangeQuery) -> list[tuple[str, Version]]:
    if query.exhausted:
        return [(k, v.version) for k, v in state.scan(namespace, query.start, query.end)]
    # Not exhausted: only the keys up to and including the last one read matter.
    seen = []
    for key, value in state.scan(namespace, query.start, ""):
        if key > query.end:
            break
        seen.append((key, value.version))
    return seen
