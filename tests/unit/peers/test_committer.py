"""Commit, phase by phase: the link and the orderer's signature are checked, the block is
stored with its codes and applied, config blocks change the config, a crash is recovered
from. The codes themselves are ``test_validation``'s."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2

from ca.policy import from_string
from chaincode.rwset import TxRWSet
from chaincode.state import Version
from peers.committer import BlockRejected, commit_block
from peers.ledger import Ledger, transactions_filter
from proto.envelope import Code
from tests.support.channel import ChannelFixture, define


def writes(**values: bytes | None) -> TxRWSet:
    rwset = TxRWSet()
    rwset.namespace("basic").writes.update(values)
    return rwset


def read_then_write(ledger: Ledger, key: str, value: bytes) -> TxRWSet:
    rwset = writes(**{key: value})
    current = ledger.state.get("basic", key)
    rwset.namespace("basic").reads[key] = current.version if current else None
    return rwset


def codes(ledger: Ledger, channel: ChannelFixture, envelopes) -> list[str]:
    committed = commit_block(ledger, channel.block(envelopes))
    assert transactions_filter(committed.block) == bytes(v.code for v in committed.verdicts)
    return [v.code_name for v in committed.verdicts]


def test_valid_transaction_updates_state_and_history(ledger: Ledger, channel) -> None:
    assert codes(ledger, channel, [channel.transaction(writes(a=b"1"))]) == ["VALID"]
    assert codes(ledger, channel, [channel.transaction(read_then_write(ledger, "a", b"2"))]) == [
        "VALID"
    ]
    value = ledger.state.get("basic", "a")
    assert value.value == b"2" and value.version == Version(2, 0)
    assert [m.value for m in ledger.state.history("basic", "a")] == [b"2", b"1"]
    assert ledger.state.height == ledger.height == 3


def test_second_read_of_a_key_written_earlier_in_the_block_conflicts(ledger, channel) -> None:
    codes(ledger, channel, [channel.transaction(writes(a=b"1"))])
    first = channel.transaction(read_then_write(ledger, "a", b"2"))
    second = channel.transaction(read_then_write(ledger, "a", b"3"))
    assert codes(ledger, channel, [first, second]) == ["VALID", "MVCC_READ_CONFLICT"]
    assert ledger.state.get("basic", "a").value == b"2"


def test_key_level_policy_overrides_chaincode_policy(ledger: Ledger, channel) -> None:
    codes(ledger, channel, [channel.transaction(writes(a=b"1"))])
    owned = TxRWSet()
    owned.namespace("basic").metadata_writes["a"] = {
        "VALIDATION_PARAMETER": from_string("OR('Org1MSP.peer')").SerializeToString()
    }
    assert codes(ledger, channel, [channel.transaction(owned)]) == ["VALID"]
    by_org1 = channel.transaction(writes(a=b"2"), endorsers=("Org1MSP",))
    by_org2 = channel.transaction(writes(a=b"3"), endorsers=("Org2MSP",))
    assert codes(ledger, channel, [by_org1, by_org2]) == ["VALID", "ENDORSEMENT_POLICY_FAILURE"]


def test_duplicate_txid_in_block_and_across_blocks(ledger: Ledger, channel) -> None:
    envelope = channel.transaction(writes(a=b"1"))
    assert codes(ledger, channel, [envelope, envelope]) == ["VALID", "DUPLICATE_TXID"]
    assert codes(ledger, channel, [envelope]) == ["DUPLICATE_TXID"]


def test_each_envelope_is_decoded_once_per_commit(ledger: Ledger, channel) -> None:
    """Signature prefetch, the config-block check, validation and the invalid
    transactions' txids all read the committer's one decoding of the block."""
    envelopes = [channel.transaction(writes(**{key: b"v"})) for key in "abc"]
    envelopes.append(channel.transaction(writes(d=b"v"), endorsers=("Org1MSP",)))
    block = channel.block(envelopes)
    decoded: list[bytes] = []

    def count(frame, event: str, arg) -> None:
        if event == "c_call" and getattr(arg, "__self__", None) is common_pb2.Envelope:
            decoded.append(arg.__name__)

    sys.setprofile(count)
    try:
        committed = commit_block(ledger, block)
    finally:
        sys.setprofile(None)
    assert [v.code_name for v in committed.verdicts][-1] == "ENDORSEMENT_POLICY_FAILURE"
    assert decoded == ["FromString"] * len(envelopes)


def test_a_config_block_becomes_the_channel_config(ledger: Ledger, channel) -> None:
    config_envelope = common_pb2.Envelope.FromString(channel.genesis.data.data[0])
    before = ledger.config
    committed = commit_block(ledger, channel.block([config_envelope]))
    assert [v.code_name for v in committed.verdicts] == ["VALID"]
    assert ledger.config is not before and ledger.config.channel_id == before.channel_id
    assert ledger.state.height == ledger.height == 2


def test_block_without_a_valid_orderer_signature_is_rejected(ledger: Ledger, channel) -> None:
    block = channel.block([channel.transaction(writes(a=b"1"))], signer=channel.clients["Org1MSP"])
    with pytest.raises(BlockRejected, match="BlockValidation"):
        commit_block(ledger, block)
    assert ledger.height == 1


def test_gaps_and_broken_links_are_rejected(ledger: Ledger, channel) -> None:
    skipped = channel.block([])  # block 1, never delivered
    with pytest.raises(BlockRejected, match="not the next block"):
        commit_block(ledger, channel.block([channel.transaction(writes(a=b"1"))]))
    forged = common_pb2.Block()
    forged.CopyFrom(skipped)
    forged.header.previous_hash = b"\x00" * 32  # block 1, but not linked to block 0
    with pytest.raises(BlockRejected, match="does not link to block 0"):
        commit_block(ledger, forged)
    assert ledger.height == 1


def test_recovery_replays_blocks_the_state_missed(tmp_path: Path, channel) -> None:
    ledger = Ledger(tmp_path / "crashy")
    commit_block(ledger, channel.genesis)
    define(ledger.state)
    codes(ledger, channel, [channel.transaction(writes(a=b"1", b=b"2"))])
    conflicting = channel.transaction(read_then_write(ledger, "a", b"x"))
    codes(ledger, channel, [channel.transaction(read_then_write(ledger, "a", b"3")), conflicting])
    expected = ledger.state.state_hash(["basic"])
    ledger.close()
    # A crash after the block store append but before any state commit: the state is
    # gone; only the definition (written outside the blocks in this test) comes back.
    shutil.rmtree(tmp_path / "crashy" / "state")
    recovered = Ledger(tmp_path / "crashy")
    define(recovered.state)
    recovered.recover()
    try:
        assert recovered.state.height == 3
        assert recovered.state.state_hash(["basic"]) == expected
        assert recovered.state.get("basic", "a").value == b"3"
        assert recovered.state.transaction(conflicting_txid(conflicting))[2] == (
            Code.MVCC_READ_CONFLICT
        )
    finally:
        recovered.close()


def conflicting_txid(envelope: common_pb2.Envelope) -> str:
    payload = common_pb2.Payload.FromString(envelope.payload)
    return common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id
