"""Validate & commit (flow step 6): the next block from the orderer, checked, its
transactions given their validation codes, stored, and applied to the world state.

``commit_block`` runs the phases in this order:

- **check the link** — the block is the next one and names the previous block's hash;
- **check the orderer's signature** — per the channel's ``BlockValidation`` policy;
- **validate** — a config block becomes the channel's config; a normal block's
  transactions get their codes (``peers.validation``) and the clear private data of the
  valid ones is gathered;
- **store** — the block, with its ``TRANSACTIONS_FILTER`` and ``COMMIT_HASH``
  (``peers.commithash``), is appended to the block store;
- **apply** — the valid writes, every txid with its code and the new height reach the
  world state in one LMDB transaction.

A check that fails rejects the whole block (``BlockRejected``): nothing is written and
the puller asks again. Storing before applying is what lets ``Ledger.recover`` finish a
commit a crash interrupted. The block's envelopes are read once (``proto.envelope``) and
every phase shares that reading.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from fabric_protos.common import common_pb2

from ca.channelconfig import ChannelConfig
from peers.commithash import block_commit_hash
from peers.errors import PeerError
from peers.ledger import Ledger
from peers.lifecycle import read_definition
from peers.signatures import prefetch
from peers.validation import BlockValidator, TxVerdict
from peers.worldstate import BlockUpdate, block_update
from proto.blocksign import block_signatures
from proto.commithash import commit_hash_metadata
from proto.envelope import Code, ParsedTx, is_config_block, parse_block


class BlockRejected(PeerError):
    """A block the peer will not commit (bad orderer signature, gap, broken chain)."""


@dataclass(frozen=True)
class CommittedBlock:
    block: common_pb2.Block
    verdicts: list[TxVerdict]
    private: dict[str, dict[str, str]] = field(default_factory=dict)
    """txid → {"namespace/collection": how its clear data was found (or "missing")}."""
    txs: list[ParsedTx] = field(default_factory=list)
    """The block's envelopes as the committer decoded them (listeners read, not decode)."""


@dataclass(frozen=True)
class _Validated:
    """What validation decided about a block: the config it leaves the channel with,
    each transaction's verdict, and the world-state update that follows."""

    config: ChannelConfig
    verdicts: list[TxVerdict]
    update: BlockUpdate
    private: dict[str, dict[str, str]] = field(default_factory=dict)


def commit_block(ledger: Ledger, block: common_pb2.Block) -> CommittedBlock:
    """Validate and commit the next block; raise ``BlockRejected`` if it is not."""
    _check_link(ledger, block)
    if block.header.number > 0:
        _check_orderer_signature(ledger, block)
    txs = parse_block(block)
    validated = _validate(ledger, block, txs)
    stored = _store(ledger, block, validated)
    _apply(ledger, validated)
    return CommittedBlock(stored, validated.verdicts, validated.private, txs)


# -- check the link -------------------------------------------------------------------------


def _check_link(ledger: Ledger, block: common_pb2.Block) -> None:
    number = block.header.number
    if number != ledger.height:
        raise BlockRejected(f"block {number} is not the next block ({ledger.height})")
    if number > 0 and block.header.previous_hash != ledger.previous_hash:
        raise BlockRejected(f"block {number} does not link to block {number - 1}")


# -- check the orderer's signature --------------------------------------------------------


def _check_orderer_signature(ledger: Ledger, block: common_pb2.Block) -> None:
    assert ledger.config is not None  # every block after the genesis block has one
    if not ledger.config.evaluate("/Channel/Orderer/BlockValidation", block_signatures(block)):
        raise BlockRejected(
            f"block {block.header.number} is not signed per the channel's BlockValidation policy"
        )


# -- validate -------------------------------------------------------------------------------


def _validate(ledger: Ledger, block: common_pb2.Block, txs: Sequence[ParsedTx]) -> _Validated:
    if block.header.number == 0 or is_config_block(txs):
        return _validate_config_block(block, txs)
    return _validate_normal_block(ledger, block.header.number, txs)


def _validate_config_block(block: common_pb2.Block, txs: Sequence[ParsedTx]) -> _Validated:
    """The orderer checked the update a config block carries; the peer takes its config
    (``ChannelConfig`` refuses a block that is not one) and records the transaction."""
    config = ChannelConfig.from_block(block)
    verdicts = [TxVerdict(txs[0].tx_id, Code.VALID)]
    update = block_update(block.header.number, [(verdicts[0].tx_id, Code.VALID, None)])
    return _Validated(config, verdicts, update)


def _validate_normal_block(ledger: Ledger, number: int, txs: Sequence[ParsedTx]) -> _Validated:
    config = ledger.config
    assert config is not None
    prefetch(txs, config.msps)  # signatures in parallel; codes in order below
    validator = BlockValidator(
        config, ledger.state, lambda name: read_definition(ledger.state, name)
    )
    verdicts, update = validator.validate_block(number, txs)
    # Gathered before the block is stored: a crash while pulling from other peers leaves
    # the block to be delivered, and the data pulled, again.
    private = ledger.resolve_private(update, ledger.puller)
    return _Validated(config, verdicts, update, private)


# -- store with the TRANSACTIONS_FILTER -----------------------------------------------------


def _store(ledger: Ledger, block: common_pb2.Block, validated: _Validated) -> common_pb2.Block:
    stored = common_pb2.Block()
    stored.CopyFrom(block)
    while len(stored.metadata.metadata) <= common_pb2.COMMIT_HASH:
        stored.metadata.metadata.append(b"")
    codes = bytes(v.code for v in validated.verdicts)
    stored.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = codes
    if block.header.number == 1 or ledger.commit_hash:  # Fabric's rule: from block 1 on
        value = block_commit_hash(validated.update, ledger.state, codes, ledger.commit_hash)
        stored.metadata.metadata[common_pb2.COMMIT_HASH] = commit_hash_metadata(value)
    ledger.append(stored)
    return stored


# -- apply to world state -------------------------------------------------------------------


def _apply(ledger: Ledger, validated: _Validated) -> None:
    ledger.apply(validated.update)
    ledger.config = validated.config
