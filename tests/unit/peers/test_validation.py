"""``BlockValidator`` gives each transaction the code Fabric's committer gives it, in
Fabric's order of checks, and builds the world-state update of the valid ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2

from ca.channelconfig import ChannelConfig
from chaincode.rwset import RangeQuery, TxRWSet
from chaincode.state import Version
from peers.lifecycle import read_definition
from peers.validation import BlockValidator, TxVerdict, lifecycle_policy_path
from peers.worldstate import BlockUpdate, WorldState
from proto.envelope import parse_block, parse_envelope
from tests.support import tampering
from tests.support.channel import ChannelFixture, define
from tests.support.tampering import GARBAGE, PayloadChange, tampered


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> ChannelFixture:
    return ChannelFixture(tmp_path_factory.mktemp("channel"))


@pytest.fixture
def state(tmp_path: Path) -> Iterator[WorldState]:
    state = WorldState(tmp_path / "state")
    state.commit_block(BlockUpdate(0))  # the genesis block
    define(state)
    yield state
    state.close()


@pytest.fixture
def validator(channel: ChannelFixture, state: WorldState) -> BlockValidator:
    config = ChannelConfig.from_block(channel.genesis)
    return BlockValidator(config, state, lambda name: read_definition(state, name))


def writes(**values: bytes | None) -> TxRWSet:
    rwset = TxRWSet()
    rwset.namespace("basic").writes.update(values)
    return rwset


Envelopes = list[common_pb2.Envelope | bytes]


def validate(
    validator: BlockValidator, envelopes: Envelopes
) -> tuple[list[TxVerdict], BlockUpdate]:
    """Block 1 holding ``envelopes`` (bytes: as they are, however broken)."""
    raw = [e if isinstance(e, bytes) else e.SerializeToString() for e in envelopes]
    block = common_pb2.Block(data=common_pb2.BlockData(data=raw))
    return validator.validate_block(1, parse_block(block))


def codes(validator: BlockValidator, envelopes: Envelopes) -> list[str]:
    return [v.code_name for v in validate(validator, envelopes)[0]]


def resigned(channel: ChannelFixture, change: PayloadChange) -> common_pb2.Envelope:
    """A transaction its creator signed after ``change``: only that change is wrong."""
    return tampered(channel.transaction(writes(a=b"1")), change, channel.clients["Org1MSP"])


# -- structure -----------------------------------------------------------------------------


def _no_signature_header(payload: common_pb2.Payload) -> None:
    payload.header.signature_header = b""


def _garbage_channel_header(payload: common_pb2.Payload) -> None:
    payload.header.channel_header = GARBAGE


def _other_channel(header: common_pb2.ChannelHeader) -> None:
    header.channel_id = "otherchannel"


def _message_type(header: common_pb2.ChannelHeader) -> None:
    header.type = common_pb2.MESSAGE


def _no_nonce(header: common_pb2.SignatureHeader) -> None:
    header.nonce = b""


def test_structure_codes(validator: BlockValidator, channel: ChannelFixture) -> None:
    assert codes(
        validator,
        [
            b"",
            GARBAGE,
            common_pb2.Envelope(payload=GARBAGE),
            resigned(channel, _no_signature_header),
            resigned(channel, _garbage_channel_header),
            resigned(channel, tampering.channel_header(_other_channel)),
            resigned(channel, tampering.channel_header(_message_type)),
            resigned(channel, tampering.signature_header(_no_nonce)),
        ],
    ) == [
        "NIL_ENVELOPE",
        "BAD_PAYLOAD",
        "BAD_PAYLOAD",
        "BAD_COMMON_HEADER",
        "BAD_CHANNEL_HEADER",
        "TARGET_CHAIN_NOT_FOUND",
        "UNKNOWN_TX_TYPE",
        "BAD_COMMON_HEADER",
    ]


def test_a_config_transaction_in_a_normal_block_is_valid_and_writes_nothing(
    validator: BlockValidator, channel: ChannelFixture
) -> None:
    config = resigned(
        channel, tampering.channel_header(lambda h: setattr(h, "type", common_pb2.CONFIG))
    )
    verdicts, update = validate(validator, [config])
    assert [v.code_name for v in verdicts] == ["VALID"]
    assert update.transactions == [(verdicts[0].tx_id, 0)] and update.writes == []


# -- creator ---------------------------------------------------------------------------------


def test_bad_creator_signature_and_txid(validator: BlockValidator, channel: ChannelFixture) -> None:
    forged = channel.transaction(writes(a=b"1"))
    forged.signature = channel.clients["Org2MSP"].sign(forged.payload)
    bad_txid = resigned(channel, tampering.channel_header(lambda h: setattr(h, "tx_id", "0" * 64)))
    assert codes(validator, [forged, bad_txid]) == [
        "BAD_CREATOR_SIGNATURE",
        "BAD_PROPOSAL_TXID",
    ]


def test_duplicate_txid_in_the_block_and_in_committed_state(
    validator: BlockValidator, channel: ChannelFixture, state: WorldState
) -> None:
    first, committed = channel.transaction(writes(a=b"1")), channel.transaction(writes(b=b"2"))
    committed_id = parse_envelope(committed.SerializeToString()).tx_id
    state.commit_block(BlockUpdate(1, transactions=[(committed_id, 0)]))
    assert codes(validator, [first, first, committed]) == [
        "VALID",
        "DUPLICATE_TXID",
        "DUPLICATE_TXID",
    ]


def test_an_invalid_transaction_keeps_its_txid_and_blocks_a_later_duplicate(
    validator: BlockValidator, channel: ChannelFixture
) -> None:
    """Its txid is reported for CommitStatus, and a replay of it later in the block is a
    duplicate even though the first one failed."""
    failing = channel.transaction(writes(a=b"1"), endorsers=("Org1MSP",))
    verdicts, _ = validate(validator, [failing, failing])
    assert [v.code_name for v in verdicts] == ["ENDORSEMENT_POLICY_FAILURE", "DUPLICATE_TXID"]
    assert verdicts[0].tx_id and verdicts[0].tx_id == verdicts[1].tx_id
    assert "do not satisfy" in verdicts[0].reason


# -- endorsed action --------------------------------------------------------------------------


def test_endorsed_action_codes(validator: BlockValidator, channel: ChannelFixture) -> None:
    assert codes(
        validator,
        [
            resigned(channel, tampering.garbage_data),
            resigned(channel, tampering.transaction(tampering.two_actions)),
            resigned(channel, tampering.transaction(tampering.garbage_action)),
            resigned(channel, tampering.action_payload(tampering.garbage_response)),
            resigned(channel, tampering.response_payload(tampering.garbage_chaincode_action)),
            resigned(channel, tampering.channel_header(tampering.garbage_extension)),
        ],
    ) == [
        "BAD_PAYLOAD",
        "NIL_TXACTION",
        "BAD_PAYLOAD",
        "BAD_RESPONSE_PAYLOAD",
        "BAD_RESPONSE_PAYLOAD",
        "BAD_HEADER_EXTENSION",
    ]


def test_chaincode_checks(validator: BlockValidator, channel: ChannelFixture) -> None:
    other = TxRWSet()
    other.namespace("basic").writes["a"] = b"1"
    other.namespace("token").writes["b"] = b"2"
    assert codes(
        validator,
        [
            channel.transaction(writes(a=b"1"), chaincode="nosuch"),
            channel.transaction(other),
            channel.transaction(writes(a=b"1"), results=GARBAGE),
            channel.transaction(writes(a=b"1"), endorsers=("Org1MSP",)),
        ],
    ) == [
        "INVALID_CHAINCODE",
        "ILLEGAL_WRITESET",
        "BAD_RWSET",
        "ENDORSEMENT_POLICY_FAILURE",
    ]


def test_an_earlier_check_decides_the_code(
    validator: BlockValidator, channel: ChannelFixture
) -> None:
    """A transaction wrong in two ways gets the code of the check Fabric makes first."""
    forged_and_garbage = tampered(
        channel.transaction(writes(a=b"1")), tampering.garbage_data, channel.clients["Org2MSP"]
    )

    def other_channel_and_no_nonce(payload: common_pb2.Payload) -> None:
        tampering.channel_header(_other_channel)(payload)
        tampering.signature_header(_no_nonce)(payload)

    wrong_channel_no_nonce = resigned(channel, other_channel_and_no_nonce)
    assert codes(validator, [forged_and_garbage, wrong_channel_no_nonce]) == [
        "BAD_CREATOR_SIGNATURE",
        "TARGET_CHAIN_NOT_FOUND",
    ]


def test_lifecycle_approvals_need_only_the_approving_org() -> None:
    assert lifecycle_policy_path(["approvals/basic/1/Org1MSP"]) == (
        "/Channel/Application/Org1MSP/Endorsement"
    )
    assert (
        lifecycle_policy_path(["namespaces/basic"]) == "/Channel/Application/LifecycleEndorsement"
    )


# -- MVCC, and the update ---------------------------------------------------------------------


def test_mvcc_sees_the_block_s_earlier_valid_writes_only(
    validator: BlockValidator, channel: ChannelFixture
) -> None:
    reads_a = writes(b=b"2")
    reads_a.namespace("basic").reads["a"] = None  # read while absent
    scan = writes(summary=b"0 keys")
    scan.namespace("basic").range_queries.append(RangeQuery("a", "b", True, []))
    failing_write = channel.transaction(writes(c=b"3"), endorsers=("Org1MSP",))
    reads_c = writes(d=b"4")
    reads_c.namespace("basic").reads["c"] = None  # c was written only by an invalid tx
    verdicts, update = validate(
        validator,
        [
            channel.transaction(writes(a=b"1")),
            channel.transaction(reads_a),
            channel.transaction(scan),
            failing_write,
            channel.transaction(reads_c),
        ],
    )
    assert [v.code_name for v in verdicts] == [
        "VALID",
        "MVCC_READ_CONFLICT",
        "PHANTOM_READ_CONFLICT",
        "ENDORSEMENT_POLICY_FAILURE",
        "VALID",
    ]
    assert update.number == 1
    assert update.transactions == [(v.tx_id, v.code) for v in verdicts]
    assert [(position, tx_id) for position, tx_id, _ in update.writes] == [
        (Version(1, 0), verdicts[0].tx_id),
        (Version(1, 4), verdicts[4].tx_id),
    ]


def test_a_key_whose_metadata_an_earlier_transaction_wrote_is_not_writable_in_the_block(
    validator: BlockValidator, channel: ChannelFixture
) -> None:
    """Fabric's ValidationParameterUpdatedError: the later write was endorsed under a
    policy the earlier one may have replaced; public keys and private keys (by hash)."""
    sealed = TxRWSet()
    sealed.namespace("basic").metadata_writes["a"] = {"VALIDATION_PARAMETER": b"p"}
    sealed.namespace("basic").collection("c").metadata_writes["s"] = {"k": b"v"}
    public_later = writes(a=b"2")
    private_later = TxRWSet()
    private_later.namespace("basic").collection("c").writes["s"] = b"x"
    other = writes(b=b"3")
    envelopes = [channel.transaction(r) for r in (public_later, sealed, public_later)]
    envelopes += [channel.transaction(r) for r in (private_later, other)]
    assert codes(validator, envelopes) == [
        "VALID",  # before the metadata write: unaffected
        "VALID",
        "ENDORSEMENT_POLICY_FAILURE",
        "ENDORSEMENT_POLICY_FAILURE",
        "VALID",
    ]
