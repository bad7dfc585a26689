"""The journal tree: roots, inclusion and consistency proofs at every size, and tampering."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerdb.errors import InvalidInput, VerificationError
from ledgerdb.hashing import compare, dot, merkle_root
from ledgerdb.merkle import FileNodes, MemoryNodes, MerkleTree, leaves_for, node_count, position
from ledgerdb.verify import verify_consistency, verify_inclusion


def leaf(number: int) -> bytes:
    return hashlib.sha256(number.to_bytes(8, "big")).digest()


def naive_root(hashes: list[bytes]) -> bytes:
    """RFC 6962 MTH, written from its definition: split at the largest power of two below n."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return dot(naive_root(hashes[:k]), naive_root(hashes[k:]))


def tree_of(size: int) -> MerkleTree:
    tree = MerkleTree(MemoryNodes())
    tree.append([leaf(i) for i in range(size)])
    return tree


def flip(value: bytes, bit: int) -> bytes:
    data = bytearray(value)
    data[bit // 8 % len(data)] ^= 1 << (bit % 8)
    return bytes(data)


def test_dot_orders_by_signed_bytes_from_the_end() -> None:
    low = bytes(31) + b"\x80"  # last byte -128 as a signed byte
    high = bytes(31) + b"\x7f"
    assert compare(low, high) == -1
    assert dot(low, high) == hashlib.sha256(low + high).digest() == dot(high, low)
    assert dot(b"", high) == high and dot(low, b"") == low
    same_last = bytes(30) + b"\x80\x01", bytes(30) + b"\x7f\x01"  # decided one byte earlier
    assert compare(*same_last) == -1
    assert dot(*same_last) == hashlib.sha256(same_last[0] + same_last[1]).digest()
    assert dot(*reversed(same_last)) == dot(*same_last)


def test_list_root_pairs_left_to_right_and_lifts_the_odd_one() -> None:
    a, b, c = leaf(1), leaf(2), leaf(3)
    assert merkle_root([]) == b""
    assert merkle_root([a]) == a
    assert merkle_root([a, b, c]) == dot(dot(a, b), c)
    for size in range(1, 40):
        hashes = [leaf(i) for i in range(size)]
        assert merkle_root(hashes) == naive_root(hashes)


def test_positions_are_post_order() -> None:
    assert [position(0, 0), position(0, 1), position(1, 0), position(0, 2)] == [0, 1, 2, 3]
    assert position(2, 0) == 6 and position(0, 4) == 7
    for size in range(0, 300):
        assert leaves_for(node_count(size)) == size


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 33])
def test_every_proof_at_every_size_verifies(size: int) -> None:
    tree = tree_of(size)
    hashes = [leaf(i) for i in range(size)]
    for tip in range(size):
        digest = tree.root(tip + 1)
        assert digest == naive_root(hashes[: tip + 1])
        for index in range(tip + 1):
            verify_inclusion(hashes[index], index, tip, tree.inclusion_path(index, tip + 1), digest)
        for first in range(tip + 1):
            proof = tree.consistency_proof(first + 1, tip + 1)
            verify_consistency(first, tree.root(first + 1), tip, digest, proof)


@given(st.integers(1, 200), st.data())
def test_any_flipped_bit_fails_inclusion(size: int, data: st.DataObject) -> None:
    tree = tree_of(size)
    tip = data.draw(st.integers(0, size - 1))
    index = data.draw(st.integers(0, tip))
    proof = tree.inclusion_path(index, tip + 1)
    digest = tree.root(tip + 1)
    verify_inclusion(leaf(index), index, tip, proof, digest)
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(VerificationError):
        verify_inclusion(flip(leaf(index), bit), index, tip, proof, digest)
    with pytest.raises(VerificationError):
        verify_inclusion(leaf(index), index, tip, proof, flip(digest, bit))
    if proof:
        where = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:where], flip(proof[where], bit), *proof[where + 1 :]]
        with pytest.raises(VerificationError):
            verify_inclusion(leaf(index), index, tip, bad, digest)


@given(st.integers(2, 200), st.data())
def test_any_flipped_bit_fails_consistency(size: int, data: st.DataObject) -> None:
    tree = tree_of(size)
    second = data.draw(st.integers(1, size - 1))
    first = data.draw(st.integers(0, second - 1))
    proof = tree.consistency_proof(first + 1, second + 1)
    old, new = tree.root(first + 1), tree.root(second + 1)
    verify_consistency(first, old, second, new, proof)
    bit = data.draw(st.integers(0, 255))
    with pytest.raises(VerificationError):
        verify_consistency(first, flip(old, bit), second, new, proof)
    with pytest.raises(VerificationError):
        verify_consistency(first, old, second, flip(new, bit), proof)
    where = data.draw(st.integers(0, len(proof) - 1))
    bad = [*proof[:where], flip(proof[where], bit), *proof[where + 1 :]]
    with pytest.raises(VerificationError):
        verify_consistency(first, old, second, new, bad)
    with pytest.raises(VerificationError):
        verify_consistency(first, old, second, new, proof[:-1])


def test_a_rewritten_history_is_not_consistent() -> None:
    honest = tree_of(10)
    forged = MerkleTree(MemoryNodes())
    forged.append([leaf(i) if i != 3 else leaf(99) for i in range(10)])
    with pytest.raises(VerificationError):
        verify_consistency(5, honest.root(6), 9, forged.root(10), forged.consistency_proof(6, 10))


def test_file_nodes_reopen_and_truncate(tmp_path) -> None:
    store = FileNodes(tmp_path / "tree")
    tree = MerkleTree(store)
    tree.append([leaf(i) for i in range(11)])
    store.close()
    reopened = MerkleTree(FileNodes(tmp_path / "tree"))
    assert reopened.size == 11 and reopened.root(11) == tree_of(11).root(11)
    reopened.append([leaf(11)])
    assert reopened.root(12) == tree_of(12).root(12)
    reopened.truncate(7)
    assert reopened.size == 7 and reopened.root(7) == tree_of(7).root(7)
    reopened.append([leaf(7)])
    assert reopened.root(8) == tree_of(8).root(8)


def test_sizes_outside_the_tree_are_refused() -> None:
    tree = tree_of(4)
    with pytest.raises(InvalidInput, match="size 5"):
        tree.root(5)
    with pytest.raises(InvalidInput, match="leaf index 4"):
        tree.inclusion_path(4, 4)
    with pytest.raises(InvalidInput, match="old size 0"):
        tree.consistency_proof(0, 4)
