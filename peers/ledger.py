"""One channel's ledger on a peer: its block store, world state and transient store,
opened together and brought back in line with each other after a crash.

The block store is a ledgerdb journal of Fabric blocks, each with its
``TRANSACTIONS_FILTER``; the world state is LMDB (``peers.worldstate``). What goes in is
decided by the committer (``peers.committer``); this module keeps it, in the order that
makes a crash safe: a block is appended to the block store first, then the world state
commits the block's writes and the new height in one LMDB transaction. After a crash
between the two, ``recover`` re-applies the stored blocks above the state's height using
the codes recorded in them, so the state ends exactly where a peer that never crashed
would be.

A channel joined from a snapshot (``peers.snapshot_join``) starts later: its block store
holds the blocks after the snapshot's height, numbered on from there, and the blocks
before it are not on this peer (asking for one is ``BlockNotAvailable``, in Fabric's
words).

A write that fails (a full disk) leaves the stores as a crash at that instant would:
the journal stops at its first failed write and keeps nothing after its durable tip, and
an LMDB write transaction that fails commits nothing. ``reopen`` is then what a restart
does — open again what the failure left unusable and ``recover`` — so the peer retries
without being restarted.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

import lmdb
from fabric_protos.common import common_pb2

from ca.channelconfig import ChannelConfig
from ledgerdb.block import Payload
from ledgerdb.errors import LedgerError
from ledgerdb.journal import Journal
from peers.errors import BlockNotAvailable
from peers.privatedata import PrivateDataPuller, resolve_private
from peers.privatepurge import definitions_block_to_live, expiry_schedule
from peers.rwset import CommittedRWSet, decode_rwset
from peers.snapshot_join import Bootstrap, config_block
from peers.transientstore import TransientStore
from peers.worldstate import BlockUpdate, WorldState, block_update
from proto.blockhash import block_header_hash
from proto.blocksign import last_config_index
from proto.commithash import read_commit_hash
from proto.envelope import Code, ParsedTx, parse_block

log = logging.getLogger(__name__)

TRANSIENT_PURGE_EVERY = 100
"""Blocks between purges of transient entries whose transactions never committed."""


def transactions_filter(block: common_pb2.Block) -> bytes:
    """The validation codes a committed block records, one byte per transaction."""
    metadata = block.metadata.metadata
    return metadata[common_pb2.TRANSACTIONS_FILTER] if len(metadata) > 2 else b""


class Ledger:
    """One channel on a peer: its block store (a ledgerdb journal), world state and
    transient store. ``mspid`` (the peer's organization) decides which collections'
    clear data it commits; ``puller`` fetches what the transient store lacks."""

    def __init__(self, directory: Path, mspid: str = "") -> None:
        self.directory = directory
        self.mspid = mspid
        self.puller: PrivateDataPuller | None = None
        self.blocks = Journal.open(directory / "blocks")
        self.bootstrap = Bootstrap.read(directory)
        self.first_block = 0 if self.bootstrap is None else self.bootstrap.first_block
        """The number of the block store's first block (0 unless joined from a snapshot)."""
        self.state = WorldState(directory / "state")
        self.transient = TransientStore(directory / "transient")
        self.config: ChannelConfig | None = None
        self.previous_hash = b""
        """The header hash of the newest stored block, which the next one must name."""
        self.commit_hash = b""
        """The newest stored block's commit hash, which the next one's chains to."""

    @property
    def height(self) -> int:
        tip = self.blocks.tip
        return self.first_block + (0 if tip is None else tip.sequence_no + 1)

    def read_block(self, number: int) -> common_pb2.Block:
        if number < self.first_block:
            raise BlockNotAvailable(
                f"cannot serve block [{number}]. The ledger is bootstrapped from a snapshot. "
                f"First available block = [{self.first_block}]"
            )
        stored = self.blocks.read(number - self.first_block)
        return common_pb2.Block.FromString(stored.entries[0].body)

    def close(self) -> None:
        self.blocks.close()
        self.state.close()
        self.transient.close()

    def reopen(self) -> None:
        """After a failed write, open again what it left unusable and finish the commit it
        interrupted, as a restart would. Only what no longer answers is reopened: the
        journal after its own failed write (it refuses everything after one; opening it
        again cuts a torn tail, and scans its open segment), an LMDB environment whose
        meta page could not be written (it refuses every transaction); a healthy store's
        readers are not disturbed. Raises the store's error while the disk still refuses
        the writes this takes."""
        if not _journal_answers(self.blocks):
            with contextlib.suppress(Exception):  # a failed journal may fail to close, too
                self.blocks.close()
            self.blocks = Journal.open(self.directory / "blocks")
        if not _answers(self.state.env):
            with contextlib.suppress(lmdb.Error):
                self.state.close()
            self.state = WorldState(self.directory / "state")
        if not _answers(self.transient.env):
            with contextlib.suppress(lmdb.Error):
                self.transient.close()
            self.transient = TransientStore(self.directory / "transient")
        self.recover()

    # -- recovery -------------------------------------------------------------------------

    def recover(self) -> None:
        """Load the channel config and bring the state up to the block store's height."""
        height = self.height
        if height == 0:
            return
        if self.bootstrap is not None and height == self.first_block:  # none since
            self.previous_hash = self.bootstrap.last_block_hash
            self.commit_hash = self.bootstrap.commit_hash
            config_number = -1
        else:
            last = self.read_block(height - 1)
            self.previous_hash = block_header_hash(last.header)
            self.commit_hash = read_commit_hash(last)
            config_number = last_config_index(last) if last.header.number else 0
        if config_number < self.first_block:  # the config in force at the snapshot
            self.config = ChannelConfig.from_block(config_block(self.directory))
        else:
            self.config = ChannelConfig.from_block(self.read_block(config_number))
        for number in range(self.state.height, height):
            update = _replayed_update(self.read_block(number))
            self.resolve_private(update, None)
            self.apply(update)
            log.info("replayed block %d into the world state", number)

    # -- what the committer keeps ---------------------------------------------------------

    def resolve_private(
        self, update: BlockUpdate, puller: PrivateDataPuller | None
    ) -> dict[str, dict[str, str]]:
        """Add to ``update`` the clear private data this peer's organization should hold;
        returns how each transaction's collections were found, for the trace."""
        if not update.expected_private or not self.mspid or self.config is None:
            return {}
        outcome = resolve_private(
            self.config.channel_id, self.mspid, update, self.state, self.transient, puller
        )
        return outcome.by_tx

    def append(self, block: common_pb2.Block) -> None:
        """Store a block (with its ``TRANSACTIONS_FILTER``) as the new tip."""
        self.blocks.append([Payload(block.SerializeToString())])
        self.previous_hash = block_header_hash(block.header)
        self.commit_hash = read_commit_hash(block)

    def apply(self, update: BlockUpdate) -> None:
        """Apply a stored block's update to the world state, then let go of the transient
        entries it settled: committed transactions' now, never-committed ones after
        retention. The block's private data gets its purge schedule (block_to_live)."""
        if update.hashed_writes or update.hashed_metadata or update.expected_private:
            update.expiring = expiry_schedule(update, definitions_block_to_live(self.state))
        self.state.commit_block(update)
        if update.expected_private:
            self.transient.purge({tx_id for _, tx_id, *_ in update.expected_private})
        if update.number % TRANSIENT_PURGE_EVERY == 0:
            self.transient.purge_older_than(update.number)


def _journal_answers(journal: Journal) -> bool:
    """Whether the journal still reads its tip (one that failed a write, or is closed,
    refuses)."""
    tip = journal.tip
    try:
        if tip is not None:
            journal.read(tip.sequence_no)
    except LedgerError:
        return False
    return True


def _answers(env: lmdb.Environment) -> bool:
    """Whether an LMDB environment still begins a transaction."""
    try:
        with env.begin():
            return True
    except lmdb.Error:
        return False


def _replayed_update(block: common_pb2.Block) -> BlockUpdate:
    """A stored block's update, from the codes validation recorded in it."""
    codes = transactions_filter(block)
    txs = parse_block(block)
    outcomes = []
    for index, tx in enumerate(txs):
        code = codes[index] if index < len(codes) else Code.VALID
        outcomes.append((tx.tx_id, code, _stored_rwset(tx, code)))
    return block_update(block.header.number, outcomes)


def _stored_rwset(tx: ParsedTx, code: int) -> CommittedRWSet | None:
    if code != Code.VALID or tx.is_config:
        return None
    return decode_rwset(tx.action.chaincode_action.results)
