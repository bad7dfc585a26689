"""A block's inclusion proof in the orderer's ledgerdb journal, for the page to check.

The orderer appends each Fabric block to its channel's journal before anyone sees it
(DESIGN.md: Order); the journal's Merkle digest commits to every block so far. The
explorer reads the journal read-only, as ``consortium ledger block --node`` does, and
hands the page the journal block's contents (the Fabric block as the orderer stored it,
and the journal block's header fields), the proof (sibling hashes) and the digest; the
page recomputes every hash itself with Web Crypto — the Fabric data and header hashes,
the journal entry and block hashes, the path to the digest — so it trusts no verdict
but its own.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from ledgerdb.block import Block, ion_hash
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
            **_contents(block),
        }
    raise ProofUnavailable(f"no proof of block {number} of {channel}: " + "; ".join(problems))


def _contents(block: Block) -> dict[str, Any]:
    """What the page needs to hash the journal block again itself: the entry (the Fabric
    block as the orderer stored it, base64), the journal block's own header fields, its
    transactionInfo (Ion binary, base64) and Ion Hash, and its predecessor's hash. The
    orderer's transactionInfo is always the empty struct, whose Ion Hash the page
    recomputes; any other is shown as given (a whole Ion Hash in the page would be a
    second implementation of that spec)."""
    return {
        "entry": base64.b64encode(block.entries[0].body).decode() if block.entries else "",
        "transactionInfo": base64.b64encode(block.transaction_info).decode(),
        "strandId": block.address.strand_id,
        "transactionId": block.transaction_id,
        "timestampMicros": block.timestamp_micros,
        "infoHash": ion_hash(block.transaction_info_value()).hex(),
        "previousBlockHash": block.previous_block_hash.hex(),
    }
