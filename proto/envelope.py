"""One reading of a transaction envelope, shared by everyone who reads it.

An envelope is bytes nested in bytes: Envelope → Payload → ChannelHeader and
SignatureHeader, and for an endorser transaction Transaction → ChaincodeActionPayload →
ChaincodeEndorsedAction → ProposalResponsePayload → ChaincodeAction (read/write set,
events, response). The peer's validation, its commit, its signature prefetch, Deliver,
the gateway's chaincode events, the orderer's chain and the MQTT bridge each need some
of those layers; ``parse_block`` reads a block's envelopes once and they share the
result instead of each decoding the same bytes again.

A layer that does not decode is not an exception here but the ``TxValidationCode``
Fabric's committer gives it, kept as an ``Invalid`` on the ``ParsedTx``: validation
turns it into the transaction's code, while readers that only want what decodes (events,
Deliver) skip what does not. The headers are decoded at once (every reader needs the
txid and type); the endorsed action and the header extension only when first asked for,
and then once, so a transaction validation rejects early (bad signature, duplicate txid)
never pays for them, and the same failure always gets the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from fabric_protos.common import common_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf.message import DecodeError, Message

from proto.errors import ProtoError

Code = transaction_pb2.TxValidationCode
"""Fabric's validation codes (``Code.MVCC_READ_CONFLICT``…); the one alias, imported elsewhere."""
M = TypeVar("M", bound=Message)
T = TypeVar("T")


class Invalid(ProtoError):
    """A transaction's validation code other than VALID, with why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code

    @property
    def code_name(self) -> str:
        return Code.Name(self.code)

    def again(self) -> Invalid:
        """A fresh copy to raise: a kept verdict is raised to every reader that asks, and
        raising one exception object again and again would grow its traceback."""
        return Invalid(self.code, str(self))


def decode(message_type: type[M], data: bytes, code: int, what: str) -> M:
    """``data`` as ``message_type``, or ``Invalid(code)`` naming ``what`` did not decode."""
    try:
        return message_type.FromString(data)
    except DecodeError:
        raise Invalid(code, f"{what} does not decode") from None


@dataclass(frozen=True)
class EndorsedAction:
    """The one action of an endorser transaction: what the endorsers signed, and the
    chaincode's outcome inside it."""

    endorsed: transaction_pb2.ChaincodeEndorsedAction
    """``proposal_response_payload`` (the signed bytes) and the ``endorsements``."""
    chaincode_action: proposal_pb2.ChaincodeAction
    """``results`` (the read/write set), ``events``, ``response``, ``chaincode_id``."""


def read_endorsed_action(payload_data: bytes) -> EndorsedAction:
    """The endorsed action in a Payload's ``data``; ``Invalid`` with the code Fabric gives
    the first layer that does not decode."""
    transaction = decode(transaction_pb2.Transaction, payload_data, Code.BAD_PAYLOAD, "tx")
    if len(transaction.actions) != 1:
        raise Invalid(Code.NIL_TXACTION, "an endorser transaction holds exactly one action")
    action = decode(
        transaction_pb2.ChaincodeActionPayload,
        transaction.actions[0].payload,
        Code.BAD_PAYLOAD,
        "chaincode action payload",
    )
    response_payload = decode(
        proposal_response_pb2.ProposalResponsePayload,
        action.action.proposal_response_payload,
        Code.BAD_RESPONSE_PAYLOAD,
        "proposal response payload",
    )
    chaincode_action = decode(
        proposal_pb2.ChaincodeAction,
        response_payload.extension,
        Code.BAD_RESPONSE_PAYLOAD,
        "chaincode action",
    )
    return EndorsedAction(action.action, chaincode_action)


