"""The journal as its callers use it: append, read, digests, proofs, group commit, recovery."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ledger_files import fill

import ledgerdb.segments
from ledgerdb.audit import audit
from ledgerdb.block import Payload, Revision, encode, prepare
from ledgerdb.errors import (
    BlockNotFound,
    CorruptRecord,
    InvalidInput,
    LedgerClosed,
    LedgerNotFound,
    LedgerUnavailable,
    StorageFailure,
    VerificationError,
)
from ledgerdb.journal import AsyncJournal, Journal
from ledgerdb.segments import frame
from ledgerdb.sharing import write_acked
from ledgerdb.verify import verify_block, verify_consistency, verify_inclusion, verify_link


def test_append_read_digest_and_proofs(ledger: Path) -> None:
    with Journal.open(ledger) as journal:
        assert journal.tip is None
        first = journal.append([Payload(b"fabric block 0")], {"channel": "mychannel"})
        second = journal.append([Revision({"id": "d1", "version": 0}, {"colour": "red"})])
        assert (first.sequence_no, second.sequence_no) == (0, 1)
        assert first.strand_id == second.strand_id == journal.strand_id
        assert journal.tip == second
        digest = journal.digest()
        assert digest.tip == second
        blocks = list(journal.read_range(0, 10))
        assert [block.sequence_no for block in blocks] == [0, 1]
        verify_link(None, blocks[0])
        verify_link(blocks[0], blocks[1])
        for block in blocks:
            verify_block(block)
            proof = journal.inclusion_proof(block.sequence_no)
            verify_inclusion(block.block_hash, block.sequence_no, 1, proof, digest.digest)
        assert blocks[0].transaction_info_value() == {"channel": "mychannel"}
        assert blocks[1].entries[0].revision().data == {"colour": "red"}


def test_proofs_against_a_digest_saved_long_ago(ledger: Path) -> None:
    fill(ledger, 10)
    with Journal.open(ledger) as journal:
        old = journal.digest()
        for number in range(10, 60):
            journal.append([Payload(b"later %d" % number)])
        new = journal.digest()
        for number in range(10):
            block = journal.read(number)
            proof = journal.inclusion_proof(number, old.tip.sequence_no)
            verify_inclusion(block.block_hash, number, 9, proof, old.digest)
        verify_consistency(9, old.digest, 59, new.digest, journal.consistency_proof(9, 59))
        assert journal.digest(9) == old


def test_reopen_keeps_every_block_and_the_digest(ledger: Path) -> None:
    payloads = fill(ledger, 25)
    with Journal.open(ledger) as journal:
        digest = journal.digest()
        assert [journal.read(n).entries[0].body for n in range(25)] == payloads
    with Journal.open(ledger) as journal:
        assert journal.digest() == digest


def test_the_tree_is_rebuilt_from_the_blocks(ledger: Path) -> None:
    fill(ledger, 30)
    with Journal.open(ledger) as journal:
        digest = journal.digest()
    (ledger / "tree.nodes").unlink()
    with Journal.open(ledger, read_only=True) as journal:
        assert journal.digest() == digest
    with Journal.open(ledger) as journal:
        assert journal.digest() == digest
    nodes = ledger / "tree.nodes"
    data = bytearray(nodes.read_bytes())
    data[-1] ^= 1
    nodes.write_bytes(bytes(data))
    with Journal.open(ledger) as journal:
        assert journal.digest() == digest
    assert audit(ledger).ok


@pytest.mark.parametrize("callers_write", [False, True], ids=["threads", "callers"])
def test_group_commit_shares_fsyncs_and_acknowledges_only_synced_blocks(
    ledger: Path, monkeypatch: pytest.MonkeyPatch, callers_write: bool
) -> None:
    synced = []
    real_fdatasync = os.fdatasync
    journal = Journal.open(ledger, callers_write=callers_write)

    def slow_fdatasync(fd: int) -> None:
        count = journal._log.count if hasattr(journal, "_log") else 0
        time.sleep(0.002)
        real_fdatasync(fd)
        synced.append(count)

    monkeypatch.setattr(ledgerdb.segments.os, "fdatasync", slow_fdatasync)
    acknowledged: list[tuple[int, int]] = []

    def writer(number: int) -> None:
        for index in range(40):
            address = journal.append([Payload(b"w%d-%d" % (number, index))])
            acknowledged.append((address.sequence_no, max(synced)))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    journal.close()
    assert sorted(seq for seq, _ in acknowledged) == list(range(320))
    assert all(seq < synced_count for seq, synced_count in acknowledged)
    assert len(synced) < 320 / 2  # groups shared fsyncs


async def test_async_appenders_share_the_journal(ledger: Path) -> None:
    journal = await AsyncJournal.open(ledger)

    async def writer(number: int) -> list[int]:
        addresses = [await journal.append([Payload(b"%d-%d" % (number, i))]) for i in range(25)]
        return [address.sequence_no for address in addresses]

    results = await asyncio.gather(*(writer(n) for n in range(8)))
    assert sorted(seq for result in results for seq in result) == list(range(200))
    assert all(result == sorted(result) for result in results)
    digest = await journal.digest()
    proof = await journal.inclusion_proof(17)
    block = await journal.read(17)
    verify_inclusion(block.block_hash, 17, 199, proof, digest.digest)
    assert len(await journal.read_range(190, 300)) == 10
    await journal.close()
    assert audit(ledger).ok


@pytest.mark.parametrize("callers_write", [False, True], ids=["threads", "callers"])
def test_a_failed_fsync_stops_the_journal(
    ledger: Path, monkeypatch: pytest.MonkeyPatch, callers_write: bool
) -> None:
    fill(ledger, 3)
    journal = Journal.open(ledger, callers_write=callers_write)

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(ledgerdb.segments.os, "fdatasync", broken)
    with pytest.raises(StorageFailure, match="Input/output error"):
        journal.append([Payload(b"never acknowledged")])
    with pytest.raises(LedgerClosed, match="stopped"):
        journal.append([Payload(b"refused")])
    assert journal.tip.sequence_no == 2
    journal.close()
    monkeypatch.undo()
    with Journal.open(ledger) as reopened:
        assert reopened.tip.sequence_no >= 2  # the unacknowledged block may or may not be there
    assert audit(ledger).ok


def test_bad_requests_name_what_is_wrong(ledger: Path) -> None:
    fill(ledger, 5)
    with Journal.open(ledger) as journal:
        with pytest.raises(BlockNotFound, match="sequence number 5 does not exist: the tip is 4"):
            journal.read(5)
        with pytest.raises(BlockNotFound, match="digest tip 9 does not exist"):
            journal.digest(9)
        with pytest.raises(BlockNotFound, match="block 3 is beyond the digest tip 2"):
            journal.inclusion_proof(3, 2)
        with pytest.raises(BlockNotFound, match="first tip 4 is after second tip 1"):
            journal.consistency_proof(4, 1)
        with pytest.raises(InvalidInput, match="non-empty list"):
            journal.append([])
        with pytest.raises(InvalidInput, match="a block holds at most"):
            journal.append([Payload(bytes(100 * 2**20)), Payload(bytes(30 * 2**20))])
        assert journal.tip.sequence_no == 4  # the bad appends wrote nothing ...
        assert journal.append([Payload(b"fine")]).sequence_no == 5  # ... and stopped nothing


def test_one_writer_per_directory_and_readers_beside_it(ledger: Path) -> None:
    fill(ledger, 1)
    with Journal.open(ledger) as writer:
        with pytest.raises(LedgerUnavailable, match="in use by another process"):
            Journal.open(ledger)
        writer.append([Payload(b"second")])
        with Journal.open(ledger, read_only=True) as reader:
            assert reader.writer_live
            assert reader.tip == writer.tip and reader.digest() == writer.digest()
    with (
        Journal.open(ledger, read_only=True) as reader,
        Journal.open(ledger, read_only=True),
        pytest.raises(LedgerClosed, match="read-only"),
    ):
        assert not reader.writer_live
        with Journal.open(ledger) as writer:  # readers never keep a writer out
            writer.append([Payload(b"third")])
        reader.append([Payload(b"x")])


def _write_behind_the_writers_back(ledger: Path, record: bytes) -> None:
    """Bytes at the end of the last segment, as a writer leaves them mid-write."""
    segment = sorted((ledger / "segments").glob("*.seg"))[-1]
    with open(segment, "ab") as handle:
        handle.write(record)


def test_a_reader_beside_a_live_writer_takes_only_acknowledged_blocks(ledger: Path) -> None:
    with Journal.open(ledger) as writer:
        for number in range(3):
            writer.append([Payload(b"block %d" % number)])
        digest = writer.digest()
        written = writer.head().seal(prepare([Payload(b"not acknowledged")]), 0)
        _write_behind_the_writers_back(ledger, frame(encode(written)))  # whole, not acked
        _write_behind_the_writers_back(ledger, frame(b"half written")[:9])  # torn
        with Journal.open(ledger, read_only=True) as reader:
            assert reader.tip.sequence_no == 2 and reader.digest() == digest
            assert reader.torn_bytes == 0  # the writer's work in progress, not a torn tail
        report = audit(ledger)
        assert report.ok and report.blocks == 3 and report.torn_bytes == 0
    with Journal.open(ledger, read_only=True) as reader:  # no writer: every whole record
        assert not reader.writer_live
        assert reader.tip.sequence_no == 3 and reader.torn_bytes == 9


def test_a_reader_trusts_a_checkpoint_that_ran_ahead_of_the_acknowledged_mark(
    ledger: Path,
) -> None:
    with Journal.open(ledger) as writer:
        for number in range(10):
            writer.append([Payload(b"block %d" % number)])
        writer._nodes.sync()
        writer._write_checkpoint(writer.tree)  # checkpoint at 10 ...
        write_acked(writer._acked_fd, 6)  # ... read before the mark moved past 6
        with Journal.open(ledger, read_only=True) as reader:
            assert reader.tip.sequence_no == 5 and reader.digest() == writer.digest(5)
        assert audit(ledger).ok
        write_acked(writer._acked_fd, 20)
        with pytest.raises(CorruptRecord, match="acknowledged 20 blocks but the segments hold"):
            Journal.open(ledger, read_only=True)


def test_missing_and_unusable_directories(tmp_path: Path) -> None:
    with pytest.raises(LedgerNotFound):
        Journal.open(tmp_path / "absent", create=False)
    with pytest.raises(LedgerNotFound):
        Journal.open(tmp_path, read_only=True)
    afile = tmp_path / "file"
    afile.write_text("x")
    with pytest.raises(LedgerUnavailable, match="not a directory"):
        Journal.open(afile)


@pytest.mark.parametrize("callers_write", [False, True], ids=["threads", "callers"])
def test_closed_journal_refuses(ledger: Path, callers_write: bool) -> None:
    journal = Journal.open(ledger, callers_write=callers_write)
    journal.close()
    with pytest.raises(LedgerClosed):
        journal.append([Payload(b"late")])
    journal.close()


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=3),
        min_size=1,
        max_size=40,
    ),
    st.data(),
)
def test_any_appends_give_proofs_that_verify(batches: list[list[bytes]], data) -> None:
    with tempfile.TemporaryDirectory() as directory:
        digests = []
        with Journal.open(directory) as journal:
            for batch in batches:
                journal.append([Payload(item) for item in batch])
                digests.append(journal.digest())
            size = len(batches)
            for tip in data.draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=5)):
                number = data.draw(st.integers(0, tip))
                block = journal.read(number)
                proof = journal.inclusion_proof(number, tip)
                verify_inclusion(block.block_hash, number, tip, proof, digests[tip].digest)
                first = data.draw(st.integers(0, tip))
                verify_consistency(
                    first,
                    digests[first].digest,
                    tip,
                    digests[tip].digest,
                    journal.consistency_proof(first, tip),
                )
        assert audit(directory).ok


def test_every_append_wakes_the_writer(ledger: Path) -> None:
    """The writer and the syncer wait on one condition. After a refused append the writer
    waits behind the syncer, so a lone notify() woke only the syncer and the next append
    hung forever; every submit must wake the writer."""
    with Journal.open(ledger) as journal:
        for number in range(20):
            refused = journal.submit([([], None, None)])
            with pytest.raises(InvalidInput):
                refused.result(timeout=10)
            accepted = journal.submit([([Payload(b"%d" % number)], None, None)])
            assert accepted.result(timeout=10)[0].sequence_no == number


def test_a_copy_takes_blocks_sealed_elsewhere_only_where_they_continue_the_chain(
    tmp_path: Path,
) -> None:
    """A replicated journal's local copy: the blocks arrive sealed, and are kept as sealed."""
    with Journal.open(tmp_path / "origin") as origin:
        for number in range(3):
            origin.append([Payload(b"block %d" % number)], {"n": number})
        blocks = list(origin.read_range(0, 3))
        digest = origin.digest()
    with Journal.open(tmp_path / "copy", strand_id=origin.strand_id) as copy:
        with pytest.raises(VerificationError, match="block 1 arrived where block 0 belongs"):
            copy.submit(blocks[1:]).result()
        assert copy.tip is None  # the refused group wrote nothing and stopped nothing
        copy.submit(blocks[:2]).result()
        with pytest.raises(VerificationError, match="block 1 arrived where block 2 belongs"):
            copy.submit(blocks[1:2]).result()
        copy.submit(blocks[2:]).result()
        assert list(copy.read_range(0, 3)) == blocks
        assert copy.digest() == digest
    assert audit(tmp_path / "copy").ok


