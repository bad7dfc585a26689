"""Envelopes with one layer changed, re-signed so that only that layer is wrong: how a test
reaches each validation code no honest client would cause."""

from __future__ import annotations

from collections.abc import Callable

from fabric_protos.common import common_pb2
from fabric_protos.peer import proposal_response_pb2, transaction_pb2

from proto.messages import sign_payload
from proto.signer import Signer

GARBAGE = b"\xff\xff"
"""Bytes no protobuf message decodes from (field 0x1f, wire type 7)."""

PayloadChange = Callable[[common_pb2.Payload], None]


def tampered(
    envelope: common_pb2.Envelope, change: PayloadChange, signer: Signer | None = None
) -> common_pb2.Envelope:
    """``envelope`` with ``change`` made to its payload; signed again by ``signer`` (the
    creator, so the signature still verifies), or left unsigned."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    change(payload)
    if signer is None:
        return common_pb2.Envelope(payload=payload.SerializeToString())
    return sign_payload(signer, payload)


def channel_header(change: Callable[[common_pb2.ChannelHeader], None]) -> PayloadChange:
    def apply(payload: common_pb2.Payload) -> None:
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        change(header)
        payload.header.channel_header = header.SerializeToString()

    return apply


def signature_header(change: Callable[[common_pb2.SignatureHeader], None]) -> PayloadChange:
    def apply(payload: common_pb2.Payload) -> None:
        header = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
        change(header)
        payload.header.signature_header = header.SerializeToString()

    return apply


def transaction(change: Callable[[transaction_pb2.Transaction], None]) -> PayloadChange:
    def apply(payload: common_pb2.Payload) -> None:
        tx = transaction_pb2.Transaction.FromString(payload.data)
        change(tx)
        payload.data = tx.SerializeToString()

    return apply


def action_payload(
    change: Callable[[transaction_pb2.ChaincodeActionPayload], None],
) -> PayloadChange:
    def apply(tx: transaction_pb2.Transaction) -> None:
        action = transaction_pb2.ChaincodeActionPayload.FromString(tx.actions[0].payload)
        change(action)
        tx.actions[0].payload = action.SerializeToString()

    return transaction(apply)


def response_payload(
    change: Callable[[proposal_response_pb2.ProposalResponsePayload], None],
) -> PayloadChange:
    def apply(action: transaction_pb2.ChaincodeActionPayload) -> None:
        response = proposal_response_pb2.ProposalResponsePayload.FromString(
            action.action.proposal_response_payload
        )
        change(response)
        action.action.proposal_response_payload = response.SerializeToString()

    return action_payload(apply)


def garbage_data(payload: common_pb2.Payload) -> None:
    payload.data = GARBAGE


def two_actions(tx: transaction_pb2.Transaction) -> None:
    tx.actions.append(tx.actions[0])


def garbage_action(tx: transaction_pb2.Transaction) -> None:
    tx.actions[0].payload = GARBAGE


def garbage_response(action: transaction_pb2.ChaincodeActionPayload) -> None:
    action.action.proposal_response_payload = GARBAGE


def garbage_chaincode_action(response: proposal_response_pb2.ProposalResponsePayload) -> None:
    response.extension = GARBAGE


def garbage_extension(header: common_pb2.ChannelHeader) -> None:
    header.extension = GARBAGE
