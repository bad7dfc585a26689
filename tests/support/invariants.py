"""What must hold in a network after any fault, read from the nodes' own files.

Every orderer's block journal (its verified local copy of the replicated journal) and
every peer's block store are opened read-only, as ``consortium ledger … --node`` opens
them, so a running node is not disturbed. The checks are the ordering cluster's promises:
a transaction that got a VALID commit status is in every ledger (VALID in every peer's),
each block number has one content everywhere, and the orderers' journals verify and
have equal digests at equal heights.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from fabric_protos.common import common_pb2

from ledgerdb.journal import Journal
from ordering.chain import fabric_block
from proto.blockhash import block_header_hash
from proto.envelope import Code, parse_block
from tests.support.processes import consortium


@dataclass(frozen=True)
class Ledger:
    """One node's copy of a channel's chain: header hash and transactions per block."""

    node: str
    hashes: dict[int, bytes]  # block number → header hash
    txids: dict[str, int]  # txid → validation code (orderers: VALID, they do not validate)

    @property
    def height(self) -> int:
        return max(self.hashes, default=-1) + 1


def _channels_folder(home: Path, node: str) -> Path:
    if node.startswith("orderer-"):
        return home / "ordering" / node.removeprefix("orderer-") / "data" / "channels"
    _, member, peer = node.split("-", 2)
    return home / "members" / member / "peers" / peer / "data" / "channels"


def read_ledger(home: Path, node: str, channel: str) -> Ledger:
    """The node's chain as its files hold it now (only blocks its writer acknowledged)."""
    folder = _channels_folder(home, node) / channel / "blocks"
    hashes: dict[int, bytes] = {}
    txids: dict[str, int] = {}
    with Journal.open(folder, read_only=True) as journal:
        tip = journal.tip
        stored = journal.read_range(0, tip.sequence_no + 1) if tip is not None else ()
        for record in stored:
            block = _fabric(node, record.entries[0].body)
            hashes[block.header.number] = block_header_hash(block.header)
            codes = block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
            for index, tx in enumerate(parse_block(block)):
                if not tx.is_config:
                    code = codes[index] if node.startswith("peer-") else Code.VALID
                    txids.setdefault(tx.tx_id, code)
    return Ledger(node, hashes, txids)


def _fabric(node: str, body: bytes) -> common_pb2.Block:
    if node.startswith("orderer-"):
        return fabric_block(body)
    return common_pb2.Block.FromString(body)


def check_ledgers(ledgers: Iterable[Ledger], valid: Iterable[str]) -> None:
    """Every VALID transaction in every ledger (VALID in every peer's), and one content
    per block number across all of them."""
    ledgers = list(ledgers)
    wanted = set(valid)
    for ledger in ledgers:
        missing = wanted - ledger.txids.keys()
        assert not missing, f"{ledger.node} lacks {len(missing)} VALID txs, e.g. {min(missing)}"
        not_valid = [t for t in wanted if ledger.txids[t] != Code.VALID]
        assert not not_valid, f"{ledger.node} did not commit {not_valid[:3]} as VALID"
    longest = max(ledgers, key=lambda ledger: ledger.height)
    for ledger in ledgers:
        for number, digest in ledger.hashes.items():
            assert digest == longest.hashes[number], (
                f"block {number} differs between {ledger.node} and {longest.node}"
            )


def check_orderer_journals(cwd: Path, orderers: Iterable[str]) -> None:
    """Each orderer's journal verifies; journals of equal height have equal digests."""
    by_height: dict[int, set[str]] = {}
    for node in orderers:
        verified = consortium(cwd, "ledger", "verify", "--node", node, check=False)
        assert verified.returncode == 0, f"{node}: {verified.stdout}{verified.stderr}"
        digest = json.loads(
            consortium(cwd, "ledger", "digest", "--node", node, "-o", "json").stdout
        )
        height = int(digest["digestTipAddress"]["sequenceNo"]) + 1
        by_height.setdefault(height, set()).add(digest["digest"])
    unequal = {height: d for height, d in by_height.items() if len(d) > 1}
    assert not unequal, f"orderers' digests differ at equal heights: {unequal}"
