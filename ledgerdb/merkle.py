"""The journal's Merkle tree over block hashes: digests, inclusion and consistency proofs.

Shape is RFC 6962's (split at the largest power of two below n) with QLDB's ``dot`` as
the inner-node hash and the block hashes themselves as leaves. Every complete subtree's
hash is stored once, in post-order, as it completes: the tree of n leaves then has
exactly ``2n - popcount(n)`` nodes, each at a position computable from (level, index).
Any root or proof at any historic size is assembled from O(log n) stored nodes, which is
what lets a user check a block against a digest saved long ago.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ledgerdb.errors import InvalidInput, StorageFailure
from ledgerdb.hashing import HASH_SIZE, dot


def node_count(leaves: int) -> int:
    """How many nodes a tree of ``leaves`` leaves stores."""
    return 2 * leaves - leaves.bit_count()


def leaves_for(nodes: int) -> int:
    """The largest leaf count whose tree fits in ``nodes`` stored nodes."""
    low, high = 0, nodes
    while low < high:
        middle = (low + high + 1) // 2
        if node_count(middle) <= nodes:
            low = middle
        else:
            high = middle - 1
    return low


def _trailing_zeros(value: int) -> int:
    return (value & -value).bit_length() - 1


def position(level: int, index: int) -> int:
    """Post-order position of the complete subtree covering leaves [index·2^level, …)."""
    end = (index + 1) << level
    return node_count(end) - 1 - _trailing_zeros(index + 1)


def split(size: int) -> int:
    """RFC 6962's k: the largest power of two strictly below ``size`` (size ≥ 2)."""
    return 1 << ((size - 1).bit_length() - 1)


class NodeStore(Protocol):
    """Fixed-size hashes addressed by post-order position, appended only."""

    def __len__(self) -> int: ...

    def node(self, position: int) -> bytes: ...

    def extend(self, hashes: Sequence[bytes]) -> None: ...

    def truncate(self, count: int) -> None: ...


class MemoryNodes:
    """A node store in a list, for tests and for trees rebuilt from scratch."""

    def __init__(self) -> None:
        self._nodes: list[bytes] = []

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, position: int) -> bytes:
        return self._nodes[position]

    def extend(self, hashes: Sequence[bytes]) -> None:
        self._nodes.extend(hashes)

    def truncate(self, count: int) -> None:
        del self._nodes[count:]


class FileNodes:
    """A node store in one file of 32-byte hashes; derived data, rebuilt from blocks.

    Writes are not fsynced here: the journal's segments are the truth, and the journal
    recomputes any node that a crash may have lost (see ``Journal`` recovery).
    """

    def __init__(self, path: Path, writable: bool = True) -> None:
        self.path = path
        flags = os.O_RDWR | os.O_CREAT if writable else os.O_RDONLY
        try:
            self._fd = os.open(path, flags, 0o644)
        except FileNotFoundError:
            self._fd = os.open(os.devnull, os.O_RDONLY)
        size = os.fstat(self._fd).st_size
        self._count = size // HASH_SIZE
        if size % HASH_SIZE and writable:
            self.truncate(self._count)

    def __len__(self) -> int:
        return self._count

    def node(self, position: int) -> bytes:
        data = os.pread(self._fd, HASH_SIZE, position * HASH_SIZE)
        if len(data) != HASH_SIZE:
            raise StorageFailure(f"tree file {self.path} has no node at position {position}")
        return data

    def extend(self, hashes: Sequence[bytes]) -> None:
        data = b"".join(hashes)
        written = os.pwrite(self._fd, data, self._count * HASH_SIZE)
        if written != len(data):
            raise StorageFailure(f"short write to tree file {self.path}")
        self._count += len(hashes)

    def truncate(self, count: int) -> None:
        os.ftruncate(self._fd, count * HASH_SIZE)
        self._count = count

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        os.close(self._fd)


