"""What a statement asks the database to do: the changes, applied later in a transaction.

The evaluator never writes; it returns these so the database can check limits (document
size, documents per transaction), write the journal block and update its indexes in one
place, and so a failed statement leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class InsertDocument:
    table: str
    document_id: str
    document: Any
    # What ``document`` was copied from (often a ``?`` parameter, whose Ion Hash the
    # statement digest computes anyway: the commit then need not hash the copy again).
    source: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class UpdateDocument:
    """The document's full new value (QLDB stores whole revisions, not patches)."""

    table: str
    document_id: str
    document: Any


@dataclass(frozen=True)
class DeleteDocument:
    table: str
    document_id: str


@dataclass(frozen=True)
class CreateTable:
    table: str
    table_id: str


@dataclass(frozen=True)
class DropTable:
    table: str
    table_id: str


@dataclass(frozen=True)
class UndropTable:
    table: str
    table_id: str


@dataclass(frozen=True)
class CreateIndex:
    table: str
    table_id: str
    index_id: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class DropIndex:
    table: str
    table_id: str
    index_id: str


Change = (
    InsertDocument
    | UpdateDocument
    | DeleteDocument
    | CreateTable
    | DropTable
    | UndropTable
    | CreateIndex
    | DropIndex
)
