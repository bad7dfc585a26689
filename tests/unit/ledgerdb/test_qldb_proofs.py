"""QLDB-shaped proofs: plain hash lists that fold with ``dot`` to the root or the digest."""

from __future__ import annotations

import hashlib
from functools import reduce
from pathlib import Path

import pytest

from ledgerdb.database import LedgerDatabase
from ledgerdb.hashing import dot, merkle_path, merkle_root


def _leaves(count: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(count)]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 8, 9, 16, 17])
def test_every_leaf_folds_to_the_root(count: int) -> None:
    leaves = _leaves(count)
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        assert reduce(dot, merkle_path(leaves, index), leaf) == root


def test_a_path_outside_the_list_is_refused() -> None:
    with pytest.raises(IndexError, match="index 3"):
        merkle_path(_leaves(3), 3)


def test_revision_proofs_fold_from_the_revision_hash_to_the_digest(tmp_path: Path) -> None:
    with LedgerDatabase.open(tmp_path / "db") as database:
        database.execute("CREATE TABLE T")
        for group in range(3):  # blocks of 1, 2 and 3 revisions
            database.execute(
                "INSERT INTO T << " + ", ".join(["?"] * (group + 1)) + " >>",
                *[{"group": group, "n": n} for n in range(group + 1)],
            )
        rows = database.execute("SELECT * FROM _ql_committed_T").values
        assert len(rows) == 6
        for row in rows:
            proof = database.get_revision(row["metadata"]["id"], row["blockAddress"]["sequenceNo"])
            folded = reduce(dot, proof.qldb_proof(), bytes(row["hash"]))
            assert folded == proof.digest.digest
            tampered = bytes([row["hash"][0] ^ 1]) + bytes(row["hash"][1:])
            assert reduce(dot, proof.qldb_proof(), tampered) != proof.digest.digest
