"""Validation and commit give each transaction the code Fabric would give."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import transaction_pb2

from ca.policy import from_string
from chaincode.rwset import RangeQuery, TxRWSet
from chaincode.state import Version
from peers.committer import BlockRejected, commit_block
from peers.ledger import Ledger, transactions_filter
from tests.support.channel import ChannelFixture, define

Code = transaction_pb2.TxValidationCode


@pytest.fixture
def channel(tmp_path: Path) -> ChannelFixture:
    return ChannelFixture(tmp_path / "channel")


@pytest.fixture
def ledger(tmp_path: Path, channel: ChannelFixture) -> Ledger:
    ledger = Ledger(tmp_path / "peer")
    commit_block(ledger, channel.genesis)
    define(ledger.state)
    yield ledger
    ledger.close()


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


def test_phantom_read(ledger: Ledger, channel) -> None:
    codes(ledger, channel, [channel.transaction(writes(k1=b"1"))])
    scan = TxRWSet()
    scan.namespace("basic").range_queries.append(
        RangeQuery("k", "l", True, [("k1", ledger.state.get("basic", "k1").version)])
    )
    scan.namespace("basic").writes["summary"] = b"1 key"
    insert = channel.transaction(writes(k2=b"2"))
    assert codes(ledger, channel, [insert, channel.transaction(scan)]) == [
        "VALID",
        "PHANTOM_READ_CONFLICT",
    ]


def test_endorsement_policy_failure(ledger: Ledger, channel) -> None:
    only_org1 = channel.transaction(writes(a=b"1"), endorsers=("Org1MSP",))
    assert codes(ledger, channel, [only_org1]) == ["ENDORSEMENT_POLICY_FAILURE"]
    assert ledger.state.get("basic", "a") is None


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


def test_bad_creator_signature_and_txid(ledger: Ledger, channel) -> None:
    forged = channel.transaction(writes(a=b"1"))
    forged.signature = channel.clients["Org2MSP"].sign(forged.payload)
    payload = common_pb2.Payload.FromString(forged.payload)
    header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
    header.tx_id = "0" * 64
    payload.header.channel_header = header.SerializeToString()
    client = channel.clients["Org1MSP"]
    bad_txid = common_pb2.Envelope(payload=payload.SerializeToString())
    bad_txid.signature = client.sign(bad_txid.payload)
    assert codes(ledger, channel, [forged, bad_txid]) == [
        "BAD_CREATOR_SIGNATURE",
        "BAD_PROPOSAL_TXID",
    ]


def test_duplicate_txid_in_block_and_across_blocks(ledger: Ledger, channel) -> None:
    envelope = channel.transaction(writes(a=b"1"))
    assert codes(ledger, channel, [envelope, envelope]) == ["VALID", "DUPLICATE_TXID"]
    assert codes(ledger, channel, [envelope]) == ["DUPLICATE_TXID"]


def test_chaincode_checks(ledger: Ledger, channel) -> None:
    other = TxRWSet()
    other.namespace("basic").writes["a"] = b"1"
    other.namespace("token").writes["b"] = b"2"
    assert codes(
        ledger,
        channel,
        [
            channel.transaction(writes(a=b"1"), chaincode="nosuch"),
            channel.transaction(writes(a=b"1"), version="0.9"),
            channel.transaction(other),
            channel.transaction(writes(a=b"1"), results=b"\xff\xff"),
        ],
    ) == ["INVALID_CHAINCODE", "EXPIRED_CHAINCODE", "ILLEGAL_WRITESET", "BAD_RWSET"]


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
