"""A block's signatures verified in parallel before the ordered pass: valid ones are
remembered, bad ones are left for validation to name, and the codes do not change."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ca.channelconfig import ChannelConfig
from ca.signing import KNOWN_SIGNATURES
from chaincode.rwset import TxRWSet
from peers.committer import commit_block
from peers.ledger import Ledger
from peers.signatures import block_signatures, prefetch
from proto.envelope import parse_block
from tests.support.channel import ChannelFixture, define


def _writes(key: str) -> TxRWSet:
    rwset = TxRWSet()
    rwset.namespace("basic").writes[key] = b"v"
    return rwset


def test_block_signatures_lists_creators_and_endorsements_and_skips_garbage(
    tmp_path: Path,
) -> None:
    channel = ChannelFixture(tmp_path)
    envelopes = [channel.transaction(_writes(f"k{n}")) for n in range(2)]
    block = channel.block(envelopes)
    block.data.data.append(b"\xffnot an envelope")
    checks = block_signatures(parse_block(block))
    assert len(checks) == 2 * 3  # a creator and two endorsers each
    assert checks[0] == (
        channel.clients["Org1MSP"].creator,
        envelopes[0].payload,
        envelopes[0].signature,
    )


def test_prefetch_remembers_valid_signatures_only_and_codes_are_unchanged(
    tmp_path: Path,
) -> None:
    channel = ChannelFixture(tmp_path / "channel")
    ledger = Ledger(tmp_path / "peer")
    commit_block(ledger, channel.genesis)
    define(ledger.state)
    envelopes = [channel.transaction(_writes(f"k{n}")) for n in range(4)]
    forged = envelopes[2]
    forged.signature = channel.clients["Org2MSP"].sign(forged.payload)
    block = channel.block(envelopes)
    KNOWN_SIGNATURES.clear()  # as on a peer that signed none of them
    assert ledger.config is not None
    assert prefetch(parse_block(block), ledger.config.msps) == 12
    remembered = {(digest, signature) for _, digest, signature in KNOWN_SIGNATURES._known}
    known = [
        (hashlib.sha256(message).digest(), signature) in remembered
        for _, message, signature in block_signatures(parse_block(block))
    ]
    assert known == [True] * 6 + [False] + [True] * 5
    committed = commit_block(ledger, block)
    assert [v.code_name for v in committed.verdicts] == [
        "VALID",
        "VALID",
        "BAD_CREATOR_SIGNATURE",
        "VALID",
    ]
    ledger.close()


def test_small_blocks_are_left_to_the_ordered_pass(tmp_path: Path) -> None:
    channel = ChannelFixture(tmp_path)
    block = channel.block([channel.transaction(_writes("k"))])
    assert prefetch(parse_block(block), ChannelConfig.from_block(channel.genesis).msps) == 0
