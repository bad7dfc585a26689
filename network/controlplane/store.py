"""The control plane's state: QLDB-style tables, event-sourced on a ledgerdb journal.

Every mutation is one journal block: one transaction whose entries are QLDB revisions
(``metadata {id, version, txTime, txId}`` + the document) and whose transactionInfo
names the operation, the calling account and, as QLDB does, each document's table.
On start the tables are rebuilt by replaying the journal, so the journal is the only
truth and every vote is an immutable entry with an inclusion proof against the digest.

The service talks to ``Store`` only; ``JournalStore`` is the implementation. Appends
are submitted without waiting, so concurrent requests share fsyncs (the journal's group
commit); callers await the returned future before acknowledging anything.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from amazon.ion.core import IonType

from ledgerdb.block import Block, BlockAddress, EntryKind, Revision, encode
from ledgerdb.errors import LedgerError
from ledgerdb.journal import Journal
from network.controlplane.errors import StoreError

TABLES = (
    "networks",
    "members",
    "invitations",
    "proposals",
    "electorates",
    "votes",
    "nodes",
    "requests",
)


@dataclass(frozen=True)
class Change:
    """A new revision of one document; ``version`` is 0 for a document's first revision."""

    table: str
    id: str
    version: int
    document: Mapping[str, Any]


@dataclass(frozen=True)
class Committed:
    """One replayed transaction: where it is in the journal and what it changed."""

    sequence_no: int
    time: datetime
    info: Mapping[str, Any]
    changes: tuple[Change, ...]


@dataclass(frozen=True)
class Evidence:
    """What a client needs to verify a block by itself: the block, its proof, the digest."""

    block: bytes
    proof: tuple[bytes, ...]
    digest: bytes
    tip: int


class Store(Protocol):
    @property
    def tip(self) -> int | None: ...

    def replay(self) -> Iterator[Committed]: ...

    def submit(
        self, info: Mapping[str, Any], changes: Sequence[Change], now: datetime
    ) -> Future: ...

    def evidence(self, sequence_no: int, tip: int | None = None) -> Evidence: ...

    def close(self) -> None: ...


def plain(value: Any) -> Any:
    """An Ion value read back as plain Python (dict, list, str, int, bool, None)."""
    ion_type = getattr(value, "ion_type", None)
    if value is None or ion_type is IonType.NULL or getattr(value, "is_null", False):
        return None
    if ion_type is IonType.BOOL:
        return bool(value)
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def compact(value: Any) -> Any:
    """A document without its null members: absent and null mean the same in AMB's shapes."""
    if isinstance(value, Mapping):
        return {key: compact(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [compact(item) for item in value]
    return value


def micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _changes(block: Block, info: Mapping[str, Any]) -> tuple[Change, ...]:
    tables = info.get("documents", {})
    found = []
    for entry in block.entries:
        if entry.kind is not EntryKind.REVISION:
            continue
        revision = entry.revision()
        metadata = plain(revision.metadata)
        doc_id = metadata["id"]
        table = tables.get(doc_id, {}).get("tableName")
        found.append(Change(table, doc_id, metadata["version"], plain(revision.data)))
    return tuple(found)


class JournalStore:
    """Tables on a ledgerdb journal in ``directory`` (created on first use)."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    @classmethod
    def open(cls, directory: str | Path) -> JournalStore:
        try:
            return cls(Journal.open(Path(directory)))
        except LedgerError as exc:
            raise StoreError(f"cannot open the control-plane ledger in {directory}: {exc}") from exc

    def replay(self) -> Iterator[Committed]:
        tip = self.journal.tip
        if tip is None:
            return
        for block in self.journal.read_range(0, tip.sequence_no + 1):
            info = plain(block.transaction_info_value())
            moment = datetime.fromtimestamp(block.timestamp_micros / 1_000_000, UTC)
            yield Committed(block.sequence_no, moment, info, _changes(block, info))

    def submit(self, info: Mapping[str, Any], changes: Sequence[Change], now: datetime) -> Future:
        """Queue one block; the future resolves to its BlockAddress once it is durable."""
        tx_time = now.isoformat().replace("+00:00", "Z")
        entries = [
            Revision(
                {"id": change.id, "version": change.version, "txTime": tx_time},
                compact(change.document),
            )
            for change in changes
        ]
        documents = {change.id: {"tableName": change.table} for change in changes}
        if len(documents) != len(changes):
            raise StoreError("document ids must be unique across tables within a transaction")
        try:
            submitted = self.journal.submit([(entries, {**info, "documents": documents}, None)])
        except LedgerError as exc:
            raise StoreError(f"the control-plane ledger refused a write: {exc}") from exc
        result: Future = Future()

        def settle(done: Future) -> None:
            error = done.exception()
            if error is not None:
                result.set_exception(StoreError(f"the control-plane ledger failed: {error}"))
            else:
                address: BlockAddress = done.result()[0]
                result.set_result(address.sequence_no)

        submitted.add_done_callback(settle)
        return result

    def evidence(self, sequence_no: int, tip: int | None = None) -> Evidence:
        try:
            digest = self.journal.digest(tip)
            block = self.journal.read(sequence_no)
            proof = self.journal.inclusion_proof(sequence_no, digest.tip.sequence_no)
        except LedgerError as exc:
            raise StoreError(f"cannot prove block {sequence_no}: {exc}") from exc
        return Evidence(encode(block), tuple(proof), digest.digest, digest.tip.sequence_no)

    @property
    def tip(self) -> int | None:
        address = self.journal.tip
        return None if address is None else address.sequence_no

    def close(self) -> None:
        try:
            self.journal.close()
        except LedgerError as exc:
            raise StoreError(f"the control-plane ledger did not close cleanly: {exc}") from exc


async def settled(future: Future) -> Any:
    return await asyncio.wrap_future(future)
