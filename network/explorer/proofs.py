"""A block's inclusion proof in the orderer's ledgerdb journal, for the page to check.

The orderer appends each Fabric block to its channel's journal before anyone sees it
(DESIGN.md: Order); the journal's Merkle digest commits to every block so far. The
explorer reads the journal read-only, as ``consortium ledger block --node`` does, and
hands the page the journal block's hash, the proof (sibling hashes) and the digest;
the page recomputes the path itself with Web Crypto, so it trusts no verdict but its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ledgerdb.errors import LedgerError
from ledgerdb.journal import Journal
from network.errors import NetworkError


class ProofUnavailable(NetworkError):
    """No orderer journal holds the block (unknown channel or number, unreadable files)."""


def inclusion(journals: dict[str, Path], channel: str, number: int) -> dict[str, Any]:
    """``{orderer, blockHash, sequenceNo, tip, proof: [hex], digest}`` from the first
    orderer whose journal has the block."""
    problems = []
    for orderer, folder in journals.items():
        directory = folder / channel / "blocks"
        if not directory.is_dir():
            problems.append(f"{orderer} has no journal for {channel}")
            continue
        try:
            with Journal.open(directory, create=False, read_only=True) as journal:
                block = journal.read(number)
                digest = journal.digest()
                proof = journal.inclusion_proof(number, digest.tip.sequence_no)
        except (LedgerError, OSError) as exc:
            problems.append(f"{orderer}: {exc}")
            continue
        return {
            "orderer": orderer,
            "channel": channel,
            "sequenceNo": number,
            "blockHash": block.block_hash.hex(),
            "tip": digest.tip.sequence_no,
            "digest": digest.digest.hex(),
            "proof": [sibling.hex() for sibling in proof],
        }
    raise ProofUnavailable(f"no proof of block {number} of {channel}: " + "; ".join(problems))
