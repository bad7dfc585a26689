"""``parse_envelope`` reads each layer once and keeps a layer that does not decode as the
validation code Fabric's committer gives it."""

from __future__ import annotations

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
)

from ca.signing import SoftwareSigner
from proto.envelope import Invalid, ParsedTx, is_config_block, parse_block, parse_envelope
from proto.messages import build_block, build_transaction_envelope, sign_endorsement
from proto.proposal import build_proposal
from tests.support import tampering
from tests.support.tampering import GARBAGE, PayloadChange, tampered


@pytest.fixture
def envelope(signer: SoftwareSigner) -> common_pb2.Envelope:
    """A well-formed endorser transaction that set an event."""
    proposal, _ = build_proposal(signer, "mychannel", "basic", [b"CreateAsset"])
    event = chaincode_event_pb2.ChaincodeEvent(chaincode_id="basic", event_name="Created")
    action = proposal_pb2.ChaincodeAction(
        events=event.SerializeToString(),
        response=proposal_response_pb2.Response(status=200, payload=b"ok"),
        chaincode_id=chaincode_pb2.ChaincodeID(name="basic", version="1.0"),
    )
    return build_transaction_envelope(
        signer, proposal, [sign_endorsement(signer, proposal, action)]
    )


def _parse(envelope: common_pb2.Envelope, change: PayloadChange | None = None) -> ParsedTx:
    return parse_envelope((tampered(envelope, change) if change else envelope).SerializeToString())


def _code(error: Invalid | None) -> str:
    return "VALID" if error is None else error.code_name


def test_a_well_formed_endorser_transaction_reads_through(envelope: common_pb2.Envelope) -> None:
    tx = _parse(envelope)
    assert tx.error is None and tx.envelope == envelope
    header = common_pb2.ChannelHeader.FromString(
        common_pb2.Payload.FromString(envelope.payload).header.channel_header
    )
    assert tx.tx_id == header.tx_id and len(tx.tx_id) == 64
    assert tx.header_type == common_pb2.ENDORSER_TRANSACTION and not tx.is_config
    assert tx.signature_header is not None and tx.signature_header.creator
    assert tx.extension.chaincode_id.name == "basic"
    action = tx.action.chaincode_action
    assert (action.response.payload, action.chaincode_id.version) == (b"ok", "1.0")
    assert len(tx.action.endorsed.endorsements) == 1
    event = tx.chaincode_event()
    assert event is not None and event.event_name == "Created"


def test_the_endorsed_action_is_decoded_once_and_only_when_asked(
    envelope: common_pb2.Envelope,
) -> None:
    tx = _parse(envelope)
    assert tx._action is None  # validation may reject the transaction before it is needed
    assert tx.action is tx.action


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (b"", "NIL_ENVELOPE", "empty envelope"),
        (GARBAGE, "BAD_PAYLOAD", "envelope does not decode"),
        (
            common_pb2.Envelope(payload=GARBAGE).SerializeToString(),
            "BAD_PAYLOAD",
            "payload does not decode",
        ),
    ],
)
def test_an_envelope_that_does_not_decode(raw: bytes, code: str, reason: str) -> None:
    tx = parse_envelope(raw)
    assert (_code(tx.error), str(tx.error)) == (code, reason)
    assert (tx.tx_id, tx.header_type, tx.chaincode_event()) == ("", None, None)
    with pytest.raises(Invalid) as raised:
        _ = tx.action
    assert raised.value.code_name == code


def _no_signature_header(payload: common_pb2.Payload) -> None:
    payload.header.signature_header = b""


def _garbage_signature_header(payload: common_pb2.Payload) -> None:
    payload.header.signature_header = GARBAGE


def _garbage_channel_header(payload: common_pb2.Payload) -> None:
    payload.header.channel_header = GARBAGE


def _garbage_channel_header_and_no_signature_header(payload: common_pb2.Payload) -> None:
    _garbage_channel_header(payload)
    _no_signature_header(payload)