class OverlayNodes:
    """Trusted nodes from a read-only file, and nodes computed since, kept in memory.

    A reader that must not write (``ledger verify``, ``ledger digest`` next to a crashed
    writer's files) uses this to complete a tree the writer had not yet made durable.
    """

    def __init__(self, base: NodeStore, trusted: int) -> None:
        self.base = base
        self.trusted = min(trusted, len(base))
        self.extra: list[bytes] = []

    def __len__(self) -> int:
        return self.trusted + len(self.extra)

    def node(self, position: int) -> bytes:
        if position < self.trusted:
            return self.base.node(position)
        return self.extra[position - self.trusted]

    def extend(self, hashes: Sequence[bytes]) -> None:
        self.extra.extend(hashes)

    def truncate(self, count: int) -> None:
        if count <= self.trusted:
            self.trusted = count
            self.extra.clear()
        else:
            del self.extra[count - self.trusted :]


class MerkleTree:
    """The tree over a node store: appends leaves, answers roots and proofs at any size."""

    def __init__(self, store: NodeStore) -> None:
        self.store = store
        self.size = leaves_for(len(store))
        if node_count(self.size) != len(store):
            store.truncate(node_count(self.size))
        self._frontier = [
            store.node(position(level, (self.size >> level) - 1))
            if (self.size >> level) & 1
            else b""
            for level in range(self.size.bit_length())
        ]

    def append(self, leaves: Sequence[bytes]) -> None:
        """Add leaves; stores each leaf and every subtree it completes, in post-order."""
        new: list[bytes] = []
        for leaf in leaves:
            current, level, count = leaf, 0, self.size + 1
            new.append(current)
            while count % 2 == 0:
                current = dot(self._frontier[level], current)
                self._frontier[level] = b""
                new.append(current)
                count //= 2
                level += 1
            if level == len(self._frontier):
                self._frontier.append(current)
            else:
                self._frontier[level] = current
            self.size += 1
        self.store.extend(new)

    def truncate(self, size: int) -> None:
        """Forget leaves from ``size`` on (the journal cut its torn tail back)."""
        self.store.truncate(node_count(size))
        self.__init__(self.store)  # type: ignore[misc]

    def leaf(self, index: int) -> bytes:
        return self.store.node(position(0, index))

    def subtree_root(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]) for a range the RFC 6962 recursion produces (start aligned)."""
        width = end - start
        if width & (width - 1) == 0:
            level = width.bit_length() - 1
            return self.store.node(position(level, start >> level))
        k = split(width)
        return dot(self.subtree_root(start, start + k), self.subtree_root(start + k, end))

    def root(self, size: int) -> bytes:
        self._check_size(size, "size")
        return self.subtree_root(0, size)

    def inclusion_path(self, index: int, size: int) -> list[bytes]:
        """RFC 6962 PATH(index, D[0:size]), leaf side first."""
        self._check_size(size, "size")
        if not 0 <= index < size:
            raise InvalidInput(f"leaf index {index} is outside a tree of {size} leaves")
        path: list[bytes] = []
        start, end = 0, size
        while end - start > 1:
            k = split(end - start)
            if index < start + k:
                path.append(self.subtree_root(start + k, end))
                end = start + k
            else:
                path.append(self.subtree_root(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 6962 PROOF(old_size, D[0:new_size]): the old tree is a prefix of the new one."""
        self._check_size(new_size, "new size")
        if not 1 <= old_size <= new_size:
            raise InvalidInput(f"old size {old_size} must be between 1 and {new_size}")
        proof: list[bytes] = []
        start, end, m, complete = 0, new_size, old_size, True
        while m != end - start:
            k = split(end - start)
            if m <= k:
                proof.append(self.subtree_root(start + k, end))
                end = start + k
            else:
                proof.append(self.subtree_root(start, start + k))
                start, m, complete = start + k, m - k, False
        if not complete:
            proof.append(self.subtree_root(start, end))
        proof.reverse()
        return proof

    def _check_size(self, size: int, name: str) -> None:
        if not 1 <= size <= self.size:
            raise InvalidInput(f"{name} {size} is outside the tree's 1..{self.size} leaves")
