"""One channel's analytics database: a ledgerdb database written one Fabric block per
ledgerdb transaction, with its checkpoint inside the same transaction.

The checkpoint is the ``_checkpoint`` table's one document ``{block, header_hash}``: the
last block written and its header hash. Because it changes in the same commit as the
block's rows, a kill at any instant leaves either the whole block and its checkpoint or
neither, and the node resumes at the next block with nothing missed or applied twice.
The header hash is also what the next block's ``previous_hash`` must equal: a block that
does not chain stops the node and writes nothing.

A block in which two valid transactions write the same key is the one exception to "one
block, one transaction": ledgerdb keeps one revision per document per transaction, and
``history()`` must show both writes as the peer's ``GetHistoryForKey`` does. Such a block
is written in *parts*, each a run of its transactions in which no key repeats, each one
ledgerdb transaction whose checkpoint also says ``written_through`` (the last
transaction position written). A kill between parts resumes inside the block, at the
next part, so exactly-once holds per part; the ``blocks`` and ``transactions`` rows go
with the first part.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from ledgerdb.database import LedgerDatabase
from ledgerdb.transaction import Transaction
from network.analytics.errors import BrokenChain
from network.analytics.rows import (
    BLOCKS_TABLE,
    FABRIC,
    TRANSACTIONS_TABLE,
    BlockRows,
    KeyWrite,
)
from proto.blockhash import block_data_hash

CHECKPOINT_TABLE = "_checkpoint"
MAX_DOCUMENTS = 1_000_000
"""Documents one block may change: a block is one transaction, whatever its size."""


@dataclass(frozen=True)
class Checkpoint:
    """The last block written; ``written_through`` is set while only its transactions
    0 … ``written_through`` are (a block written in parts, see the module docstring)."""

    block: int
    header_hash: bytes
    written_through: int | None = None

    @property
    def next_block(self) -> int:
        """The block to write next: this one again while it is written only in part."""
        return self.block if self.written_through is not None else self.block + 1


def quoted(name: str) -> str:
    """A table name as a PartiQL identifier: quoted, so keywords and ``-`` are fine."""
    return '"' + name.replace('"', '""') + '"'


class ChannelDatabase:
    """The database of one channel, in ``folder``; one writer (the analytics node)."""

    def __init__(self, folder: Path) -> None:
        self.db = LedgerDatabase.open(folder, max_documents=MAX_DOCUMENTS)
        # a write runs in a worker thread the node's stop cannot interrupt: close waits
        self._writing = threading.Lock()
        self._tables = self._existing_tables()
        if CHECKPOINT_TABLE not in self._tables:
            self._create_base_tables()

    def close(self) -> None:
        """Close once a block being written is committed (a stop never cuts one short)."""
        with self._writing:
            self.db.close()

    def _existing_tables(self) -> set[str]:
        rows = self.db.execute(
            "SELECT VALUE t.name FROM information_schema.user_tables AS t WHERE t.status = 'ACTIVE'"
        ).values
        return {str(name) for name in rows}

    def _create_base_tables(self) -> None:
        """The tables every channel has, made in one transaction with their indexes."""

        def create(txn: Transaction) -> None:
            for table, field in (
                (BLOCKS_TABLE, "number"),
                (TRANSACTIONS_TABLE, "txid"),
                (CHECKPOINT_TABLE, None),
            ):
                txn.execute(f"CREATE TABLE {quoted(table)}")
                if field:
                    txn.execute(f"CREATE INDEX ON {quoted(table)} ({field})")

        self.db.execute_lambda(create)
        self._tables |= {BLOCKS_TABLE, TRANSACTIONS_TABLE, CHECKPOINT_TABLE}

    def checkpoint(self) -> Checkpoint | None:
        """The last block written, or None before the first."""
        rows = self.db.execute(f"SELECT * FROM {quoted(CHECKPOINT_TABLE)}").values
        if not rows:
            return None
        through = rows[0].get("written_through")
        return Checkpoint(
            int(rows[0]["block"]),
            bytes.fromhex(str(rows[0]["header_hash"])),
            None if through is None else int(through),
        )

    def write(self, rows: BlockRows, data: list[bytes]) -> None:
        """Check ``rows``'s block chains on the checkpoint, then write it and advance the
        checkpoint in one ledgerdb transaction (one per part, see the module docstring).
        ``data`` is the block's envelopes (for its data hash). A block already written is
        skipped; a block written in part is finished."""
        with self._writing:
            self._write_block(rows, data)

    def _write_block(self, rows: BlockRows, data: list[bytes]) -> None:
        done = self.checkpoint()
        expected = 0 if done is None else done.next_block
        if rows.number < expected:
            return
        resumed = done is not None and done.written_through is not None
        if resumed:
            _check_same_block(rows, done)
        else:
            _check_chain(rows, data, done, expected)
        parts = block_parts(rows.writes)
        for number, part in enumerate(parts):
            last = number == len(parts) - 1
            if resumed and part and part[-1].position <= done.written_through:
                continue  # written before the node stopped
            checkpoint = {"block": rows.number, "header_hash": rows.header_hash.hex()}
            if not last:
                checkpoint["written_through"] = part[-1].position
            head = rows if number == 0 else None
            tables = {write.table for write in part} - self._tables
            first = done is None and number == 0
            self.db.execute_lambda(
                partial(
                    _write,
                    head=head,
                    writes=part,
                    tables=tables,
                    checkpoint=checkpoint,
                    first=first,
                )
            )
            self._tables |= tables  # they exist once the part committed


def block_parts(writes: list[KeyWrite]) -> list[list[KeyWrite]]:
    """A block's key writes cut into runs of whole transactions in which no key is
    written twice: one run (the whole block) unless two transactions write one key."""
    parts: list[list[KeyWrite]] = [[]]
    seen: set[tuple[str, str]] = set()
    for _, group in itertools.groupby(writes, key=lambda write: write.position):
        mine = list(group)
        keys = {(write.table, write.key) for write in mine}
        if keys & seen:
            parts.append([])
            seen = set()
        parts[-1].extend(mine)
        seen |= keys
    return parts


def _write(
    txn: Transaction,
    head: BlockRows | None,
    writes: list[KeyWrite],
    tables: set[str],
    checkpoint: dict[str, Any],
    first: bool,
) -> None:
    """One part of a block: its ``blocks`` and ``transactions`` rows (``head``, with the
    first part), its key writes (tables made first) and the checkpoint."""
    for table in sorted(tables):
        txn.execute(f"CREATE TABLE {quoted(table)}")
        txn.execute(f"CREATE INDEX ON {quoted(table)} ({FABRIC}.key)")
    if head is not None:
        txn.execute(f"INSERT INTO {BLOCKS_TABLE} ?", head.block)
        if head.transactions:
            txn.execute(f"INSERT INTO {TRANSACTIONS_TABLE} ?", head.transactions)
    for table in dict.fromkeys(write.table for write in writes):
        _apply(txn, table, [write for write in writes if write.table == table])
    if first:
        txn.execute(f"INSERT INTO {quoted(CHECKPOINT_TABLE)} ?", checkpoint)
    else:  # a finished block drops written_through
        through = "?" if "written_through" in checkpoint else "MISSING"
        txn.execute(
            f"UPDATE {quoted(CHECKPOINT_TABLE)} AS c SET c.block = ?, c.header_hash = ?, "
            f"c.written_through = {through}",
            *checkpoint.values(),
        )


def _check_same_block(rows: BlockRows, done: Checkpoint) -> None:
    """The block a part of which is written must come again with the same header hash."""
    if rows.header_hash != done.header_hash:
        raise BrokenChain(
            f"block {rows.number}: header hash {rows.header_hash.hex()} is not the "
            f"{done.header_hash.hex()} of the block partly written before"
        )


def _check_chain(
    rows: BlockRows, data: list[bytes], done: Checkpoint | None, expected: int
) -> None:
    """``BrokenChain`` naming the block unless it is the next one, its ``previous_hash``
    is the last block's header hash and its ``data_hash`` covers its envelopes."""
    if rows.number != expected:
        raise BrokenChain(f"block {rows.number}: expected block {expected} next")
    if done is not None and rows.previous_hash != done.header_hash:
        raise BrokenChain(
            f"block {rows.number}: previous_hash {rows.previous_hash.hex()} is not block "
            f"{done.block}'s header hash {done.header_hash.hex()}"
        )
    if block_data_hash(data).hex() != rows.block["data_hash"]:
        raise BrokenChain(f"block {rows.number}: data_hash does not match its transactions")


