"""The export's fast block views (one decode per block, bare Python values where Ion's
type survives) write exactly what the value-by-value ``block_view`` writes, for every
Ion type, redacted and deleted revisions and opaque payloads alike (issue 25)."""

from __future__ import annotations

import json

from amazon.ion import simpleion

from ledgerdb.block import ChainHead, Payload, Revision, prepare, redacted_body
from ledgerdb.export import block_ion_text, block_json, block_view, block_views
from ledgerdb.qldb_export import BINARY_GROUP, encode_object

# Every Ion type, annotated and typed-null values, duplicate field names, precisions.
DOCUMENT = simpleion.loads(
    """{
      null_: null, nulls: [null.bool, null.int, null.float, null.decimal, null.timestamp,
        null.string, null.symbol, null.blob, null.clob, null.struct, null.list, null.sexp],
      bool: true, int: -123456789012345678901234567890, zero: 0, float: -0.0e0,
      inf: +inf, decimal: 1.50, dexp: 12d-3, negzero: -0.,
      ts: [2026T, 2026-12T, 2026-12-06, 2026-12-06T10:11Z, 2026-12-06T10:11:12.123456-05:30],
      string: "ünïcode \\u0000", symbol: 'a symbol', sym2: plain,
      blob: {{aGVsbG8=}}, clob: {{"clob text"}},
      list: [1, [2, [3]]], sexp: (a + (b c)), struct: {a: 1, a: 2, b: {c: d}},
      annotated: ann1::ann2::{x: tag::1}, annotated_null: note::null.int, empty: {}
    }"""
)


def _blocks() -> list:
    head = ChainHead("S" * 22, 0, b"")
    metadata = {"id": "D" * 22, "version": 0}
    blocks = []
    for number in range(2 * BINARY_GROUP + 3):
        entries = [
            Revision(metadata, DOCUMENT),
            Revision({**metadata, "version": 1}),  # a deleted document's last revision
            Payload(bytes([number]) * 5),
            Revision({**metadata, "version": 2}, {"n": number}),
        ]
        transaction = prepare(entries, {"statement": number, "note": None})
        blocks.append(head.seal(transaction, 1_000 + number))
    # A redacted revision: its data replaced by the data's hash, as redaction stores it.
    first = blocks[0]
    body = redacted_body(first.entries[3].body)
    entries = (
        *first.entries[:3],
        type(first.entries[3])(first.entries[3].kind, body, first.entries[3].hash),
    )
    blocks[0] = type(first)(**{**first.__dict__, "entries": entries})
    return blocks


def _text(data: bytes) -> str:
    return simpleion.dumps(simpleion.loads(data, single_value=False), binary=False)


def test_fast_views_write_what_block_view_writes() -> None:
    blocks = _blocks()
    assert "dataHash" in block_view(blocks[0])["revisions"][3]
    expected_text = " ".join(block_ion_text(block) for block in blocks).encode()
    assert encode_object(blocks, "ION_TEXT") == expected_text
    expected_json = "\n".join(json.dumps(block_json(block)) for block in blocks).encode()
    assert encode_object(blocks, "JSON") == expected_json
    views = [block_view(block) for block in blocks]
    expected_binary = simpleion.dumps(views, binary=True, sequence_as_stream=True)
    assert _text(encode_object(blocks, "ION_BINARY")) == _text(expected_binary)
    for block, view in zip(blocks, block_views(blocks), strict=True):
        assert block_ion_text(block, view) == block_ion_text(block)


def test_json_shows_every_null_as_null() -> None:
    shown = block_json(_blocks()[1])
    document = shown["revisions"][0]["data"]
    assert document["null_"] is None and document["annotated_null"] is None
    assert document["nulls"] == [None] * 12
