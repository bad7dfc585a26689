"""Journal exports in QLDB's S3 layout, to an S3 endpoint or to a folder laid out like one.

QLDB's ExportJournalToS3 wrote, under the request's bucket and prefix: a started manifest
(``<prefix><exportId>.started.manifest``), data objects of whole blocks named
``<prefix><strandId>.<first>-<last>.ion`` (``.json`` for JSON), and last a completed
manifest (``<prefix><exportId>.completed.manifest``) whose ``keys`` list the data objects
in journal order. Readers (AWS's tutorial among them) find the completed manifest and read
the objects it lists, so it is written only after every data object is: an export cut
short leaves no completed manifest and is never mistaken for a whole one.

Ion text objects hold the blocks one after another separated by one space, as QLDB's did
(the tutorial splits them on ``} {``); Ion binary objects are one Ion stream of the blocks.
The blocks are those whose timestamp is in ``[InclusiveStartTime, ExclusiveEndTime)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from amazon.ion import simpleion

from ledgerdb.block import Block
from ledgerdb.errors import InvalidInput
from ledgerdb.export import block_ion_text, block_json, block_views

T = TypeVar("T")
BLOCKS_PER_OBJECT = 1000
# Ion binary objects are written this many blocks at a time: fewer decoded blocks alive at
# once (the garbage collector's cost grows with them), one symbol table per group.
BINARY_GROUP = 32
_EXTENSIONS = {"ION_TEXT": "ion", "ION_BINARY": "ion", "JSON": "json"}


@dataclass(frozen=True)
class ExportTarget:
    """Where exports go: an S3 endpoint (any S3-compatible server), else a local folder
    holding ``<bucket>/<key>`` files."""

    folder: Path | None = None
    s3_endpoint: str | None = None

    def writer(self, bucket: str) -> ObjectWriter:
        if self.s3_endpoint is not None:
            return _S3Writer(self.s3_endpoint, bucket)
        if self.folder is None:
            raise InvalidInput("no export target: configure an S3 endpoint or an export folder")
        return FolderWriter(self.folder / bucket)


class ObjectWriter:
    """Stores one object by key (an S3 bucket, or a folder standing in for one)."""

    def put(self, key: str, data: bytes) -> None:
        raise NotImplementedError


class FolderWriter(ObjectWriter):
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise InvalidInput(f"export key {key!r} leaves the bucket folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)


class _S3Writer(ObjectWriter):
    def __init__(self, endpoint: str, bucket: str) -> None:
        import boto3  # only an export to S3 needs it

        self.bucket = bucket
        self.client = boto3.client("s3", endpoint_url=endpoint)

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)


def blocks_in_window(journal: Any, start_micros: int, end_micros: int) -> Iterator[Block]:
    """The journal's blocks stamped in ``[start, end)``, in order."""
    tip = journal.tip
    if tip is None:
        return
    for first in range(0, tip.sequence_no + 1, BLOCKS_PER_OBJECT):
        stop = min(first + BLOCKS_PER_OBJECT, tip.sequence_no + 1)
        for block in journal.read_range(first, stop):
            if start_micros <= block.timestamp_micros < end_micros:
                yield block


def encode_object(blocks: Sequence[Block], form: str) -> bytes:
    """One data object: the blocks in the export's output format."""
    views = block_views(blocks)
    if form == "ION_TEXT":
        texts = (block_ion_text(block, view) for block, view in zip(blocks, views, strict=True))
        return " ".join(texts).encode()
    if form == "ION_BINARY":  # one Ion stream; a symbol table per group of blocks
        groups = _chunks(iter(views), BINARY_GROUP)
        return b"".join(simpleion.dumps(g, binary=True, sequence_as_stream=True) for g in groups)
    shown = (block_json(block, view) for block, view in zip(blocks, views, strict=True))
    return "\n".join(json.dumps(item) for item in shown).encode()


def _chunks(blocks: Iterator[T], size: int) -> Iterator[list[T]]:
    chunk: list[T] = []
    for block in blocks:
        chunk.append(block)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def run_export(journal: Any, description: dict[str, Any], writer: ObjectWriter) -> list[str]:
    """Write the export the description asks for; returns the data object keys in order."""
    config = description["S3ExportConfiguration"]
    prefix, export_id, form = config["Prefix"], description["ExportId"], description["OutputFormat"]
    started = {
        "ledgerName": description["LedgerName"],
        "exportId": export_id,
        "inclusiveStartTime": description["InclusiveStartTime"],
        "exclusiveEndTime": description["ExclusiveEndTime"],
        "bucket": config["Bucket"],
        "prefix": prefix,
        "outputFormat": form,
    }
    writer.put(f"{prefix}{export_id}.started.manifest", _ion_text(started))
    start = int(description["InclusiveStartTime"] * 1_000_000)
    end = int(description["ExclusiveEndTime"] * 1_000_000)
    keys: list[str] = []
    for chunk in _chunks(blocks_in_window(journal, start, end), BLOCKS_PER_OBJECT):
        first, last = chunk[0].sequence_no, chunk[-1].sequence_no
        key = f"{prefix}{journal.strand_id}.{first}-{last}.{_EXTENSIONS[form]}"
        writer.put(key, encode_object(chunk, form))
        keys.append(key)
    writer.put(f"{prefix}{export_id}.completed.manifest", _ion_text({"keys": keys}))
    return keys


def _ion_text(value: Any) -> bytes:
    return simpleion.dumps(value, binary=False, omit_version_marker=True).encode()