def _apply(txn: Transaction, table: str, writes: list[KeyWrite]) -> None:
    """A block's writes to one table, in four statements or fewer plus one per changed
    key: one indexed lookup of every key, one INSERT of the new ones, one DELETE of the
    deleted ones, and an UPDATE of each changed one (the same document id, so history
    follows the key). ``block_parts`` sees to it that no key comes twice."""
    final = {write.key: write.document for write in writes}
    name = quoted(table)
    found = {
        str(row["key"]): row
        for row in txn.execute(
            f"SELECT id, d.{FABRIC}.key AS key, d AS doc FROM {name} AS d BY id "
            f"WHERE d.{FABRIC}.key IN ?",
            list(final),
        ).values
    }
    new = [doc for key, doc in final.items() if doc is not None and key not in found]
    if new:
        txn.execute(f"INSERT INTO {name} ?", new)
    gone = [found[key]["id"] for key, doc in final.items() if doc is None and key in found]
    if gone:
        txn.execute(f"DELETE FROM {name} AS d BY id WHERE id IN ?", gone)
    for key, doc in final.items():
        if doc is not None and key in found:
            _replace(txn, name, str(found[key]["id"]), found[key]["doc"], doc)


def _replace(txn: Transaction, table: str, document_id: str, old: Any, new: dict) -> None:
    """The document becomes ``new``: each field set, each field it no longer has removed
    (``SET … = MISSING``), in one statement."""
    names = list(new)
    gone = [name for name in old if name not in new]
    assignments = [f"d[{_literal(name)}] = ?" for name in names]
    assignments += [f"d[{_literal(name)}] = MISSING" for name in gone]
    txn.execute(
        f"UPDATE {table} AS d BY id SET {', '.join(assignments)} WHERE id = ?",
        *(new[name] for name in names),
        document_id,
    )


def _literal(text: str) -> str:
    """A PartiQL string literal (``''`` escapes a quote)."""
    return "'" + text.replace("'", "''") + "'"
