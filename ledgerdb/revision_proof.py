"""Revision proofs: a document revision, its block, and the block's path to a digest.

QLDB's ``GetRevision`` answers with the revision and a proof; verifying it goes
revision hash → block entries hash → block hash → digest. Here the proof carries the
whole block (its entries are what the revision hash must be among), so verification is
the journal's pure functions: recompute the revision's hash from its metadata and data,
find it among the block's entry hashes, recompute the block's hashes, and fold the
inclusion proof up to the digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledgerdb.block import Block, ion_hash
from ledgerdb.errors import VerificationError
from ledgerdb.hashing import EMPTY, dot, merkle_path
from ledgerdb.journal import Digest
from ledgerdb.verify import verify_block, verify_inclusion


@dataclass(frozen=True)
class RevisionProof:
    revision: dict  # the committed-view row: {blockAddress, hash, data, metadata}
    block: Block
    block_proof: list[bytes]  # inclusion proof of the block at the digest's tip
    digest: Digest

    def verify(self, trusted_digest: bytes | None = None) -> None:
        verify_revision_proof(self, trusted_digest)

    def qldb_proof(self) -> list[bytes]:
        """QLDB's GetRevision proof: folding it with ``dot`` from the revision's hash gives
        the digest, so QLDB's stock verifiers accept it without seeing the block."""
        hashes = [entry.hash for entry in self.block.entries]
        index = hashes.index(bytes(self.revision["hash"]))
        return entry_to_block_path(self.block, index) + list(self.block_proof)


def entry_to_block_path(block: Block, index: int) -> list[bytes]:
    """The hashes that fold entry ``index``'s hash up to the block hash with ``dot``.

    The entry's siblings in the entries tree, then the two other members of
    ``entriesHashList`` (transactionInfo's hash, the header hash; ``merkle_root`` of three
    is ``dot(dot(info, entries), header)``), then the previous block hash (block 0 has none).
    """
    info_hash, _, header = block.entries_hash_list
    path = [*merkle_path([entry.hash for entry in block.entries], index), info_hash, header]
    if block.previous_block_hash:
        path.append(block.previous_block_hash)
    return path


def revision_hash(revision: dict[str, Any]) -> bytes:
    """dot(IonHash(metadata), IonHash(data)); a deleted revision has no data, a redacted
    one states its data's hash as ``dataHash``."""
    if "data" in revision:
        data_hash = ion_hash(revision["data"])
    else:
        data_hash = bytes(revision["dataHash"]) if "dataHash" in revision else EMPTY
    return dot(ion_hash(revision["metadata"]), data_hash)


def verify_revision_proof(proof: RevisionProof, trusted_digest: bytes | None = None) -> None:
    """Raise ``VerificationError`` unless the revision is in the journal at the digest.

    ``trusted_digest``: a digest the caller saved earlier (QLDB's advice); when given, the
    proof's digest must be it.
    """
    revision, block, digest = proof.revision, proof.block, proof.digest
    number = block.sequence_no
    computed = revision_hash(revision)
    if computed != bytes(revision["hash"]):
        raise VerificationError("revision hash does not match its metadata and data", number)
    address = revision["blockAddress"]
    if (address["strandId"], address["sequenceNo"]) != (block.address.strand_id, number):
        raise VerificationError(f"revision's block address is not block {number}", number)
    if computed not in {entry.hash for entry in block.entries}:
        raise VerificationError(f"block {number} holds no revision with this hash", number)
    verify_block(block)
    if trusted_digest is not None and trusted_digest != digest.digest:
        raise VerificationError("the proof's digest is not the trusted digest")
    verify_inclusion(
        block.block_hash, number, digest.tip.sequence_no, proof.block_proof, digest.digest
    )
