"""Document revisions as QLDB shapes them, and what one journal block changes.

A revision is the journal entry ``{metadata: {id, version, txTime, txId}, data}`` (no
``data`` once the document is deleted). ``BlockWrites`` is everything one block changes
in indexed storage; it is built either by a committing transaction or from a journal
block when storage is rebuilt, so both paths apply the same thing the same way.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import Timestamp
from amazon.ion.simpleion import IonPyValueModel

from ledgerdb.block import Block, EntryKind, ion_timestamp
from ledgerdb.errors import InvalidInput, VerificationError


def tx_time(moment: datetime) -> Timestamp:
    """A revision's ``txTime``: UTC, millisecond precision (as QLDB shows it).

    Commits in the same millisecond share one (immutable) Timestamp: making one costs
    more than the rest of a revision's metadata."""
    return _tx_time_at(moment.replace(microsecond=moment.microsecond // 1000 * 1000))


@functools.lru_cache(maxsize=8)
def _tx_time_at(millisecond: datetime) -> Timestamp:
    return ion_timestamp(millisecond, 3)


def metadata(document_id: str, version: int, time: Timestamp, transaction_id: str) -> dict:
    return {"id": document_id, "version": version, "txTime": time, "txId": transaction_id}


@dataclass(frozen=True)
class RevisionWrite:
    """One document revision of a block, as storage applies it."""

    table_id: str
    document_id: str
    version: int
    data: Any  # None: the document was deleted
    body: bytes  # the journal entry body (Ion binary of {metadata, data})
    hash: bytes


@dataclass(frozen=True)
class BlockWrites:
    """Everything one journal block changes, in block order: revisions of the catalog
    table (``schema.CATALOG_TABLE_ID``) first, then the documents'."""

    sequence_no: int
    revisions: tuple[RevisionWrite, ...]


# Reads keep every Ion type but let scalars be bare Python values where that loses
# nothing (int, str, Decimal, …; symbols, clobs, sexps, typed nulls and annotated values
# stay IonPy): about twice as fast to load, and equal under Ion Hash.
BARE = IonPyValueModel.MAY_BE_BARE


def load(body: bytes) -> Any:
    return simpleion.loads(body, value_model=BARE)


# ---- stored revisions ----------------------------------------------------------------------
# Indexed storage keeps a revision as u64 block sequence number ‖ hash ‖ entry body.

_STORED = struct.Struct(">Q32s")


def encode_stored(sequence_no: int, revision_hash: bytes, body: bytes) -> bytes:
    return _STORED.pack(sequence_no, revision_hash) + body


@dataclass(frozen=True)
class StoredRevision:
    """A revision read back from indexed storage; its Ion is parsed on first use."""

    raw: bytes

    @property
    def sequence_no(self) -> int:
        return _STORED.unpack_from(self.raw)[0]

    @property
    def hash(self) -> bytes:
        return self.raw[8:40]

    @property
    def value(self) -> Any:
        return load(self.raw[_STORED.size :])

    @property
    def data(self) -> Any:
        return self.value.get("data")

    def committed_row(self, strand_id: str) -> dict[str, Any]:
        """QLDB's committed-view row: ``{blockAddress, hash, data, metadata}``."""
        value = self.value
        row: dict[str, Any] = {
            "blockAddress": {"strandId": strand_id, "sequenceNo": self.sequence_no},
            "hash": self.hash,
        }
        if "data" in value:
            row["data"] = value["data"]
        elif "dataHash" in value:  # redacted: QLDB shows the data's hash in its place
            row["dataHash"] = value["dataHash"]
        row["metadata"] = value["metadata"]
        return row


def revision_row(block: Block, document_id: str) -> dict[str, Any]:
    """The committed-view row of ``document_id``'s revision in ``block``."""
    for entry in block.entries:
        if entry.kind is not EntryKind.REVISION:
            continue
        value = simpleion.loads(entry.body)
        if value["metadata"]["id"] == document_id:
            stored = StoredRevision(encode_stored(block.sequence_no, entry.hash, entry.body))
            return stored.committed_row(block.address.strand_id)
    raise InvalidInput(
        f"document_id: block {block.sequence_no} holds no revision of document {document_id}"
    )


def writes_from_block(block: Block) -> BlockWrites:
    """What a journal block changes, read back from the block (for rebuilds)."""
    revisions = [e for e in block.entries if e.kind is EntryKind.REVISION]
    if not revisions:
        return BlockWrites(block.sequence_no, ())
    info = block.transaction_info_value()
    documents = info.get("documents", {}) if isinstance(info, Mapping) else {}
    writes: list[RevisionWrite] = []
    for entry in revisions:
        value = load(entry.body)
        meta = value["metadata"]
        document_id = str(meta["id"])
        place = documents.get(document_id)
        if place is None:
            raise VerificationError(
                f"block {block.sequence_no}: document {document_id} is not in transactionInfo",
                block.sequence_no,
            )
        version = int(meta["version"])
        data = value.get("data")
        writes.append(
            RevisionWrite(str(place["tableId"]), document_id, version, data, entry.body, entry.hash)
        )
    return BlockWrites(block.sequence_no, tuple(writes))
