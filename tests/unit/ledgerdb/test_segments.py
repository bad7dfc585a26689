"""Records on disk: torn tails are cut back, damaged records stop the open, by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ledger_files import fill, segment_files

from ledgerdb.block import Payload
from ledgerdb.errors import CorruptRecord, VerificationError
from ledgerdb.journal import Journal
from ledgerdb.segments import HEADER_SIZE, SegmentLog, frame, unframe


def record_offsets(path: Path) -> list[int]:
    log = SegmentLog(path / "segments", recover=False)
    offsets = list(log.segments[-1].offsets)
    log.close()
    return offsets


@pytest.mark.slow
def test_torn_tail_at_every_byte_is_cut_back(ledger: Path, tmp_path: Path) -> None:
    payloads = fill(ledger, 4)
    with Journal.open(ledger) as journal:
        digest_before_last = journal.digest(2)
    pristine = tmp_path / "pristine"
    shutil.copytree(ledger, pristine)
    segment = segment_files(ledger)[-1]
    whole = segment.read_bytes()
    last = record_offsets(ledger)[-1]
    for cut in range(last, len(whole)):
        for name in ("tree.nodes", "tree.synced"):
            shutil.copyfile(pristine / name, ledger / name)
        segment.write_bytes(whole[:cut])
        with Journal.open(ledger) as journal:
            assert journal.tip.sequence_no == 2
            assert journal.digest() == digest_before_last
            assert journal.read(2).entries[0].body == payloads[2]
            if cut % 16 == 0 or cut == len(whole) - 1:
                assert journal.append([Payload(b"after recovery")]).sequence_no == 3
        if cut % 16 == 0 or cut == len(whole) - 1:
            with Journal.open(ledger) as journal:
                assert journal.read(3).entries[0].body == b"after recovery"
        else:
            assert segment.stat().st_size == last


def test_zero_filled_tail_is_a_torn_tail(ledger: Path) -> None:
    fill(ledger, 3)
    segment = segment_files(ledger)[-1]
    with segment.open("ab") as handle:
        handle.write(bytes(5000))
    with Journal.open(ledger) as journal:
        assert journal.tip.sequence_no == 2


@pytest.mark.parametrize("where", ["header", "payload"])
def test_damaged_record_before_the_tail_names_file_and_offset(ledger: Path, where: str) -> None:
    fill(ledger, 6)
    segment = segment_files(ledger)[-1]
    offset = record_offsets(ledger)[2]
    data = bytearray(segment.read_bytes())
    data[offset + (1 if where == "header" else HEADER_SIZE + 20)] ^= 0x40
    segment.write_bytes(bytes(data))
    with pytest.raises(CorruptRecord) as caught:
        Journal.open(ledger)
    assert caught.value.segment == segment and caught.value.offset == offset
    assert caught.value.sequence_no == 2
    assert f"block 2: record {'header ' if where == 'header' else ''}checksum" in str(caught.value)
    assert str(segment) in str(caught.value) and f"offset {offset}" in str(caught.value)


def test_damaged_last_record_is_not_taken_for_a_torn_tail(ledger: Path) -> None:
    """A whole record with a bad checksum may have been acknowledged: never cut silently."""
    fill(ledger, 3)
    segment = segment_files(ledger)[-1]
    data = bytearray(segment.read_bytes())
    data[-3] ^= 0x01
    segment.write_bytes(bytes(data))
    with pytest.raises(CorruptRecord, match="block 2: record checksum mismatch"):
        Journal.open(ledger)


def test_segments_roll_over_and_reopen(ledger: Path) -> None:
    payloads = fill(ledger, 40, segment_bytes=1000)
    files = segment_files(ledger)
    assert len(files) > 5
    with Journal.open(ledger, segment_bytes=1000) as journal:
        assert [journal.read(n).entries[0].body for n in range(40)] == payloads
        first_numbers = [int(path.stem) for path in files]
        assert first_numbers[0] == 0 and first_numbers == sorted(first_numbers)


def test_a_cut_segment_before_the_last_is_damage(ledger: Path) -> None:
    fill(ledger, 40, segment_bytes=1000)
    middle = segment_files(ledger)[2]
    middle.write_bytes(middle.read_bytes()[:-7])
    with pytest.raises(CorruptRecord, match="before the last segment") as caught:
        Journal.open(ledger)
    assert caught.value.segment == middle


def test_a_missing_segment_is_damage(ledger: Path) -> None:
    fill(ledger, 40, segment_bytes=1000)
    segment_files(ledger)[1].unlink()
    with pytest.raises(CorruptRecord, match="expected"):
        Journal.open(ledger)


def test_frame_layout() -> None:
    import crc32c

    data = frame(b"abc")
    assert data[:4] == (3).to_bytes(4, "little")
    assert data[4:8] == crc32c.crc32c(b"abc").to_bytes(4, "little")
    assert data[8:12] == crc32c.crc32c(data[:8]).to_bytes(4, "little")
    assert data[12:] == b"abc"


def test_a_record_sent_as_a_unit_is_unframed_with_both_checksums_checked() -> None:
    record = frame(b"block bytes")
    assert unframe(record) == b"block bytes"
    damaged = [bytearray(record) for _ in range(4)]
    damaged[0][0] ^= 1  # length
    damaged[1][HEADER_SIZE] ^= 1  # payload
    damaged[2] = damaged[2][:-1]  # cut short
    damaged[3] = damaged[3][:5]  # not even a header
    reasons = ["header checksum", "record checksum", "header says 11 bytes, 10 follow", "shorter"]
    for data, reason in zip(damaged, reasons, strict=True):
        with pytest.raises(VerificationError, match=reason):
            unframe(bytes(data))


def test_replace_rewrites_one_record_in_any_segment(tmp_path: Path) -> None:
    directory = tmp_path / "segments"
    log = SegmentLog(directory, segment_bytes=200)
    payloads = [bytes([n]) * (30 + n) for n in range(12)]
    for payload in payloads:
        log.append([payload])
    assert len(log.segments) > 2 and log.segments[-1].first_record <= 11
    log.replace(1, b"short")  # in the first segment: the records after it move
    log.replace(11, b"longer than it was before" * 4)  # in the active segment
    log.append([b"after"])
    log.sync()
    expected = [payloads[0], b"short", *payloads[2:11], b"longer than it was before" * 4, b"after"]
    assert [log.read(n) for n in range(13)] == expected
    log.close()
    (directory / ".00000000000000000000.seg.rewrite").write_bytes(b"left by a crash")
    reopened = SegmentLog(directory, segment_bytes=200)
    assert [reopened.read(n) for n in range(13)] == expected
    assert not list(directory.glob(".*.rewrite"))
    reopened.close()
