"""QLDB's revision redaction: ``EXEC redact_revision ?, ?, ?`` removes one old revision's data.

A revision's hash is ``dot(IonHash(metadata), IonHash(data))``; redaction replaces the data
by its Ion Hash (``dataHash``), so the revision's hash, its block, the chain and every
proof stay what they were while the data leaves the journal and the history. QLDB's rules:
the request names the revision by block address, table id and document id; the latest
revision of a document cannot be redacted (update or delete the document first); a
revision without data (a deletion, or one already redacted) has nothing to redact.

The request is checked when the statement runs and carried out once its transaction
commits. Carrying it out rewrites the journal record (``Journal.redact``, crash-safe by
rename) and the stored history revision; the requests are first written to
``redactions.pending`` (temp file, fsync, rename), so a crash in between is finished the
next time the database opens. ``history()`` then shows ``dataHash`` where ``data`` was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ledgerdb.block import Block, EntryKind, ion_value
from ledgerdb.errors import InvalidInput
from ledgerdb.partiql.errors import PartiQLSemanticError

PROCEDURE = "redact_revision"
PENDING_FILE = "redactions.pending"


class RedactionRefused(InvalidInput):
    """``redact_revision`` named a revision QLDB's rules do not let be redacted (or none)."""


@dataclass(frozen=True)
class RedactionRequest:
    sequence_no: int
    table_id: str
    document_id: str
    version: int

    def result(self, strand_id: str) -> dict[str, Any]:
        """The document ``redact_revision`` answers with, as QLDB's did."""
        return {
            "blockAddress": {"strandId": strand_id, "sequenceNo": self.sequence_no},
            "tableId": self.table_id,
            "documentId": self.document_id,
            "version": self.version,
        }


def parse_arguments(procedure: str, arguments: Sequence[Any], strand_id: str) -> tuple:
    """(sequence number, table id, document id) from the statement's three arguments."""
    if procedure.lower() != PROCEDURE:
        raise PartiQLSemanticError(f"EXEC: unknown procedure {procedure!r} (QLDB has {PROCEDURE})")
    if len(arguments) != 3:
        raise PartiQLSemanticError(
            f"EXEC {PROCEDURE} takes 3 arguments (block address, table id, document id), "
            f"got {len(arguments)}"
        )
    address, table_id, document_id = arguments
    if not isinstance(address, Mapping):
        raise RedactionRefused(f"{PROCEDURE}: the block address must be a struct")
    strand, number = address.get("strandId"), address.get("sequenceNo")
    if strand != strand_id or isinstance(number, bool) or not isinstance(number, int):
        raise RedactionRefused(
            f"{PROCEDURE}: the block address must be {{strandId: {strand_id!r}, sequenceNo: int}}"
        )
    for name, value in (("table id", table_id), ("document id", document_id)):
        if not isinstance(value, str) or not value:
            raise RedactionRefused(f"{PROCEDURE}: the {name} must be a non-empty string")
    return int(number), str(table_id), str(document_id)


def find_revision(block: Block, document_id: str) -> tuple[int, Mapping[str, Any]]:
    """The position and stored value of ``document_id``'s revision in ``block``."""
    for index, entry in enumerate(block.entries):
        if entry.kind is EntryKind.REVISION:
            value = ion_value(entry.body, "revision")
            if value["metadata"]["id"] == document_id:
                return index, value
    raise RedactionRefused(
        f"{PROCEDURE}: block {block.sequence_no} holds no revision of document {document_id}"
    )


def check_request(
    block: Block, table_id: str, document_id: str, latest_version: int | None
) -> RedactionRequest:
    """The request, if QLDB's rules allow it; ``latest_version``: the document's newest."""
    _, value = find_revision(block, document_id)
    info = block.transaction_info_value()
    place = info.get("documents", {}).get(document_id) if isinstance(info, Mapping) else None
    if not isinstance(place, Mapping) or place.get("tableId") != table_id:
        raise RedactionRefused(
            f"{PROCEDURE}: document {document_id} in block {block.sequence_no} is not in "
            f"table {table_id}"
        )
    version = int(value["metadata"]["version"])
    if "dataHash" in value:
        raise RedactionRefused(f"{PROCEDURE}: that revision is already redacted")
    if "data" not in value:
        raise RedactionRefused(
            f"{PROCEDURE}: that revision deleted the document; it has no data to redact"
        )
    if latest_version is not None and version >= latest_version:
        raise RedactionRefused(
            f"{PROCEDURE}: version {version} is the latest revision of document "
            f"{document_id}; update or delete the document first"
        )
    return RedactionRequest(block.sequence_no, table_id, document_id, version)


class PendingRedactions:
    """Requests committed but maybe not carried out yet, in one small file."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / PENDING_FILE

    def load(self) -> list[RedactionRequest]:
        if not self.path.exists():
            return []
        try:
            return [RedactionRequest(**item) for item in json.loads(self.path.read_text())]
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidInput(f"{self.path} is not a list of redaction requests: {exc}") from None

    def store(self, requests: Sequence[RedactionRequest]) -> None:
        """Write the list durably (temp file, fsync, rename); an empty list removes it."""
        if not requests:
            self.path.unlink(missing_ok=True)
            return
        temporary = self.path.with_name(f".{PENDING_FILE}.tmp")
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump([asdict(item) for item in requests], handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
