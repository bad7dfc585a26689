"""Journal exports in QLDB's layout, written to a folder (no S3 endpoint configured)."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from amazon.ion import simpleion

from ledgerdb import qldb_export
from ledgerdb.database import LedgerDatabase
from ledgerdb.hashing import dot
from ledgerdb.qldb_export import ExportTarget, run_export


def _description(form: str, start: float, end: float) -> dict:
    return {
        "LedgerName": "dmv",
        "ExportId": "E" * 22,
        "InclusiveStartTime": start,
        "ExclusiveEndTime": end,
        "OutputFormat": form,
        "S3ExportConfiguration": {"Bucket": "bucket", "Prefix": "dmv/"},
    }


@pytest.mark.parametrize("form", ["ION_TEXT", "ION_BINARY"])
def test_an_export_lists_its_objects_and_its_blocks_chain(
    tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qldb_export, "BLOCKS_PER_OBJECT", 2)
    with LedgerDatabase.open(tmp_path / "db") as database:
        database.execute("CREATE TABLE T")
        for n in range(4):
            database.execute("INSERT INTO T ?", {"n": n})
        keys = run_export(
            database.journal,
            _description(form, 0.0, time.time() + 60),
            ExportTarget(folder=tmp_path / "s3").writer("bucket"),
        )
        strand = database.strand_id
    bucket = tmp_path / "s3" / "bucket"
    assert (bucket / "dmv" / f"{'E' * 22}.started.manifest").is_file()
    manifest = simpleion.loads((bucket / "dmv" / f"{'E' * 22}.completed.manifest").read_bytes())
    assert list(manifest["keys"]) == keys
    assert keys == [f"dmv/{strand}.0-1.ion", f"dmv/{strand}.2-3.ion", f"dmv/{strand}.4-4.ion"]
    blocks = [
        block
        for key in keys
        for block in simpleion.loads((bucket / key).read_bytes(), single_value=False)
    ]
    assert [block["blockAddress"]["sequenceNo"] for block in blocks] == [0, 1, 2, 3, 4]
    for previous, block in itertools.pairwise(blocks):
        assert bytes(block["previousBlockHash"]) == bytes(previous["blockHash"])
        assert dot(bytes(block["entriesHash"]), bytes(previous["blockHash"])) == bytes(
            block["blockHash"]
        )


def test_the_time_window_selects_blocks(tmp_path: Path) -> None:
    with LedgerDatabase.open(tmp_path / "db") as database:
        database.execute("CREATE TABLE T")
        target = ExportTarget(folder=tmp_path / "s3")
        keys = run_export(
            database.journal, _description("ION_TEXT", 0.0, 1.0), target.writer("bucket")
        )
    assert keys == []  # nothing was written in 1970; the completed manifest lists no object
    manifest = tmp_path / "s3" / "bucket" / "dmv" / f"{'E' * 22}.completed.manifest"
    assert list(simpleion.loads(manifest.read_bytes())["keys"]) == []
