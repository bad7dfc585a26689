"""The commit hash a peer records in each block it commits (Fabric's ``kv_ledger.go``):
chained over the blocks' validation codes and state updates, so two peers that committed
the same blocks to the same state hold the same hash. Block 0 has none; from block 1 on,
every block has one (``proto.commithash`` holds the byte rules)."""

from __future__ import annotations

from chaincode.state import StateReader
from peers.worldstate import BlockUpdate
from proto.commithash import KVWrite, commit_hash, updates_bytes


def _public_writes(update: BlockUpdate, state: StateReader) -> dict[tuple[str, str], KVWrite]:
    """Each key's last write in the block; a metadata-only write keeps the value."""
    final: dict[tuple[str, str], KVWrite] = {}
    for version, _, rwset in update.writes:
        for namespace, rw in rwset.namespaces.items():
            for key in [*rw.writes, *(k for k in rw.metadata_writes if k not in rw.writes)]:
                if key in rw.writes:
                    value = rw.writes[key]
                else:
                    earlier = final.get((namespace, key))
                    current = state.get(namespace, key)
                    value = earlier.value if earlier else (current.value if current else None)
                    if value is None:
                        continue  # metadata of a key that does not exist
                final[(namespace, key)] = KVWrite(
                    namespace, "", key.encode(), value, version.block, version.tx
                )
    return final


def _hashed_writes(
    update: BlockUpdate, state: StateReader
) -> dict[tuple[str, str, bytes], KVWrite]:
    """The same for private keys by hash (a metadata-only write keeps the value hash)."""
    changes = sorted(
        [(v, 0, ns, coll, h, value) for v, ns, coll, h, value in update.hashed_writes]
        + [(v, 1, ns, coll, h, None) for v, ns, coll, h, _ in update.hashed_metadata],
        key=lambda change: (change[0], change[1]),
    )
    final: dict[tuple[str, str, bytes], KVWrite] = {}
    for version, kind, namespace, collection, key_hash, value_hash in changes:
        if kind == 1:
            earlier = final.get((namespace, collection, key_hash))
            current = state.get_private_hash(namespace, collection, key_hash)
            value_hash = earlier.value if earlier else (current.value if current else None)
            if value_hash is None:
                continue  # metadata of a key that does not exist
        final[(namespace, collection, key_hash)] = KVWrite(
            namespace, collection, key_hash, value_hash, version.block, version.tx
        )
    return final


def block_commit_hash(
    update: BlockUpdate, state: StateReader, transactions_filter: bytes, previous: bytes
) -> bytes:
    """The block's commit hash, chained to the ``previous`` block's."""
    writes = [*_public_writes(update, state).values(), *_hashed_writes(update, state).values()]
    return commit_hash(transactions_filter, updates_bytes(writes), previous)
