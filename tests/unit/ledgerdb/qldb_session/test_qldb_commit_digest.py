"""ledgerdb.commit_digest against digests computed by pyqldb 3.2.4's own code
(`make_digest_vectors.py`), from the parameter bytes the driver puts on the wire."""

from __future__ import annotations

import base64
import json
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import Any

import amazon.ion.simpleion as simpleion
import pytest

from ledgerdb.commit_digest import CommitDigest, statement_hash
from ledgerdb.hashing import dot
from ledgerdb.ionhash import ion_hash

VECTORS = Path(__file__).with_name("digest_vectors.jsonl")


@cache
def _vectors() -> list[dict[str, Any]]:
    return [json.loads(line) for line in VECTORS.read_text().splitlines()]


def _digest(vector: dict[str, Any], load: Any) -> bytes:
    digest = CommitDigest(vector["transaction_id"])
    for entry in vector["statements"]:
        parameters = [load(base64.b64decode(p)) for p in entry["parameters"]]
        digest.add_statement(entry["statement"], parameters)
    return digest.value


def _load_exact(data: bytes) -> Any:
    return simpleion.load_python(BytesIO(data))


def test_vectors_cover_parameters_and_statements() -> None:
    vectors = _vectors()
    assert len(vectors) >= 300
    assert sum(len(s["parameters"]) for v in vectors for s in v["statements"]) > 300
    assert any(not v["statements"] for v in vectors)


def test_digest_equals_pyqldb_for_every_vector() -> None:
    """The composition rule, with parameters read exactly as the driver wrote them."""
    vectors = _vectors()
    wrong = [v["transaction_id"] for v in vectors if _digest(v, _load_exact).hex() != v["digest"]]
    assert wrong == []


def test_digest_from_server_decoding_equals_pyqldb_or_value_changed() -> None:
    """The server decodes parameters with amazon.ion's C extension. Wherever that reader
    keeps the value, the digest equals the driver's; where it does not (its known defects,
    e.g. sub-nanosecond timestamps), the digests differ, so the commit would be refused
    rather than storing a value the client did not send."""
    agreed = 0
    for vector in _vectors():
        if _digest(vector, simpleion.loads).hex() == vector["digest"]:
            agreed += 1
            continue
        changed = [
            p
            for s in vector["statements"]
            for p in s["parameters"]
            if ion_hash(simpleion.loads(base64.b64decode(p)))
            != ion_hash(_load_exact(base64.b64decode(p)))
        ]
        assert changed, f"digest differs for {vector['transaction_id']} with no changed value"
    assert agreed >= 0.9 * len(_vectors())


def test_empty_transaction_digest_is_the_hash_of_its_id() -> None:
    expected = bytes.fromhex(_vectors()[0]["digest"])
    assert CommitDigest("A" * 22).value == ion_hash("A" * 22) == expected


def test_statement_hash_dots_parameters_in_and_order_does_not_matter() -> None:
    one, two = ion_hash(1), ion_hash("two")
    assert statement_hash("S", [1, "two"]) == dot(dot(ion_hash("S"), one), two)
    assert statement_hash("S") == ion_hash("S")
    assert statement_hash("S", [1]) != statement_hash("S", [2])


@pytest.mark.parametrize("claimed", [b"", b"\x00" * 32, b"\x00" * 31])
def test_matches_refuses_anything_else(claimed: bytes) -> None:
    digest = CommitDigest("B" * 22)
    digest.add_statement("SELECT * FROM t WHERE a = ?", [5])
    assert not digest.matches(claimed)
    assert digest.matches(digest.value)
