"""The explorer's own copy of each channel's blocks, on disk (LMDB), with the indexes its
pages need, so memory stays bounded however long a channel grows.

Hyperledger Explorer keeps its blocks in a database for the same reason: a page about
block 3 of a 100,000-block channel should cost one read, not a ledger kept in memory
or a scan. What is kept, in one LMDB environment in the explorer's folder:

- ``blocks``: (channel, number) → the block as the peer delivered it (its
  TRANSACTIONS_FILTER holds the validation codes, which the orderer's copy lacks);
- ``heights``: channel → how many blocks are stored (a restarted explorer resumes there);
- ``txids``: txid → (channel, block, position), the first occurrence (Fabric keeps the
  first of a duplicate txid; later ones are ``DUPLICATE_TXID``);
- ``writes``: (channel, SHA-256 of "namespace/key", block, position) for each VALID write,
  so "which earlier transaction wrote this key" is one cursor step back, not a scan.

A block and its index entries go in one LMDB transaction: the store never holds a block
without its entries. Writes are not fsynced (``sync=False``): this is a derived copy,
and after a machine crash the explorer reads the lost tail again from the peer.
"""

from __future__ import annotations

import hashlib
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import lmdb

from network.errors import NetworkError

MAP_SIZE = 1 << 36  # 64 GiB of address space; the file grows only as blocks are stored
_PLACE = struct.Struct(">QI")  # block number, position in the block
_HEIGHT = struct.Struct(">Q")


class StoreError(NetworkError):
    """The explorer's block store cannot be opened (its folder names the problem)."""


@dataclass(frozen=True)
class Place:
    """Where a transaction is: its channel, block and position in the block."""

    channel: str
    block: int
    index: int


def _block_key(channel: str, number: int) -> bytes:
    return channel.encode() + b"\0" + _HEIGHT.pack(number)


def _write_prefix(channel: str, key: str) -> bytes:
    return channel.encode() + b"\0" + hashlib.sha256(key.encode()).digest()


class BlockStore:
    """Blocks and indexes in ``folder`` (created); one explorer process opens it."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.env = lmdb.open(
                str(folder), map_size=MAP_SIZE, max_dbs=4, sync=False, readahead=False
            )
        except (lmdb.Error, OSError) as exc:
            raise StoreError(f"cannot open the explorer's block store in {folder}: {exc}") from None
        self.folder = folder
        self._blocks = self.env.open_db(b"blocks")
        self._heights = self.env.open_db(b"heights")
        self._txids = self.env.open_db(b"txids")
        self._writes = self.env.open_db(b"writes")

    @classmethod
    def temporary(cls) -> BlockStore:
        """A store in a fresh temporary folder (an explorer without a config file)."""
        return cls(Path(tempfile.mkdtemp(prefix="explorer-store-")))

    def close(self) -> None:
        self.env.close()

    def height(self, channel: str) -> int:
        with self.env.begin(db=self._heights) as txn:
            raw = txn.get(channel.encode())
        return _HEIGHT.unpack(raw)[0] if raw else 0

    def append(
        self,
        channel: str,
        number: int,
        block: bytes,
        txids: Iterable[tuple[int, str]],
        writes: Iterable[tuple[int, str]],
    ) -> bool:
        """Store block ``number`` (it must be the next) with its txids (position, txid)
        and VALID writes (position, "namespace/key"); False when it is not the next."""
        with self.env.begin(write=True) as txn:
            raw = txn.get(channel.encode(), db=self._heights)
            if (_HEIGHT.unpack(raw)[0] if raw else 0) != number:
                return False
            txn.put(_block_key(channel, number), block, db=self._blocks)
            for index, txid in txids:
                value = channel.encode() + b"\0" + _PLACE.pack(number, index)
                txn.put(txid.encode(), value, db=self._txids, overwrite=False)
            for index, key in writes:
                txn.put(
                    _write_prefix(channel, key) + _PLACE.pack(number, index), b"", db=self._writes
                )
            txn.put(channel.encode(), _HEIGHT.pack(number + 1), db=self._heights)
        return True

    def forget(self, channel: str) -> None:
        """Drop every block and index entry of ``channel`` (its chain is not the one the
        peer now has: the network was made again in the same folder)."""
        prefix = channel.encode() + b"\0"
        with self.env.begin(write=True) as txn:
            for db in (self._blocks, self._writes):
                cursor = txn.cursor(db=db)
                if cursor.set_range(prefix):
                    while cursor.key().startswith(prefix) and cursor.delete():
                        pass
            cursor = txn.cursor(db=self._txids)
            for key, value in list(cursor):
                if value.startswith(prefix):
                    txn.delete(key, db=self._txids)
            txn.delete(channel.encode(), db=self._heights)

    def block(self, channel: str, number: int) -> bytes | None:
        with self.env.begin(db=self._blocks) as txn:
            return txn.get(_block_key(channel, number))

    def place(self, txid: str) -> Place | None:
        try:
            key = txid.encode()
        except UnicodeEncodeError:
            return None
        if not key or len(key) > self.env.max_key_size():
            return None
        with self.env.begin(db=self._txids) as txn:
            raw = txn.get(key)
        if raw is None:
            return None
        channel, _, place = raw.partition(b"\0")
        block, index = _PLACE.unpack(place)
        return Place(channel.decode(), block, index)

    def last_writer(self, channel: str, key: str, before: Place) -> tuple[int, int] | None:
        """(block, position) of the last VALID write of ``key`` before ``before``."""
        prefix = _write_prefix(channel, key)
        with self.env.begin(db=self._writes) as txn:
            cursor = txn.cursor()
            if cursor.set_range(prefix + _PLACE.pack(before.block, before.index)):
                found = cursor.prev()
            else:
                found = cursor.last()
            if not found or not cursor.key().startswith(prefix):
                return None
            return _PLACE.unpack(cursor.key()[len(prefix) :])