def test_a_copy_keeps_the_strand_it_was_made_for(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "copy", strand_id="S" * 22) as copy:
        assert copy.strand_id == "S" * 22
        assert copy.append([Payload(b"x")]).strand_id == "S" * 22
    with pytest.raises(LedgerUnavailable, match=f"strand {'S' * 22}, not {'T' * 22}"):
        Journal.open(tmp_path / "copy", strand_id="T" * 22)


def test_the_head_is_where_the_next_block_goes(ledger: Path) -> None:
    with Journal.open(ledger) as journal:
        assert journal.head().sequence_no == 0 and journal.head().previous_hash == b""
        journal.append([Payload(b"a")])
        tip = journal.read(0)
        head = journal.head()
        assert (head.sequence_no, head.previous_hash) == (1, tip.block_hash)
        assert head.timestamp_micros == tip.timestamp_micros


def test_a_meta_file_naming_another_strand_is_refused(ledger: Path) -> None:
    """Found by the fuzzer: one changed character in journal.meta renamed the journal, and
    the next block would have started a second strand on top of the first."""
    fill(ledger, 3)
    meta = ledger / "journal.meta"
    text = meta.read_text()
    strand = json.loads(text)["strandId"]
    other = ("1" if strand[0] != "1" else "2") + strand[1:]
    meta.write_text(text.replace(strand, other))
    with pytest.raises(LedgerUnavailable, match=f"names strand {other}, but block 2 belongs"):
        Journal.open(ledger)


