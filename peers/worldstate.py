"""The peer's world state: current values with versions, key history, private data, the
committed transaction ids, and the height they reflect — all in one LMDB environment
per channel.

A block is committed in **one** LMDB write transaction (every valid transaction's
writes, every transaction id with its validation code, and the new height), so after a
crash the state is exactly that of some block boundary and the peer replays the blocks
after it from its block store.

Keys are ``namespace \\0 key`` (bytes order = Fabric's string order for range scans).
Values carry their version (block, tx) and metadata (key-level endorsement policies).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lmdb
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.peer import transaction_pb2

from chaincode.rwset import TxRWSet
from chaincode.state import KeyModification, Version, VersionedValue
from peers.errors import StorageError
from peers.rwset import CommittedRWSet

_VERSION = struct.Struct(">QI")
_SEP = b"\x00"
_MAP_SIZE = 1 << 36  # address space only; LMDB grows the file as it fills


@dataclass(frozen=True)
class Expiry:
    """When private data written in block ``committed`` is purged: at the commit of
    block ``at`` (``peers.privatepurge`` computes it from the collection's
    ``block_to_live``). ``key_hash`` names one key's hashed entry (and ``key`` its clear
    entry, "" when this peer holds only the hash); an empty ``key_hash`` stands for the
    collection's whole data of that block in the per-transaction store."""

    at: int
    committed: int
    namespace: str
    collection: str
    key_hash: bytes = b""
    key: str = ""


@dataclass
class BlockUpdate:
    """Everything one block changes in the world state, applied atomically."""

    number: int
    timestamp: float = 0.0
    transactions: list[tuple[str, int]] = field(default_factory=list)  # (txid, code)
    writes: list[tuple[Version, str, TxRWSet]] = field(default_factory=list)  # valid ones
    hashed_writes: list[tuple[Version, str, str, bytes, bytes | None]] = field(
        default_factory=list
    )  # (version, namespace, collection, key hash, value hash or None = delete)
    hashed_metadata: list[tuple[Version, str, str, bytes, dict[str, bytes]]] = field(
        default_factory=list
    )  # (version, namespace, collection, key hash, new metadata) of private keys
    expected_private: list[tuple[Version, str, str, str, bytes]] = field(
        default_factory=list
    )  # (version, txid, namespace, collection, pvt_rwset_hash) of valid transactions
    private_writes: list[tuple[Version, str, str, str, bytes | None]] = field(
        default_factory=list
    )  # (version, namespace, collection, key, clear value or None = delete), hash-checked
    private_metadata: list[tuple[Version, str, str, str, dict[str, bytes]]] = field(
        default_factory=list
    )  # (version, namespace, collection, key, new metadata), from the same clear data
    private_rwsets: list[tuple[Version, bytes]] = field(
        default_factory=list
    )  # (version, TxPvtReadWriteSet bytes): the clear data this peer holds, per transaction
    missing_private: list[tuple[Version, str, str]] = field(
        default_factory=list
    )  # (version, namespace, collection) a member should hold but does not
    expiring: list[Expiry] = field(default_factory=list)  # this block's private data's end


def block_update(
    number: int, outcomes: Iterable[tuple[str, int, CommittedRWSet | None]]
) -> BlockUpdate:
    """What a block changes in the world state, from each transaction's (txid, code,
    read/write set) in block order: every txid with its code, and the writes of the VALID
    ones that have a read/write set (a config transaction has none). Validation builds
    it from its verdicts and recovery from the codes stored in the block; one builder,
    so both leave the same state."""
    update = BlockUpdate(number)
    for index, (tx_id, code, rwset) in enumerate(outcomes):
        update.transactions.append((tx_id, code))
        if code != transaction_pb2.VALID or rwset is None:
            continue
        position = Version(number, index)
        update.writes.append((position, tx_id, rwset.public))
        for w in rwset.hashed_writes:
            update.hashed_writes.append(
                (position, w.namespace, w.collection, w.key_hash, w.value_hash)
            )
        for m in rwset.hashed_metadata_writes:
            update.hashed_metadata.append(
                (position, m.namespace, m.collection, m.key_hash, m.entries)
            )
        for c in rwset.collection_hashes:
            update.expected_private.append(
                (position, tx_id, c.namespace, c.collection, c.pvt_rwset_hash)
            )
    return update


def _key(*parts: str | bytes) -> bytes:
    return _SEP.join(p.encode() if isinstance(p, str) else p for p in parts)


