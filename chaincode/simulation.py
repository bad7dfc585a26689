"""Transaction simulation: the reads and writes of one proposal, recorded the way Fabric does.

As in Fabric's lock-based transaction simulator, reads see committed state only (never the
transaction's own writes), each read records the version it saw, range scans record what
they returned so phantoms can be detected, and a transaction that ran a paginated query or
a query on private data may not write.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from chaincode import mango
from chaincode.errors import StateError
from chaincode.rwset import RangeQuery, TxRWSet, sha256
from chaincode.state import KeyModification, StateReader, VersionedValue


@dataclass
class RangeScan:
    """A live range scan; ``next`` feeds the recorded ``RangeQuery`` as results are taken."""

    _items: Iterator[tuple[str, VersionedValue]]
    record: RangeQuery | None
    limit: int = 0
    taken: int = 0
    _lookahead: tuple[str, VersionedValue] | None = None
    _done: bool = False
    _pending: list = field(default_factory=list)

    def _pull(self) -> tuple[str, VersionedValue] | None:
        if self._lookahead is not None:
            item, self._lookahead = self._lookahead, None
            return item
        return next(self._items, None)

    def next(self) -> tuple[str, VersionedValue] | None:
        if self._done:
            return None
        if self.limit and self.taken >= self.limit:
            # As Fabric's paginated iterator does, the end of a page reads as exhaustion
            # of the requested range: a paginated query only suits read-only transactions.
            self._lookahead = self._pull()
            self._finish(exhausted=True)
            return None
        item = self._pull()
        if item is None:
            self._finish(exhausted=True)
            return None
        self.taken += 1
        if self.record is not None:
            self.record.reads.append((item[0], item[1].version))
        return item

    def _finish(self, exhausted: bool) -> None:
        self._done = True
        if self.record is not None and not exhausted:
            self.record.exhausted = False
            self.record.end = self.record.reads[-1][0] if self.record.reads else self.record.start
        elif self.record is not None:
            self.record.exhausted = True

    def close(self) -> None:
        if not self._done:
            self._lookahead = self._pull()
            paged_out = bool(self.limit) and self.taken >= self.limit
            self._finish(exhausted=self._lookahead is None or paged_out)

    def bookmark(self) -> str:
        """The key the next page starts at (Fabric's range bookmark), or ``""`` at the end."""
        self.close()
        return self._lookahead[0] if self._lookahead else ""


class TxSimulator:
    """Records one transaction's read/write set against a ``StateReader`` snapshot."""

    def __init__(self, state: StateReader, tx_id: str = "") -> None:
        self.state = state
        self.tx_id = tx_id
        self.rwset = TxRWSet()
        self._paginated = False
        self._private_queried = False

    # --- public state ----------------------------------------------------------------

    def get_state(self, namespace: str, key: str) -> bytes | None:
        current = self._read(namespace, key)
        return current.value if current else None

    def get_state_metadata(self, namespace: str, key: str) -> dict[str, bytes]:
        current = self._read(namespace, key)
        return dict(current.metadata) if current else {}

    def _read(self, namespace: str, key: str) -> VersionedValue | None:
        current = self.state.get(namespace, key)
        self.rwset.namespace(namespace).reads.setdefault(key, current.version if current else None)
        return current

    def put_state(self, namespace: str, key: str, value: bytes) -> None:
        self._check_write(key)
        self.rwset.namespace(namespace).writes[key] = value if value else None

    def delete_state(self, namespace: str, key: str) -> None:
        self._check_write(key)
        self.rwset.namespace(namespace).writes[key] = None

    def put_state_metadata(self, namespace: str, key: str, metadata: dict[str, bytes]) -> None:
        self._check_write(key)
        self.rwset.namespace(namespace).metadata_writes[key] = dict(metadata)

    def range_scan(self, namespace: str, start: str, end: str, page_size: int = 0) -> RangeScan:
        if page_size:
            self._paginated = True
        record = RangeQuery(start=start, end=end, exhausted=False)
        self.rwset.namespace(namespace).range_queries.append(record)
        return RangeScan(self.state.scan(namespace, start, end), record, limit=page_size)

    def rich_query(
        self, namespace: str, query: str, page_size: int = 0, bookmark: str = ""
    ) -> mango.Page:
        """Run a Mango query; returned keys are recorded as reads (no phantom protection)."""
        parsed = mango.parse_query(query)
        if page_size:
            self._paginated = True
        versions: dict[str, VersionedValue] = {}

        def documents() -> Iterator[tuple[str, bytes]]:
            for key, current in self.state.scan(namespace, "", ""):
                versions[key] = current
                yield key, current.value

        page = mango.execute(parsed, documents(), page_size, bookmark)
        reads = self.rwset.namespace(namespace).reads
        for key, _value in page.results:
            reads.setdefault(key, versions[key].version)
        return page

    def history(self, namespace: str, key: str) -> Iterator[KeyModification]:
        return self.state.history(namespace, key)

    # --- private data ----------------------------------------------------------------

    def get_private(self, namespace: str, collection: str, key: str) -> bytes | None:
        current = self._read_private(namespace, collection, key)
        return current.value if current else None

    def get_private_metadata(self, namespace: str, collection: str, key: str) -> dict[str, bytes]:
        current = self._read_private(namespace, collection, key)
        return dict(current.metadata) if current else {}

    def _read_private(self, namespace: str, collection: str, key: str) -> VersionedValue | None:
        current = self.state.get_private(namespace, collection, key)
        reads = self.rwset.namespace(namespace).collection(collection).reads
        reads.setdefault(key, current.version if current else None)
        return current

    def get_private_hash(self, namespace: str, collection: str, key: str) -> bytes | None:
        current = self.state.get_private_hash(namespace, collection, sha256(key.encode()))
        reads = self.rwset.namespace(namespace).collection(collection).reads
        reads.setdefault(key, current.version if current else None)
        return current.value if current else None

    def put_private(self, namespace: str, collection: str, key: str, value: bytes) -> None:
        self._check_write(key)
        coll = self.rwset.namespace(namespace).collection(collection)
        coll.writes[key] = value if value else None

    def delete_private(self, namespace: str, collection: str, key: str) -> None:
        self._check_write(key)
        self.rwset.namespace(namespace).collection(collection).writes[key] = None

    def purge_private(self, namespace: str, collection: str, key: str) -> None:
        self._check_write(key)
        coll = self.rwset.namespace(namespace).collection(collection)
        coll.writes[key] = None
        coll.purges.add(key)

    def put_private_metadata(
        self, namespace: str, collection: str, key: str, metadata: dict[str, bytes]
    ) -> None:
        self._check_write(key)
        coll = self.rwset.namespace(namespace).collection(collection)
        coll.metadata_writes[key] = dict(metadata)

    def private_range_scan(
        self, namespace: str, collection: str, start: str, end: str
    ) -> RangeScan:
        self._private_queried = True
        return RangeScan(self.state.scan_private(namespace, collection, start, end), None)

    def private_rich_query(self, namespace: str, collection: str, query: str) -> mango.Page:
        self._private_queried = True
        parsed = mango.parse_query(query)
        documents = (
            (key, current.value)
            for key, current in self.state.scan_private(namespace, collection, "", "")
        )
        return mango.execute(parsed, documents)

    # --- rules -----------------------------------------------------------------------

    def _check_write(self, key: str) -> None:
        if not key:
            raise StateError("key: must not be an empty string")
        if self._paginated:
            raise StateError(
                f"txid {self.tx_id}: the transaction has already performed a paginated query; "
                "writes are not allowed"
            )
        if self._private_queried:
            raise StateError(
                f"txid {self.tx_id}: the transaction has already performed queries on private "
                "data; writes are not allowed"
            )
