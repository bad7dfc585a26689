"""SHA-256 and QLDB's ``dot`` operator, the two hash primitives of the journal.

``dot`` is the pairing function of QLDB's published verifier: it orders the two hashes
by a fixed comparison before hashing them together, so it is commutative and proofs
need no left/right flags. An empty side returns the other unchanged, which is how a
missing sibling (or the genesis block's absent predecessor) drops out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

HASH_SIZE = 32
EMPTY = b""


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# Flipping the top bit maps signed-byte order onto unsigned-byte order.
_SIGNED_ORDER = bytes(byte ^ 0x80 for byte in range(256))


def _order_key(value: bytes) -> bytes:
    return value[::-1].translate(_SIGNED_ORDER)


def compare(left: bytes, right: bytes) -> int:
    """QLDB's hash order: signed bytes, compared from the last byte to the first."""
    if len(left) != len(right):
        raise ValueError("only hashes of equal length can be compared")
    a, b = _order_key(left), _order_key(right)
    return (a > b) - (a < b)


def dot(left: bytes, right: bytes) -> bytes:
    """SHA-256 of the smaller hash followed by the other; an empty side returns the other."""
    if not left:
        return right
    if not right:
        return left
    last_left, last_right = left[-1], right[-1]
    if last_left != last_right:  # decided by the last byte, as nearly always
        smaller_first = (last_left ^ 0x80) < (last_right ^ 0x80)
    else:
        smaller_first = _order_key(left) < _order_key(right)
    return hashlib.sha256(left + right if smaller_first else right + left).digest()


def merkle_root(hashes: Sequence[bytes]) -> bytes:
    """Root of a list: pair left to right with ``dot``, an odd last one moves up unchanged.

    This level-by-level pairing builds the same tree as RFC 6962's split at the largest
    power of two below n, so block entries and the journal tree share one shape.
    An empty list has the empty hash.
    """
    level = list(hashes)
    if not level:
        return EMPTY
    while len(level) > 1:
        paired = [dot(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def merkle_path(hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The siblings that fold ``hashes[index]`` up to ``merkle_root(hashes)`` with ``dot``.

    Bottom-up, one per level where the node has a sibling (an odd last node moves up with
    none), so a verifier that knows nothing of the tree's shape folds them in order.
    """
    if not 0 <= index < len(hashes):
        raise IndexError(f"index {index} is outside a list of {len(hashes)} hashes")
    level, path = list(hashes), []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        level = [
            dot(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        index //= 2
    return path
