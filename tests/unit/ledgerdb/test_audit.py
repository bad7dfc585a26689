"""``audit`` (``ledger verify``) against forgers who fix the checksums they break."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ledger_files import fill, segment_files

from ledgerdb.audit import audit
from ledgerdb.block import Block, Payload, Transaction, decode, encode, make_entry, seal
from ledgerdb.errors import VerificationError
from ledgerdb.journal import Journal
from ledgerdb.segments import SegmentLog, frame
from ledgerdb.verify import verify_inclusion


def rewrite(path: Path, change) -> None:
    """Replace blocks in the segment files, with valid record checksums (a careful forger)."""
    log = SegmentLog(path / "segments", recover=False)
    blocks = [decode(log.read(number)) for number in range(log.count)]
    log.close()
    blocks = change(blocks)
    (segment,) = segment_files(path)
    segment.write_bytes(b"".join(frame(encode(block)) for block in blocks))


def forged_entry(block: Block) -> Block:
    return dataclasses.replace(block, entries=(make_entry(Payload(b"forged")),))


def reseal(block: Block, previous: bytes) -> Block:
    transaction = Transaction(
        block.transaction_id,
        block.transaction_info,
        block.entries_hash_list[0],
        block.entries,
    )
    return seal(transaction, block.address, block.timestamp_micros, previous)


def test_honest_journal_passes(ledger: Path) -> None:
    fill(ledger, 12)
    report = audit(ledger)
    assert report.ok and report.blocks == 12 and report.digest.tip.sequence_no == 11


def test_changed_entry_with_valid_checksum_is_named(ledger: Path) -> None:
    fill(ledger, 8)
    rewrite(ledger, lambda blocks: [*blocks[:3], forged_entry(blocks[3]), *blocks[4:]])
    report = audit(ledger)
    assert report.bad_block == 3 and "block 3: entriesHashList does not match" in report.problem


def test_resealed_block_breaks_the_next_link(ledger: Path) -> None:
    fill(ledger, 8)

    def change(blocks: list[Block]) -> list[Block]:
        forged = reseal(forged_entry(blocks[3]), blocks[2].block_hash)
        return [*blocks[:3], forged, *blocks[4:]]

    rewrite(ledger, change)
    report = audit(ledger)
    assert report.bad_block == 4 and "previousBlockHash" in report.problem


def test_rewritten_history_fails_against_a_saved_digest(ledger: Path) -> None:
    """A forger who reseals every later block and rebuilds the tree still cannot match a
    digest someone saved before: that is what digests are for."""
    fill(ledger, 8)
    with Journal.open(ledger) as journal:
        saved = journal.digest()

    def change(blocks: list[Block]) -> list[Block]:
        result = blocks[:3]
        for block in blocks[3:]:
            changed = forged_entry(block) if block.sequence_no == 3 else block
            result.append(reseal(changed, result[-1].block_hash))
        return result

    rewrite(ledger, change)
    (ledger / "tree.nodes").unlink()  # the forger rebuilds the tree from the forged blocks
    (ledger / "tree.synced").unlink()
    assert audit(ledger).ok  # internally consistent now ...
    with Journal.open(ledger) as journal:
        block = journal.read(3)
        proof = journal.inclusion_proof(3, 7)
        assert journal.digest().digest != saved.digest  # ... but not with the saved digest
    with pytest.raises(VerificationError, match="block 3 is not in the digest"):
        verify_inclusion(block.block_hash, 3, 7, proof, saved.digest)


def test_damaged_tree_file_is_reported(ledger: Path) -> None:
    fill(ledger, 9)
    nodes = ledger / "tree.nodes"
    data = bytearray(nodes.read_bytes())
    data[32 * 2 + 5] ^= 1  # node 2: the parent of blocks 0 and 1, not a leaf
    nodes.write_bytes(bytes(data))
    report = audit(ledger)
    assert not report.ok and "tree.nodes is damaged at node 2" in report.problem
