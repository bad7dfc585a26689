"""The transient store (Fabric's ``core/transientstore``): clear private write sets kept
between endorsement and commit.

An endorsing peer puts the clear values of each collection a transaction writes here, and
so does a peer that receives them from an endorser (``PrivateData.Push``). At commit the
committer takes them out, checks them against the hashes in the block, and purges the
transaction's entries. Entries of transactions that never commit are purged once the
ledger has grown ``retention`` blocks past the height they arrived at.

Keys: ``d \\0 txid \\0 namespace \\0 collection`` → height (8 bytes) ‖ the collection's
``KVRWSet`` bytes; ``h`` ‖ height ‖ ``\\0 txid`` indexes arrivals for the age purge. One
entry per (txid, namespace, collection): a later push replaces an earlier one, and the
committer refuses any whose hash does not match (then pulls from an endorser).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import lmdb
from fabric_protos.ledger.rwset import rwset_pb2

from peers.errors import StorageError

DEFAULT_RETENTION = 1000
"""Blocks an uncommitted entry is kept (Fabric's ``transientstoreMaxBlockRetention``)."""
_HEIGHT = struct.Struct(">Q")
_SEP = b"\x00"
_MAP_SIZE = 1 << 32


def _data_key(tx_id: str, namespace: str = "", collection: str = "") -> bytes:
    parts = [b"d", tx_id.encode()]
    if namespace:
        parts += [namespace.encode(), collection.encode()]
    return _SEP.join(parts) + (b"" if namespace else _SEP)


def _height_key(height: int, tx_id: str) -> bytes:
    return b"h" + _HEIGHT.pack(height) + _SEP + tx_id.encode()


class TransientStore:
    """One channel's transient store, in its own LMDB environment."""

    def __init__(self, path: Path, retention: int = DEFAULT_RETENTION) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self.env = lmdb.open(str(path), map_size=_MAP_SIZE, sync=True, readahead=False)
        except lmdb.Error as exc:
            raise StorageError(f"cannot open the transient store in {path}: {exc}") from None
        self.retention = retention

    def close(self) -> None:
        self.env.close()

    def put(self, tx_id: str, height: int, private: rwset_pb2.TxPvtReadWriteSet) -> list[str]:
        """Keep every collection of ``private``; return the ``namespace/collection`` kept."""
        kept = []
        with self.env.begin(write=True) as txn:
            for ns in private.ns_pvt_rwset:
                for coll in ns.collection_pvt_rwset:
                    txn.put(
                        _data_key(tx_id, ns.namespace, coll.collection_name),
                        _HEIGHT.pack(height) + coll.rwset,
                    )
                    kept.append(f"{ns.namespace}/{coll.collection_name}")
            if kept:
                txn.put(_height_key(height, tx_id), b"")
        return kept

    def get(self, tx_id: str, namespace: str, collection: str) -> bytes | None:
        """The collection's ``KVRWSet`` bytes for this transaction, if held."""
        with self.env.begin() as txn:
            raw = txn.get(_data_key(tx_id, namespace, collection))
        return None if raw is None else raw[_HEIGHT.size :]

    def purge(self, tx_ids: Iterable[str]) -> None:
        """Forget committed transactions (their data now lives in the private state)."""
        with self.env.begin(write=True) as txn:
            for tx_id in tx_ids:
                self._delete_tx(txn, tx_id)

    def purge_older_than(self, height: int) -> int:
        """Forget entries that arrived more than ``retention`` blocks before ``height``;
        return how many transactions were forgotten."""
        limit = height - self.retention
        if limit <= 0:
            return 0
        purged = 0
        with self.env.begin(write=True) as txn:
            cursor = txn.cursor()
            stale = []
            if cursor.set_range(b"h"):
                for key, _ in cursor:
                    if not key.startswith(b"h"):
                        break
                    (arrived,) = _HEIGHT.unpack_from(key, 1)
                    if arrived >= limit:
                        break
                    stale.append(key)
            for key in stale:
                txn.delete(key)
                self._delete_tx(txn, key[1 + _HEIGHT.size + 1 :].decode())
                purged += 1
        return purged

    @staticmethod
    def _delete_tx(txn: lmdb.Transaction, tx_id: str) -> None:
        prefix = _data_key(tx_id)
        cursor = txn.cursor()
        keys = []
        if cursor.set_range(prefix):
            for key, _ in cursor:
                if not key.startswith(prefix):
                    break
                keys.append(key)
        for key in keys:
            txn.delete(key)