def _history_prefix(namespace: str, key: str) -> bytes:
    """Length-prefixed: composite keys contain NUL, so a separator alone is ambiguous."""
    encoded = key.encode()
    return _key(namespace, b"") + struct.pack(">I", len(encoded)) + encoded


def _with_prefix(
    txn: lmdb.Transaction, db: lmdb._Database, prefix: bytes
) -> list[tuple[bytes, bytes]]:
    """Every (key, value) of ``db`` whose key starts with ``prefix``, read whole so the
    caller may write to ``db`` while going through them."""
    found = []
    cursor = txn.cursor(db=db)
    if cursor.set_range(prefix):
        for raw_key, raw in cursor:
            if not raw_key.startswith(prefix):
                break
            found.append((raw_key, raw))
    return found


def _apply_versioned(
    txn: lmdb.Transaction,
    db: lmdb._Database,
    writes: Iterable[tuple[Version, bytes, bytes | None]],
    metadata_writes: Iterable[tuple[Version, bytes, dict[str, bytes]]],
) -> None:
    """Private values or hashes (None = delete) and metadata writes, in transaction order
    (a transaction's value before its metadata): a value write keeps the key's metadata,
    a metadata write keeps its value (none for a key that does not exist), and the key's
    version becomes the writer's, as Fabric applies a block."""
    ordered = sorted(
        [(position, 0, key, value) for position, key, value in writes]
        + [(position, 1, key, entries) for position, key, entries in metadata_writes],
        key=lambda change: (change[0], change[1]),
    )
    for position, kind, key, payload in ordered:
        old = txn.get(key, db=db)
        if kind == 1:
            if old is not None:
                txn.put(key, _encode_value(_decode_value(old).value, position, payload), db=db)
        elif payload is None:
            txn.delete(key, db=db)
        else:
            metadata = _decode_value(old).metadata if old is not None else {}
            txn.put(key, _encode_value(payload, position, metadata), db=db)


def _encode_value(value: bytes, version: Version, metadata: Mapping[str, bytes]) -> bytes:
    meta = (
        json.dumps({k: v.hex() for k, v in sorted(metadata.items())}).encode() if metadata else b""
    )
    return _VERSION.pack(version.block, version.tx) + struct.pack(">I", len(meta)) + meta + value


def _decode_value(raw: bytes) -> VersionedValue:
    block, tx = _VERSION.unpack_from(raw)
    (meta_len,) = struct.unpack_from(">I", raw, _VERSION.size)
    start = _VERSION.size + 4
    metadata = (
        {k: bytes.fromhex(v) for k, v in json.loads(raw[start : start + meta_len]).items()}
        if meta_len
        else {}
    )
    return VersionedValue(raw[start + meta_len :], Version(block, tx), metadata)


