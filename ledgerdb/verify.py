"""Verification as pure functions: blocks, chain links, inclusion and consistency proofs.

Nothing here reads a file or a clock, so the same functions serve the journal's own
``verify``, the CLI, the tests, and later a peer or a browser checking what it was sent.
Every check raises ``VerificationError`` naming what failed; returning means it holds.
Proofs follow RFC 6962/9162 with QLDB's commutative ``dot`` in place of the RFC's
ordered node hash, so a proof is a plain list of hashes, folded leaf side first.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledgerdb.block import Block, compute_hashes, entry_hash, ion_hash, ion_value
from ledgerdb.errors import VerificationError
from ledgerdb.hashing import HASH_SIZE, dot
from ledgerdb.merkle import split


def _same(field: str, stored: bytes, computed: bytes, sequence_no: int) -> None:
    if stored != computed:
        raise VerificationError(
            f"block {sequence_no}: {field} does not match its contents", sequence_no
        )


def verify_block(block: Block) -> None:
    """Recompute every hash of ``block`` from its contents and compare with what it states."""
    number = block.sequence_no
    for index, entry in enumerate(block.entries):
        computed = entry_hash(entry.kind, entry.body, untrusted=True)
        _same(f"hash of entry {index}", entry.hash, computed, number)
    info_hash = ion_hash(ion_value(block.transaction_info, "transactionInfo", untrusted=True))
    hashes = compute_hashes(
        block.address,
        block.transaction_id,
        block.timestamp_micros,
        info_hash,
        [entry.hash for entry in block.entries],
        block.previous_block_hash,
    )
    _same(
        "entriesHashList",
        b"".join(block.entries_hash_list),
        b"".join(hashes.entries_hash_list),
        number,
    )
    _same("entriesHash", block.entries_hash, hashes.entries_hash, number)
    _same("blockHash", block.block_hash, hashes.block_hash, number)


def verify_link(previous: Block | None, block: Block) -> None:
    """``block`` follows ``previous`` (None: ``block`` is the genesis block)."""
    number = block.sequence_no
    if previous is None:
        if number != 0 or block.previous_block_hash:
            raise VerificationError(f"block {number} does not start the journal", number)
        return
    if number != previous.sequence_no + 1:
        raise VerificationError(
            f"block {number} follows block {previous.sequence_no}: sequence gap", number
        )
    if block.address.strand_id != previous.address.strand_id:
        raise VerificationError(f"block {number} is on another strand", number)
    if block.previous_block_hash != previous.block_hash:
        raise VerificationError(
            f"block {number}: previousBlockHash is not block {previous.sequence_no}'s hash",
            number,
        )


def verify_follows(block: Block, strand_id: str, sequence_no: int, previous_hash: bytes) -> None:
    """``block`` is block ``sequence_no`` of strand ``strand_id``, chained to
    ``previous_hash`` (empty for block 0): what a copy checks before it takes a block it
    was sent rather than one it sealed itself."""
    number = block.sequence_no
    if number != sequence_no:
        raise VerificationError(f"block {number} arrived where block {sequence_no} belongs", number)
    if block.address.strand_id != strand_id:
        raise VerificationError(
            f"block {number} is on strand {block.address.strand_id}, not {strand_id}", number
        )
    if block.previous_block_hash != previous_hash:
        raise VerificationError(
            f"block {number}: previousBlockHash is not the hash of block {number - 1}"
            if number
            else "block 0 names a previous block",
            number,
        )


def inclusion_path_length(index: int, size: int) -> int:
    """How many hashes RFC 6962's audit path of leaf ``index`` in a tree of ``size`` has."""
    length, start, end = 0, 0, size
    while end - start > 1:
        k = split(end - start)
        if index < start + k:
            end = start + k
        else:
            start += k
        length += 1
    return length


def _check_hashes(proof: Sequence[bytes], what: str) -> None:
    if any(not isinstance(item, bytes) or len(item) != HASH_SIZE for item in proof):
        raise VerificationError(f"{what} holds a value that is not a 32-byte hash")


def verify_inclusion(
    block_hash: bytes, sequence_no: int, tip_sequence_no: int, proof: Sequence[bytes], digest: bytes
) -> None:
    """``block_hash`` is block ``sequence_no`` of the journal whose digest at the tip is given."""
    if not 0 <= sequence_no <= tip_sequence_no:
        raise VerificationError(
            f"block {sequence_no} cannot be in a digest at tip {tip_sequence_no}", sequence_no
        )
    _check_hashes(proof, "inclusion proof")
    if len(proof) != inclusion_path_length(sequence_no, tip_sequence_no + 1):
        raise VerificationError(
            f"inclusion proof of block {sequence_no} at tip {tip_sequence_no} "
            f"has {len(proof)} hashes, expected "
            f"{inclusion_path_length(sequence_no, tip_sequence_no + 1)}",
            sequence_no,
        )
    computed = block_hash
    for sibling in proof:
        computed = dot(computed, sibling)
    if computed != digest:
        raise VerificationError(
            f"block {sequence_no} is not in the digest at tip {tip_sequence_no}", sequence_no
        )


def verify_consistency(
    first_tip: int,
    first_digest: bytes,
    second_tip: int,
    second_digest: bytes,
    proof: Sequence[bytes],
) -> None:
    """The journal at ``second_tip`` extends the one at ``first_tip`` (RFC 9162 §2.1.4.2)."""
    first, second = first_tip + 1, second_tip + 1
    if not 1 <= first <= second:
        raise VerificationError(f"tips {first_tip} and {second_tip} are not in order")
    _check_hashes(proof, "consistency proof")
    if first == second:
        if proof or first_digest != second_digest:
            raise VerificationError(f"digests at the same tip {first_tip} differ")
        return
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_digest)
    if not path:
        raise VerificationError("consistency proof is empty")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first_root = second_root = path[0]
    for node in path[1:]:
        if sn == 0:
            raise VerificationError("consistency proof is longer than the trees allow")
        if fn & 1 or fn == sn:
            first_root, second_root = dot(node, first_root), dot(node, second_root)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            second_root = dot(second_root, node)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError("consistency proof is shorter than the trees need")
    if first_root != first_digest:
        raise VerificationError(f"consistency proof does not lead to the digest at tip {first_tip}")
    if second_root != second_digest:
        raise VerificationError(
            f"consistency proof does not lead to the digest at tip {second_tip}"
        )
