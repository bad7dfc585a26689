"""Step 6 of the flow, second half: check a block from the orderer, record every
transaction's validation code in it, store it, and apply the valid writes.

Order matters for crash safety: the block (with its ``TRANSACTIONS_FILTER``) is appended
to the block store first, then the world state commits the block's writes and the new
height in one LMDB transaction. After a crash between the two, ``recover`` re-applies
the stored blocks above the state's height using the codes recorded in them, so the
state ends exactly where a peer that never crashed would be.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from ca.channelconfig import ChannelConfig
from chaincode.state import Version
from ledgerdb.block import Payload
from ledgerdb.journal import Journal
from peers.errors import PeerError
from peers.lifecycle import read_definition
from peers.privatedata import PrivateDataPuller, resolve_private
from peers.rwset import decode_rwset
from peers.signatures import prefetch
from peers.transientstore import TransientStore
from peers.validation import BlockValidator, TxVerdict, tx_id_of, unpack_endorsed_action
from peers.worldstate import BlockUpdate, WorldState
from proto.blockhash import block_header_hash
from proto.blocksign import block_signatures, last_config_index

log = logging.getLogger(__name__)
Code = transaction_pb2.TxValidationCode


class BlockRejected(PeerError):
    """A block the peer will not commit (bad orderer signature, gap, broken chain)."""


@dataclass(frozen=True)
class CommittedBlock:
    block: common_pb2.Block
    verdicts: list[TxVerdict]
    private: dict[str, dict[str, str]] = field(default_factory=dict)
    """txid → {"namespace/collection": how its clear data was found (or "missing")}."""


def transactions_filter(block: common_pb2.Block) -> bytes:
    metadata = block.metadata.metadata
    return metadata[common_pb2.TRANSACTIONS_FILTER] if len(metadata) > 2 else b""


TRANSIENT_PURGE_EVERY = 100
"""Blocks between purges of transient entries whose transactions never committed."""


class Ledger:
    """One channel on a peer: its block store (a ledgerdb journal), world state and
    transient store. ``mspid`` (the peer's organization) decides which collections'
    clear data it commits; ``puller`` fetches what the transient store lacks."""

    def __init__(self, directory: Path, mspid: str = "") -> None:
        self.directory = directory
        self.mspid = mspid
        self.puller: PrivateDataPuller | None = None
        self.blocks = Journal.open(directory / "blocks")
        self.state = WorldState(directory / "state")
        self.transient = TransientStore(directory / "transient")
        self.config: ChannelConfig | None = None
        self._previous_hash = b""

    @property
    def height(self) -> int:
        tip = self.blocks.tip
        return 0 if tip is None else tip.sequence_no + 1

    def read_block(self, number: int) -> common_pb2.Block:
        return common_pb2.Block.FromString(self.blocks.read(number).entries[0].body)

    def close(self) -> None:
        self.blocks.close()
        self.state.close()
        self.transient.close()

    # -- recovery -------------------------------------------------------------------------

    def recover(self) -> None:
        """Load the channel config and bring the state up to the block store's height."""
        height = self.height
        if height == 0:
            return
        last = self.read_block(height - 1)
        self._previous_hash = block_header_hash(last.header)
        config_number = last_config_index(last) if last.header.number else 0
        self.config = ChannelConfig.from_block(self.read_block(config_number))
        for number in range(self.state.height, height):
            block = self.read_block(number)
            update = self._replayed_update(block)
            self._resolve_private(update, None)
            self.state.commit_block(update)
            self._purge_transient(update)
            log.info("replayed block %d into the world state", number)

    def _replayed_update(self, block: common_pb2.Block) -> BlockUpdate:
        codes = transactions_filter(block)
        update = BlockUpdate(number=block.header.number)
        for index, data in enumerate(block.data.data):
            code = codes[index] if index < len(codes) else Code.VALID
            tx_id = tx_id_of(data)
            update.transactions.append((tx_id, code))
            if code != Code.VALID or _is_config(data):
                continue
            rwset = decode_rwset(_results_of(data))
            position = Version(block.header.number, index)
            update.writes.append((position, tx_id, rwset.public))
            for w in rwset.hashed_writes:
                update.hashed_writes.append(
                    (position, w.namespace, w.collection, w.key_hash, w.value_hash)
                )
            for c in rwset.collection_hashes:
                update.expected_private.append(
                    (position, tx_id, c.namespace, c.collection, c.pvt_rwset_hash)
                )
        return update

    # -- private data ---------------------------------------------------------------------

    def _resolve_private(
        self, update: BlockUpdate, puller: PrivateDataPuller | None
    ) -> dict[str, dict[str, str]]:
        if not update.expected_private or not self.mspid or self.config is None:
            return {}
        outcome = resolve_private(
            self.config.channel_id, self.mspid, update, self.state, self.transient, puller
        )
        return outcome.by_tx

    def _purge_transient(self, update: BlockUpdate) -> None:
        """Committed transactions' entries go now; never-committed ones after retention."""
        if update.expected_private:
            self.transient.purge({tx_id for _, tx_id, *_ in update.expected_private})
        if update.number % TRANSIENT_PURGE_EVERY == 0:
            self.transient.purge_older_than(update.number)

    # -- commit ---------------------------------------------------------------------------

    def commit(self, block: common_pb2.Block) -> CommittedBlock:
        """Validate and commit the next block; raise ``BlockRejected`` if it is not."""
        number = block.header.number
        if number != self.height:
            raise BlockRejected(f"block {number} is not the next block ({self.height})")
        if number > 0 and block.header.previous_hash != self._previous_hash:
            raise BlockRejected(f"block {number} does not link to block {number - 1}")
        private: dict[str, dict[str, str]] = {}
        if number == 0:
            config = ChannelConfig.from_block(block)
            verdicts = [TxVerdict(tx_id_of(block.data.data[0]), Code.VALID)]
            update = BlockUpdate(number=0, transactions=[(verdicts[0].tx_id, Code.VALID)])
        else:
            assert self.config is not None
            signatures = block_signatures(block)
            if not self.config.evaluate("/Channel/Orderer/BlockValidation", signatures):
                raise BlockRejected(
                    f"block {number} is not signed per the channel's BlockValidation policy"
                )
            config = self.config
            if _is_config_block(block):
                config = ChannelConfig.from_block(block)
                verdicts = [TxVerdict(tx_id_of(block.data.data[0]), Code.VALID)]
                update = BlockUpdate(number, transactions=[(verdicts[0].tx_id, Code.VALID)])
            else:
                prefetch(block, config.msps)  # signatures in parallel; codes in order below
                validator = BlockValidator(
                    config, self.state, lambda name: read_definition(self.state, name)
                )
                verdicts, update = validator.validate_block(block)
                private = self._resolve_private(update, self.puller)
        stored = common_pb2.Block()
        stored.CopyFrom(block)
        while len(stored.metadata.metadata) < 5:
            stored.metadata.metadata.append(b"")
        stored.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes(v.code for v in verdicts)
        self.blocks.append([Payload(stored.SerializeToString())])
        self.state.commit_block(update)
        self._purge_transient(update)
        self.config = config
        self._previous_hash = block_header_hash(block.header)
        return CommittedBlock(stored, verdicts, private)


def _payload_header(data: bytes) -> common_pb2.ChannelHeader:
    payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(data).payload)
    return common_pb2.ChannelHeader.FromString(payload.header.channel_header)


def _is_config(data: bytes) -> bool:
    return _payload_header(data).type == common_pb2.CONFIG


def _is_config_block(block: common_pb2.Block) -> bool:
    return len(block.data.data) == 1 and _is_config(block.data.data[0])


def _results_of(data: bytes) -> bytes:
    payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(data).payload)
    return unpack_endorsed_action(payload.data)[1].results
