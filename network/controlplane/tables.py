"""The current revision of every document, rebuilt from the journal and kept in memory.

A few hundred networks, members and proposals fit easily in memory; the journal is the
truth and this is only its latest state plus the block each revision sits in (which the
history command turns into proofs).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from network.controlplane.store import TABLES, Change


@dataclass
class Located:
    """A revision and the journal block it was written in (None until it is durable)."""

    version: int
    document: Mapping[str, Any]
    sequence_no: int | None = None


@dataclass
class Tables:
    current: dict[str, dict[str, Located]] = field(
        default_factory=lambda: {table: {} for table in TABLES}
    )
    history: dict[tuple[str, str], list[Located]] = field(default_factory=lambda: defaultdict(list))
    votes_by_proposal: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def get(self, table: str, doc_id: str) -> dict[str, Any] | None:
        found = self.current[table].get(doc_id)
        return None if found is None else dict(found.document)

    def rows(self, table: str) -> Iterable[Mapping[str, Any]]:
        return (located.document for located in self.current[table].values())

    def next_version(self, table: str, doc_id: str) -> int:
        found = self.current[table].get(doc_id)
        return 0 if found is None else found.version + 1

    def apply(self, changes: Iterable[Change], sequence_no: int | None) -> list[Located]:
        """Make ``changes`` current; returns their records so the block can be noted later."""
        applied = []
        for change in changes:
            located = Located(change.version, change.document, sequence_no)
            if change.id not in self.current[change.table] and change.table == "votes":
                self.votes_by_proposal[change.document["ProposalId"]].append(change.id)
            self.current[change.table][change.id] = located
            self.history[(change.table, change.id)].append(located)
            applied.append(located)
        return applied

    def revisions(self, table: str, doc_id: str) -> list[Located]:
        return list(self.history.get((table, doc_id), ()))