class ParsedTx:
    """One envelope, decoded as far as it decodes.

    ``envelope``, ``payload``, ``channel_header`` and ``signature_header`` are None where
    that layer did not decode; ``error`` is the code of the first header check that
    failed, in the order Fabric's committer checks them (None: the headers are sound).
    """

    __slots__ = (
        "_action",
        "_extension",
        "channel_header",
        "envelope",
        "error",
        "payload",
        "raw",
        "signature_header",
    )

    def __init__(
        self,
        raw: bytes,
        envelope: common_pb2.Envelope | None = None,
        payload: common_pb2.Payload | None = None,
        error: Invalid | None = None,
    ) -> None:
        self.raw = raw
        self.envelope = envelope
        self.payload = payload
        self.channel_header: common_pb2.ChannelHeader | None = None
        self.signature_header: common_pb2.SignatureHeader | None = None
        self.error = error
        self._action: EndorsedAction | Invalid | None = None
        self._extension: proposal_pb2.ChaincodeHeaderExtension | Invalid | None = None

    @property
    def tx_id(self) -> str:
        """The txid its channel header claims ("" if that does not decode); reported even
        for an invalid transaction, so its CommitStatus can be found."""
        return "" if self.channel_header is None else self.channel_header.tx_id

    @property
    def header_type(self) -> int | None:
        return None if self.channel_header is None else self.channel_header.type

    @property
    def is_config(self) -> bool:
        return self.header_type == common_pb2.CONFIG

    @property
    def action(self) -> EndorsedAction:
        """The endorsed action (decoded on first use); ``Invalid`` if it does not decode."""
        if self._action is None:
            self._action = _attempt(self._read_action)
        return _unwrap(self._action)

    @property
    def extension(self) -> proposal_pb2.ChaincodeHeaderExtension:
        """The channel header's chaincode extension (which chaincode was invoked);
        ``Invalid`` (``BAD_HEADER_EXTENSION``) if it does not decode."""
        if self._extension is None:
            self._extension = _attempt(self._read_extension)
        return _unwrap(self._extension)

    def _read_action(self) -> EndorsedAction:
        if self.payload is None:  # then ``error`` says which outer layer failed
            raise self.error or Invalid(Code.BAD_PAYLOAD, "payload does not decode")
        return read_endorsed_action(self.payload.data)

    def _read_extension(self) -> proposal_pb2.ChaincodeHeaderExtension:
        if self.channel_header is None:
            raise Invalid(Code.BAD_CHANNEL_HEADER, "channel header does not decode")
        return decode(
            proposal_pb2.ChaincodeHeaderExtension,
            self.channel_header.extension,
            Code.BAD_HEADER_EXTENSION,
            "header extension",
        )

    @property
    def chaincode_name(self) -> str:
        """The invoked chaincode's name; "" for config and undecodable transactions."""
        if self.header_type != common_pb2.ENDORSER_TRANSACTION:
            return ""
        try:
            return self.extension.chaincode_id.name
        except Invalid:
            return ""

    def chaincode_event(self) -> chaincode_event_pb2.ChaincodeEvent | None:
        """The event an endorser transaction set, if any and if it decodes."""
        if self.header_type != common_pb2.ENDORSER_TRANSACTION:
            return None
        try:
            events = self.action.chaincode_action.events
            return chaincode_event_pb2.ChaincodeEvent.FromString(events) if events else None
        except (Invalid, DecodeError):
            return None


def _attempt(read: Callable[[], T]) -> T | Invalid:
    try:
        return read()
    except Invalid as invalid:
        return invalid


def _unwrap(kept: T | Invalid) -> T:
    """A layer decoded earlier, or the verdict on it raised afresh."""
    if isinstance(kept, Invalid):
        raise kept.again()
    return kept


def _quietly(message_type: type[M], data: bytes) -> M | None:
    try:
        return message_type.FromString(data)
    except DecodeError:
        return None


def parse_envelope(raw: bytes) -> ParsedTx:
    """Decode an envelope and its headers; never raises (see ``ParsedTx.error``)."""
    if not raw:
        return ParsedTx(raw, error=Invalid(Code.NIL_ENVELOPE, "empty envelope"))
    try:
        envelope = decode(common_pb2.Envelope, raw, Code.BAD_PAYLOAD, "envelope")
        payload = decode(common_pb2.Payload, envelope.payload, Code.BAD_PAYLOAD, "payload")
    except Invalid as invalid:
        return ParsedTx(raw, error=invalid)
    parsed = ParsedTx(raw, envelope, payload)
    parts = payload.header
    # Both headers are decoded even when the check below fails on the other one: the
    # txid is still reported, and readers of what decodes still find the creator.
    parsed.channel_header = _quietly(common_pb2.ChannelHeader, parts.channel_header)
    parsed.signature_header = _quietly(common_pb2.SignatureHeader, parts.signature_header)
    if not parts.channel_header or not parts.signature_header:
        parsed.error = Invalid(Code.BAD_COMMON_HEADER, "payload header is missing a part")
    elif parsed.channel_header is None:
        parsed.error = Invalid(Code.BAD_CHANNEL_HEADER, "channel header does not decode")
    elif parsed.signature_header is None:
        parsed.error = Invalid(Code.BAD_COMMON_HEADER, "signature header does not decode")
    return parsed


def parse_block(block: common_pb2.Block) -> list[ParsedTx]:
    """Every envelope of a block, in block order."""
    return [parse_envelope(raw) for raw in block.data.data]


def is_config_block(txs: Sequence[ParsedTx]) -> bool:
    """A config block holds exactly one envelope, a CONFIG transaction."""
    return len(txs) == 1 and txs[0].is_config
