"""Whole-journal verification: every record's checksum, every block, every link, the tree.

This is what ``consortium ledger verify`` runs. It changes no file (a torn tail is
reported, not cut) and stops at the first problem, naming the block, because the first
bad block is where an operator has to look; everything after it is suspect anyway.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ledgerdb.block import Block
from ledgerdb.errors import CorruptRecord, VerificationError
from ledgerdb.journal import Digest, Journal
from ledgerdb.merkle import MemoryNodes, MerkleTree
from ledgerdb.verify import verify_block, verify_link


@dataclass(frozen=True)
class AuditReport:
    """What ``audit`` found: the journal's size and digest, or the first problem in it."""

    blocks: int
    digest: Digest | None
    torn_bytes: int = 0
    problem: str | None = None
    bad_block: int | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def audit(
    path: str | os.PathLike[str], progress: Callable[[int], None] | None = None
) -> AuditReport:
    """Check the journal in ``path`` from its first byte to its last."""
    try:
        journal = Journal.open(Path(path), read_only=True)
    except CorruptRecord as exc:
        return AuditReport(0, None, problem=str(exc), bad_block=exc.sequence_no)
    with journal:
        count = 0 if journal.tip is None else journal.tip.sequence_no + 1
        rebuilt = MerkleTree(MemoryNodes())
        previous: Block | None = None
        for sequence_no in range(count):
            try:
                block = journal.read(sequence_no)
                verify_block(block)
                verify_link(previous, block)
            except (CorruptRecord, VerificationError) as exc:
                return AuditReport(count, None, problem=str(exc), bad_block=sequence_no)
            rebuilt.append([block.block_hash])
            previous = block
            if progress and sequence_no % 10000 == 0:
                progress(sequence_no)
        problem = _compare_trees(journal.tree, rebuilt)
        if problem:
            return AuditReport(count, None, problem=problem[1], bad_block=problem[0])
        digest = journal.digest() if count else None
        return AuditReport(count, digest, journal.torn_bytes)


def _compare_trees(stored: MerkleTree, rebuilt: MerkleTree) -> tuple[int, str] | None:
    """The first stored tree node that the blocks do not produce (as block, message)."""
    if stored.size != rebuilt.size:
        return stored.size, f"tree has {stored.size} leaves but the journal {rebuilt.size} blocks"
    for leaf in range(rebuilt.size):
        if stored.leaf(leaf) != rebuilt.leaf(leaf):
            return leaf, f"block {leaf}: tree.nodes holds another hash for this block"
    for position in range(len(rebuilt.store)):
        if stored.store.node(position) != rebuilt.store.node(position):
            return 0, f"tree.nodes is damaged at node {position}"
    return None