@pytest.mark.parametrize(
    ("change", "code", "reason", "txid_reported"),
    [
        (_no_signature_header, "BAD_COMMON_HEADER", "payload header is missing a part", True),
        (
            _garbage_signature_header,
            "BAD_COMMON_HEADER",
            "signature header does not decode",
            True,
        ),
        (_garbage_channel_header, "BAD_CHANNEL_HEADER", "channel header does not decode", False),
        (  # a missing part is named before a part that does not decode, as Fabric checks
            _garbage_channel_header_and_no_signature_header,
            "BAD_COMMON_HEADER",
            "payload header is missing a part",
            False,
        ),
    ],
)
def test_headers_that_are_missing_or_do_not_decode(
    envelope: common_pb2.Envelope,
    change: PayloadChange,
    code: str,
    reason: str,
    txid_reported: bool,
) -> None:
    tx = _parse(envelope, change)
    assert (_code(tx.error), str(tx.error)) == (code, reason)
    assert bool(tx.tx_id) == txid_reported  # for an invalid transaction's CommitStatus


def test_a_header_extension_that_does_not_decode(envelope: common_pb2.Envelope) -> None:
    tx = _parse(envelope, tampering.channel_header(tampering.garbage_extension))
    assert tx.error is None and tx.action  # only the extension is bad
    with pytest.raises(Invalid, match="header extension does not decode") as raised:
        _ = tx.extension
    assert raised.value.code_name == "BAD_HEADER_EXTENSION"


@pytest.mark.parametrize(
    ("change", "code", "reason"),
    [
        (tampering.garbage_data, "BAD_PAYLOAD", "tx does not decode"),
        (
            tampering.transaction(tampering.two_actions),
            "NIL_TXACTION",
            "an endorser transaction holds exactly one action",
        ),
        (
            tampering.transaction(lambda tx: tx.ClearField("actions")),
            "NIL_TXACTION",
            "an endorser transaction holds exactly one action",
        ),
        (
            tampering.transaction(tampering.garbage_action),
            "BAD_PAYLOAD",
            "chaincode action payload does not decode",
        ),
        (
            tampering.action_payload(tampering.garbage_response),
            "BAD_RESPONSE_PAYLOAD",
            "proposal response payload does not decode",
        ),
        (
            tampering.response_payload(tampering.garbage_chaincode_action),
            "BAD_RESPONSE_PAYLOAD",
            "chaincode action does not decode",
        ),
    ],
)
def test_an_endorsed_action_that_does_not_decode(
    envelope: common_pb2.Envelope, change: PayloadChange, code: str, reason: str
) -> None:
    tx = _parse(envelope, change)
    assert tx.error is None  # the headers are sound: only asking for the action fails
    with pytest.raises(Invalid) as raised:
        _ = tx.action
    assert (raised.value.code_name, str(raised.value)) == (code, reason)
    with pytest.raises(Invalid) as again:  # kept, and raised the same way to every reader
        _ = tx.action
    assert (again.value.code, str(again.value)) == (raised.value.code, reason)
    assert tx.chaincode_event() is None


def test_parse_block_keeps_block_order_and_finds_config_blocks(
    envelope: common_pb2.Envelope,
) -> None:
    endorser = envelope.SerializeToString()
    txs = parse_block(build_block(1, b"", [endorser, GARBAGE]))
    assert [_code(tx.error) for tx in txs] == ["VALID", "BAD_PAYLOAD"]
    assert txs[0].raw == endorser
    assert not is_config_block(txs)
    config = tampered(
        envelope, tampering.channel_header(lambda h: setattr(h, "type", common_pb2.CONFIG))
    )
    config_txs = parse_block(build_block(2, b"", [config.SerializeToString()]))
    assert config_txs[0].header_type == common_pb2.CONFIG
    assert is_config_block(config_txs) and config_txs[0].chaincode_event() is None
    assert not is_config_block(config_txs * 2)