def test_an_append_whose_caller_never_completed_it_is_written_by_the_next_caller_or_close(
    ledger: Path,
) -> None:
    """Where callers write, a submitted append is written by whichever caller leads the
    next group, or by ``close``: never left queued."""
    journal = Journal.open(ledger, callers_write=True)
    orphan = journal.submit([([Payload(b"submitted, never completed")], None, None)])
    assert not orphan.done()
    assert journal.append([Payload(b"next")]).sequence_no == 1
    assert orphan.result()[0].sequence_no == 0
    last = journal.submit([([Payload(b"queued at close")], None, None)])
    journal.close()
    assert last.result()[0].sequence_no == 2
    with Journal.open(ledger, read_only=True) as reopened:
        assert reopened.tip.sequence_no == 2
    assert audit(ledger).ok


def test_asyncio_callers_need_the_writer_threads(ledger: Path) -> None:
    with (
        Journal.open(ledger, callers_write=True) as journal,
        pytest.raises(ValueError, match="own writer threads"),
    ):
        AsyncJournal(journal)


def test_close_waits_for_a_caller_still_writing_its_group(
    ledger: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.open(ledger, callers_write=True)
    real_fdatasync = os.fdatasync
    syncing = threading.Event()

    def slow_fdatasync(fd: int) -> None:
        if not syncing.is_set():  # only the writer's: close's own fsync is quick
            syncing.set()
            time.sleep(0.3)
        real_fdatasync(fd)

    monkeypatch.setattr(ledgerdb.segments.os, "fdatasync", slow_fdatasync)
    outcome: list[object] = []
    writer = threading.Thread(
        target=lambda: outcome.append(journal.append([Payload(b"in flight at close")]))
    )
    writer.start()
    assert syncing.wait(10)
    journal.close()  # the group was taken before: close must let it finish
    writer.join(10)
    assert [address.sequence_no for address in outcome] == [0]
    monkeypatch.undo()
    with Journal.open(ledger, read_only=True) as reopened:
        assert reopened.tip.sequence_no == 0
    assert audit(ledger).ok
