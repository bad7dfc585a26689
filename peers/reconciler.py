"""Reconciliation of missing private data: what Fabric's gossip privdata reconciler does.

A member peer that could not get a collection's clear data when its block committed (it
was not pushed the data and no member peer answered its pull: they were down, or this
peer was catching up while they were) records it as missing and commits the block with
the hashes only. Every ``interval`` seconds (Fabric's
``peer.gossip.pvtData.reconcileSleepInterval``, 1 minute by default) the reconciler takes
up to ``BATCH`` missing records (Fabric's ``reconcileBatchSize``, 10; each pass goes on
after the last record the one before tried), pulls each from the collection's member
peers, keeps the first answer whose hash is the block's ``pvt_rwset_hash``, and commits
it (``WorldState.reconcile``): a key still at that transaction's version gets its clear
value, the transaction's clear data is stored for ``DeliverWithPrivateData`` and
``Pull``, and the record goes. What nobody can give stays missing for the next pass;
what expired (block_to_live) is no longer missing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import lmdb
from fabric_protos.ledger.rwset import rwset_pb2

from chaincode.state import Version
from ledgerdb.errors import LedgerError
from peers.collections import Collection, collections_of
from peers.errors import PeerError
from peers.ledger import Ledger
from peers.lifecycle import read_definition
from peers.privatedata import add_collection, matches_hash, read_clear
from peers.privatepurge import key_expiries, key_hash
from peers.rwset import BadRWSet, decode_rwset
from proto.envelope import Invalid, parse_block

log = logging.getLogger(__name__)

RECONCILE_INTERVAL = 60.0
BATCH = 10

Fetch = Callable[[str, str, str, Collection], Awaitable[list[bytes]]]
"""(channel, txid, namespace, collection) → candidate clear ``KVRWSet`` bytes from peers."""


class Reconciler:
    """Fetches one channel's missing private data from other member peers."""

    def __init__(self, ledger: Ledger, fetch: Fetch, interval: float = RECONCILE_INTERVAL) -> None:
        self.ledger = ledger
        self.fetch = fetch
        self.interval = interval
        self._last: tuple[Version, str, str] | None = None

    async def run(self) -> None:
        """Reconcile every ``interval`` seconds until cancelled; a failed pass is logged
        and the next one tries again."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.reconcile()
            except (PeerError, LedgerError, lmdb.Error) as exc:
                log.warning("reconciliation of missing private data failed: %s", exc)

    async def reconcile(self) -> int:
        """One pass over up to ``BATCH`` missing records; how many were filled."""
        ledger = self.ledger
        if ledger.config is None:
            return 0
        filled = 0
        for position, namespace, name in self._next_batch():
            expected = _expected_hash(ledger, position, namespace, name)
            collection = collections_of(read_definition(ledger.state, namespace)).get(name)
            if expected is None or collection is None or not collection.is_member(ledger.mspid):
                continue
            tx_id, pvt_rwset_hash = expected
            candidates = await self.fetch(ledger.config.channel_id, tx_id, namespace, collection)
            clear = next((c for c in candidates if matches_hash(c, pvt_rwset_hash)), None)
            if clear is None:
                continue
            written = await asyncio.to_thread(
                _commit, ledger, position, collection, namespace, clear
            )
            if written is not None:
                filled += 1
                log.info(
                    "channel %s: reconciled private data of %s/%s for tx %s (%d keys)",
                    ledger.config.channel_id,
                    namespace,
                    name,
                    tx_id,
                    written,
                )
        return filled

    def _next_batch(self) -> list[tuple[Version, str, str]]:
        """Up to ``BATCH`` missing records, starting after the last one tried, so records
        nobody can give do not keep the ones after them from ever being tried."""
        missing = self.ledger.state.missing_private()
        last = self._last
        start = 0 if last is None else next((n for n, r in enumerate(missing) if r > last), 0)
        batch = (missing[start:] + missing[:start])[:BATCH]
        if batch:
            self._last = batch[-1]
        return batch


def _expected_hash(
    ledger: Ledger, position: Version, namespace: str, name: str
) -> tuple[str, bytes] | None:
    """The txid and ``pvt_rwset_hash`` the block at ``position`` holds for a collection."""
    txs = parse_block(ledger.read_block(position.block))
    if position.tx >= len(txs):
        return None
    tx = txs[position.tx]
    try:
        rwset = decode_rwset(tx.action.chaincode_action.results)
    except (Invalid, BadRWSet):  # recorded missing only for a valid transaction
        return None
    for c in rwset.collection_hashes:
        if (c.namespace, c.collection) == (namespace, name):
            return tx.tx_id, c.pvt_rwset_hash
    return None


def _commit(
    ledger: Ledger, position: Version, collection: Collection, namespace: str, clear: bytes
) -> int | None:
    data = read_clear(clear)
    if data is None:
        return None
    writes = data.writes
    stored = ledger.state.private_rwsets(position.block).get(position.tx)
    private = (
        rwset_pb2.TxPvtReadWriteSet.FromString(stored)
        if stored is not None
        else rwset_pb2.TxPvtReadWriteSet(data_model=rwset_pb2.TxReadWriteSet.KV)
    )
    add_collection(private, namespace, collection.name, clear)
    expiring = key_expiries(
        position.block,
        namespace,
        collection.name,
        collection.block_to_live,
        [(key_hash(key), key) for key, value in writes if value is not None],
    )
    return ledger.state.reconcile(
        position,
        namespace,
        collection.name,
        writes,
        private.SerializeToString(deterministic=True),
        expiring,
    )
