"""An in-memory world state: the ``StateStore`` the harness simulates and commits against."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from chaincode.rwset import TxRWSet, sha256
from chaincode.state import KeyModification, Version, VersionedValue


class _SortedTable:
    """Keys kept in order, so range scans are a bisect plus a slice walk."""

    def __init__(self) -> None:
        self.values: dict[str, VersionedValue] = {}
        self.keys: list[str] = []

    def put(self, key: str, value: VersionedValue) -> None:
        if key not in self.values:
            bisect.insort(self.keys, key)
        self.values[key] = value

    def delete(self, key: str) -> None:
        if self.values.pop(key, None) is not None:
            del self.keys[bisect.bisect_left(self.keys, key)]

    def scan(self, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        index = bisect.bisect_left(self.keys, start) if start else 0
        keys = self.keys
        while index < len(keys):
            key = keys[index]
            if end and key >= end:
                return
            value = self.values.get(key)
            if value is not None:
                yield key, value
            index += 1


class MemoryState:
    """World state, private data (clear and hashed) and key history, all in dictionaries."""

    def __init__(self) -> None:
        self._public: dict[str, _SortedTable] = {}
        self._private: dict[tuple[str, str], _SortedTable] = {}
        self._hashes: dict[tuple[str, str], dict[bytes, VersionedValue]] = {}
        self._history: dict[tuple[str, str], list[KeyModification]] = {}

    def _table(self, namespace: str) -> _SortedTable:
        return self._public.setdefault(namespace, _SortedTable())

    def _private_table(self, namespace: str, collection: str) -> _SortedTable:
        return self._private.setdefault((namespace, collection), _SortedTable())

    def get(self, namespace: str, key: str) -> VersionedValue | None:
        table = self._public.get(namespace)
        return table.values.get(key) if table else None

    def scan(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        table = self._public.get(namespace)
        return table.scan(start, end) if table else iter(())

    def history(self, namespace: str, key: str) -> Iterator[KeyModification]:
        return reversed(self._history.get((namespace, key), []))

    def get_private(self, namespace: str, collection: str, key: str) -> VersionedValue | None:
        table = self._private.get((namespace, collection))
        return table.values.get(key) if table else None

    def scan_private(
        self, namespace: str, collection: str, start: str, end: str
    ) -> Iterator[tuple[str, VersionedValue]]:
        table = self._private.get((namespace, collection))
        return table.scan(start, end) if table else iter(())

    def get_private_hash(
        self, namespace: str, collection: str, key_hash: bytes
    ) -> VersionedValue | None:
        return self._hashes.get((namespace, collection), {}).get(key_hash)

    def commit(self, position: Version, tx_id: str, timestamp: float, rwset: TxRWSet) -> None:
        for namespace, ns in rwset.namespaces.items():
            table = self._table(namespace)
            for key, value in ns.writes.items():
                old = table.values.get(key)
                if value is None:
                    table.delete(key)
                else:
                    metadata = dict(old.metadata) if old else {}
                    table.put(key, VersionedValue(value, position, metadata))
                self._history.setdefault((namespace, key), []).append(
                    KeyModification(tx_id, value or b"", timestamp, value is None)
                )
            for key, metadata in ns.metadata_writes.items():
                current = table.values.get(key)
                if current is not None:
                    table.put(key, VersionedValue(current.value, position, dict(metadata)))
            for collection, coll in ns.collections.items():
                self._commit_private(namespace, collection, position, coll)

    def _commit_private(self, namespace: str, collection: str, position: Version, coll) -> None:
        table = self._private_table(namespace, collection)
        hashes = self._hashes.setdefault((namespace, collection), {})
        for key, value in coll.writes.items():
            key_hash = sha256(key.encode())
            if value is None:
                table.delete(key)
                hashes.pop(key_hash, None)
            else:
                old = table.values.get(key)
                metadata = dict(old.metadata) if old else {}
                table.put(key, VersionedValue(value, position, metadata))
                hashes[key_hash] = VersionedValue(sha256(value), position, metadata)
        for key, metadata in coll.metadata_writes.items():
            current = table.values.get(key)
            if current is not None:
                table.put(key, VersionedValue(current.value, position, dict(metadata)))
                hashes[sha256(key.encode())] = VersionedValue(
                    sha256(current.value), position, dict(metadata)
                )