class WorldState:
    """LMDB-backed ``chaincode.state.StateStore`` for one channel."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self.env = lmdb.open(
                str(path), map_size=_MAP_SIZE, max_dbs=16, sync=True, readahead=False
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open world state in {path}: {exc}") from None
        self._state = self.env.open_db(b"state")
        self._history = self.env.open_db(b"history")
        self._private = self.env.open_db(b"private")
        self._hashes = self.env.open_db(b"private-hashes")
        self._txids = self.env.open_db(b"txids")
        self._meta = self.env.open_db(b"meta")
        self._rwsets = self.env.open_db(b"private-rwsets")
        self._missing = self.env.open_db(b"private-missing")
        self._expiry = self.env.open_db(b"private-expiry")

    def close(self) -> None:
        self.env.close()

    # -- reads (StateReader) ------------------------------------------------------------

    @property
    def height(self) -> int:
        """How many blocks the state reflects (the next block to commit)."""
        with self.env.begin(db=self._meta) as txn:
            raw = txn.get(b"height")
        return struct.unpack(">Q", raw)[0] if raw else 0

    def get(self, namespace: str, key: str) -> VersionedValue | None:
        with self.env.begin(db=self._state) as txn:
            raw = txn.get(_key(namespace, key))
        return _decode_value(raw) if raw is not None else None

    def _scan(
        self, db: lmdb._Database, prefix: bytes, start: str, end: str
    ) -> Iterator[tuple[str, VersionedValue]]:
        with self.env.begin(db=db) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(prefix + start.encode()):
                return
            stop = prefix + end.encode() if end else None
            for raw_key, raw in cursor:
                if not raw_key.startswith(prefix) or (stop is not None and raw_key >= stop):
                    return
                yield raw_key[len(prefix) :].decode(), _decode_value(raw)

    def scan(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        return self._scan(self._state, _key(namespace, b""), start, end)

    def history(self, namespace: str, key: str) -> Iterator[KeyModification]:
        prefix = _history_prefix(namespace, key)
        entries = []
        with self.env.begin(db=self._history) as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix):
                for raw_key, raw in cursor:
                    if not raw_key.startswith(prefix):
                        break
                    entries.append(raw)
        for raw in reversed(entries):  # newest first, as Fabric 2.x
            record = json.loads(raw)
            yield KeyModification(
                record["txid"], bytes.fromhex(record["value"]), record["ts"], record["delete"]
            )

    def get_private(self, namespace: str, collection: str, key: str) -> VersionedValue | None:
        with self.env.begin(db=self._private) as txn:
            raw = txn.get(_key(namespace, collection, key))
        return _decode_value(raw) if raw is not None else None

    def scan_private(
        self, namespace: str, collection: str, start: str, end: str
    ) -> Iterator[tuple[str, VersionedValue]]:
        return self._scan(self._private, _key(namespace, collection, b""), start, end)

    def get_private_hash(
        self, namespace: str, collection: str, key_hash: bytes
    ) -> VersionedValue | None:
        with self.env.begin(db=self._hashes) as txn:
            raw = txn.get(_key(namespace, collection, key_hash))
        return _decode_value(raw) if raw is not None else None

    def private_rwsets(self, block: int) -> dict[int, bytes]:
        """The clear private data this peer committed in ``block``: tx number →
        ``TxPvtReadWriteSet`` bytes (what ``DeliverWithPrivateData`` and ``Pull`` serve)."""
        with self.env.begin() as txn:
            found = _with_prefix(txn, self._rwsets, struct.pack(">Q", block))
        return {_VERSION.unpack(raw_key)[1]: raw for raw_key, raw in found}

    def missing_private(self) -> list[tuple[Version, str, str]]:
        """(position, namespace, collection) this peer should hold but never received."""
        with self.env.begin(db=self._missing) as txn:
            return [
                (Version(*_VERSION.unpack_from(key)), *key[_VERSION.size :].decode().split("\0"))
                for key, _ in txn.cursor()
            ]

    def transaction(self, tx_id: str) -> tuple[int, int, int] | None:
        """(block, tx number, validation code) of a committed transaction id."""
        with self.env.begin(db=self._txids) as txn:
            raw = txn.get(tx_id.encode())
        return struct.unpack(">QIi", raw) if raw else None

    # -- writes ---------------------------------------------------------------------------

    def commit(self, position: Version, tx_id: str, timestamp: float, rwset: TxRWSet) -> None:
        """One transaction's writes (the ``StateStore`` protocol; no height change)."""
        with self.env.begin(write=True) as txn:
            self._apply(txn, position, tx_id, timestamp, rwset)

    def commit_block(self, update: BlockUpdate) -> None:
        """Apply a whole validated block, its txids and the new height, atomically."""
        if update.number != self.height:
            raise StorageError(f"block {update.number} does not follow height {self.height}")
        try:
            with self.env.begin(write=True) as txn:
                for number, (tx_id, code) in enumerate(update.transactions):
                    if tx_id and txn.get(tx_id.encode(), db=self._txids) is None:
                        txn.put(
                            tx_id.encode(),
                            struct.pack(">QIi", update.number, number, code),
                            db=self._txids,
                        )
                for position, tx_id, rwset in update.writes:
                    self._apply(txn, position, tx_id, update.timestamp, rwset)
                self._purge_expired(txn, update.number)
                _apply_versioned(
                    txn,
                    self._hashes,
                    [(p, _key(ns, c, h), v) for p, ns, c, h, v in update.hashed_writes],
                    [(p, _key(ns, c, h), m) for p, ns, c, h, m in update.hashed_metadata],
                )
                self._apply_private(txn, update)
                self._schedule(txn, update.expiring)
                txn.put(b"height", struct.pack(">Q", update.number + 1), db=self._meta)
        except lmdb.Error as exc:
            raise StorageError(f"cannot commit block {update.number}: {exc}") from None

    def _apply_private(self, txn: lmdb.Transaction, update: BlockUpdate) -> None:
        _apply_versioned(
            txn,
            self._private,
            [(p, _key(ns, c, k), v) for p, ns, c, k, v in update.private_writes],
            [(p, _key(ns, c, k), m) for p, ns, c, k, m in update.private_metadata],
        )
        for position, data in update.private_rwsets:
            txn.put(_VERSION.pack(position.block, position.tx), data, db=self._rwsets)
        for position, namespace, collection in update.missing_private:
            missing = _VERSION.pack(position.block, position.tx) + _key(namespace, collection)
            txn.put(missing, b"", db=self._missing)

    def reconcile(
        self,
        position: Version,
        namespace: str,
        collection: str,
        writes: Sequence[tuple[str, bytes | None]],
        private_rwset: bytes,
        expiring: Iterable[Expiry],
    ) -> int:
        """Commit one collection's private data that was missing at its block's commit
        (Fabric's reconciler), in one LMDB transaction: a key is written only while its
        hashed entry still has this transaction's version (one rewritten since keeps the
        newer value, as Fabric's); ``private_rwset`` replaces the transaction's stored
        clear data. Returns the keys written; 0 when nothing was missing any more
        (reconciled already, or purged by block_to_live)."""
        missing = _VERSION.pack(position.block, position.tx) + _key(namespace, collection)
        written = 0
        with self.env.begin(write=True) as txn:
            if txn.get(missing, db=self._missing) is None:
                return 0
            for key, value in writes:
                hashed = txn.get(
                    _key(namespace, collection, hashlib.sha256(key.encode()).digest()),
                    db=self._hashes,
                )
                current = Version(*_VERSION.unpack_from(hashed)) if hashed is not None else None
                private_key = _key(namespace, collection, key)
                if value is None and current is None:
                    txn.delete(private_key, db=self._private)
                elif value is not None and current == position:
                    txn.put(private_key, _encode_value(value, position, {}), db=self._private)
                else:
                    continue
                written += 1
            txn.put(_VERSION.pack(position.block, position.tx), private_rwset, db=self._rwsets)
            self._schedule(txn, expiring)
            txn.delete(missing, db=self._missing)
        return written

    # -- block_to_live: the purge Fabric's purge manager does ----------------------------

    def _schedule(self, txn: lmdb.Transaction, expiring: Iterable[Expiry]) -> None:
        for entry in expiring:
            key = struct.pack(">QQ", entry.at, entry.committed) + _key(
                entry.namespace, entry.collection, entry.key_hash
            )
            txn.put(key, entry.key.encode(), db=self._expiry)

    def _purge_expired(self, txn: lmdb.Transaction, number: int) -> None:
        """Before block ``number``'s own writes: delete the private data that expires with
        it. A key rewritten since (its version is no longer the expiring block's) stays."""
        prefix = struct.pack(">Q", number)
        for raw_key, raw in _with_prefix(txn, self._expiry, prefix):
            (committed,) = struct.unpack_from(">Q", raw_key, 8)
            namespace, collection, key_hash = raw_key[16:].split(_SEP, 2)
            if not key_hash:
                self._purge_block_data(txn, committed, namespace, collection)
            else:
                self._purge_key(txn, committed, _key(namespace, collection, key_hash), self._hashes)
                if raw:
                    self._purge_key(txn, committed, _key(namespace, collection, raw), self._private)
            txn.delete(raw_key, db=self._expiry)

    @staticmethod
    def _purge_key(txn: lmdb.Transaction, committed: int, key: bytes, db: lmdb._Database) -> None:
        current = txn.get(key, db=db)
        if current is not None and _VERSION.unpack_from(current)[0] == committed:
            txn.delete(key, db=db)

    def _purge_block_data(
        self, txn: lmdb.Transaction, block: int, namespace: bytes, collection: bytes
    ) -> None:
        """Drop one collection from block ``block``'s per-transaction private data (what
        ``DeliverWithPrivateData`` and ``Pull`` serve) and from its missing records."""
        prefix = struct.pack(">Q", block)
        for raw_key, raw in _with_prefix(txn, self._rwsets, prefix):
            private = rwset_pb2.TxPvtReadWriteSet.FromString(raw)
            kept = rwset_pb2.TxPvtReadWriteSet(data_model=private.data_model)
            for ns in private.ns_pvt_rwset:
                collections = [
                    c
                    for c in ns.collection_pvt_rwset
                    if (ns.namespace.encode(), c.collection_name.encode())
                    != (namespace, collection)
                ]
                if collections:
                    kept.ns_pvt_rwset.add(namespace=ns.namespace, collection_pvt_rwset=collections)
            if kept.ns_pvt_rwset:
                txn.put(raw_key, kept.SerializeToString(deterministic=True), db=self._rwsets)
            else:
                txn.delete(raw_key, db=self._rwsets)
        for raw_key, _ in _with_prefix(txn, self._missing, prefix):
            if raw_key[_VERSION.size :] == _key(namespace, collection):
                txn.delete(raw_key, db=self._missing)

    def _apply(
        self, txn: lmdb.Transaction, position: Version, tx_id: str, timestamp: float, rwset: TxRWSet
    ) -> None:
        for namespace, ns in rwset.namespaces.items():
            for key, value in ns.writes.items():
                state_key = _key(namespace, key)
                if value is None:
                    txn.delete(state_key, db=self._state)
                else:
                    old = txn.get(state_key, db=self._state)
                    metadata = _decode_value(old).metadata if old is not None else {}
                    txn.put(state_key, _encode_value(value, position, metadata), db=self._state)
                record = {
                    "txid": tx_id,
                    "value": (value or b"").hex(),
                    "ts": timestamp,
                    "delete": value is None,
                }
                history_key = _history_prefix(namespace, key) + _VERSION.pack(
                    position.block, position.tx
                )
                txn.put(history_key, json.dumps(record).encode(), db=self._history)
            for key, metadata in ns.metadata_writes.items():
                state_key = _key(namespace, key)
                current = txn.get(state_key, db=self._state)
                if current is not None:
                    value = _decode_value(current).value
                    txn.put(state_key, _encode_value(value, position, metadata), db=self._state)
            for collection, coll in ns.collections.items():
                for key, value in coll.writes.items():
                    private_key = _key(namespace, collection, key)
                    if value is None:
                        txn.delete(private_key, db=self._private)
                    else:
                        txn.put(private_key, _encode_value(value, position, {}), db=self._private)

    def export(self, folder: Path) -> dict[str, str]:
        """The public state, the private data hashes and the committed txids, each a
        file of ``<key hex> <value hex>`` lines, read in one transaction (so all three
        are at the same height); returns each file's SHA-256, for a peer snapshot."""
        files = {
            "public_state.data": self._state,
            "pvtdata_hashes.data": self._hashes,
            "txids.data": self._txids,
        }
        hashes = {}
        with self.env.begin() as txn:
            for name, db in files.items():
                digest = hashlib.sha256()
                with open(folder / name, "wb") as out:
                    for raw_key, raw in txn.cursor(db=db):
                        line = f"{raw_key.hex()} {raw.hex()}\n".encode()
                        out.write(line)
                        digest.update(line)
                hashes[name] = digest.hexdigest()
        return hashes

    def load(self, folder: Path, height: int) -> None:
        """Fill an empty state from a peer snapshot's files (``export``'s format) as the
        state after block ``height - 1``, in one transaction: all of it or nothing."""
        if self.height:
            raise StorageError(f"a world state at height {self.height} cannot load a snapshot")
        files = {
            "public_state.data": self._state,
            "pvtdata_hashes.data": self._hashes,
            "txids.data": self._txids,
        }
        try:
            with self.env.begin(write=True) as txn:
                for name, db in files.items():
                    with open(folder / name, "rb") as lines:
                        for line in lines:
                            key, _, value = line.decode().rstrip("\n").partition(" ")
                            txn.put(bytes.fromhex(key), bytes.fromhex(value), db=db)
                txn.put(b"height", struct.pack(">Q", height), db=self._meta)
        except (lmdb.Error, ValueError, OSError) as exc:
            raise StorageError(f"cannot load the snapshot in {folder}: {exc}") from None

    def state_hash(self, namespaces: Sequence[str] = ()) -> str:
        """SHA-256 over every (key, value, version) in key order: two peers with the same
        committed blocks have the same hash (the crash test compares peers with it)."""
        digest = hashlib.sha256()
        with self.env.begin(db=self._state) as txn:
            for raw_key, raw in txn.cursor():
                if namespaces and raw_key.split(_SEP, 1)[0].decode() not in namespaces:
                    continue
                digest.update(struct.pack(">I", len(raw_key)) + raw_key)
                digest.update(struct.pack(">I", len(raw)) + raw)
        return digest.hexdigest()
