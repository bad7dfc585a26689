"""Builders for the messages of Fabric's transaction flow after the proposal
(``proto.proposal`` builds that, for Propose):

- ``sign_endorsement`` — Endorse: a peer signs its simulation result;
- ``build_transaction_envelope`` — Assemble & submit: the client wraps the endorsements;
- ``build_block`` — Order: the orderer packs envelopes into a block.

Each builder returns Fabric's own protobuf types, so what it makes is what a Fabric peer
or orderer would accept.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence

from fabric_protos.common import common_pb2
from fabric_protos.peer import (
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf import timestamp_pb2

from proto.blockhash import block_data_hash
from proto.signer import Signer


def header_type_name(value: int) -> str:
    """A ``HeaderType``'s name, or its number when it has none, as Go prints an enum (an
    unknown type in a client's header is input, not a reason to raise ``ValueError``)."""
    try:
        return common_pb2.HeaderType.Name(value)
    except ValueError:
        return str(value)


def _timestamp(now: float | None = None) -> timestamp_pb2.Timestamp:
    now = time.time() if now is None else now
    seconds = int(now)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=int((now - seconds) * 1e9))


def build_channel_header(
    header_type: int,
    channel_id: str,
    tx_id: str = "",
    extension: bytes = b"",
    now: float | None = None,
) -> common_pb2.ChannelHeader:
    return common_pb2.ChannelHeader(
        type=header_type,
        channel_id=channel_id,
        tx_id=tx_id,
        timestamp=_timestamp(now),
        extension=extension,
    )


def proposal_hash(proposal: proposal_pb2.Proposal) -> bytes:
    """What an endorsement binds to: SHA-256 of channel header ‖ signature header ‖ the
    proposal payload without its transient map (Fabric's ``GetProposalHash1``)."""
    header = common_pb2.Header.FromString(proposal.header)
    payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    public = proposal_pb2.ChaincodeProposalPayload(input=payload.input)
    digest = hashlib.sha256()
    digest.update(header.channel_header)
    digest.update(header.signature_header)
    digest.update(public.SerializeToString())
    return digest.digest()


def response_payload(
    proposal: proposal_pb2.Proposal, action: proposal_pb2.ChaincodeAction
) -> proposal_response_pb2.ProposalResponsePayload:
    """What an endorser signs: the proposal's hash and the chaincode's action."""
    return proposal_response_pb2.ProposalResponsePayload(
        proposal_hash=proposal_hash(proposal), extension=action.SerializeToString()
    )


def sign_endorsement(
    signer: Signer, proposal: proposal_pb2.Proposal, action: proposal_pb2.ChaincodeAction
) -> proposal_response_pb2.ProposalResponse:
    """An endorser's signed answer: its signature over the response payload ‖ its identity."""
    payload = response_payload(proposal, action).SerializeToString()
    return proposal_response_pb2.ProposalResponse(
        version=1,
        response=action.response,
        payload=payload,
        endorsement=proposal_response_pb2.Endorsement(
            endorser=signer.creator, signature=signer.sign(payload + signer.creator)
        ),
    )


def build_transaction_payload(
    proposal: proposal_pb2.Proposal,
    responses: Sequence[proposal_response_pb2.ProposalResponse],
) -> common_pb2.Payload:
    """The transaction the client signs: the proposal's header, its public payload and
    the matching endorsements (what a Fabric gateway returns from Endorse).

    The transient map is dropped from the proposal payload: it is private to the
    endorsers and must never reach the ledger.
    """
    if not responses:
        raise ValueError("responses: at least one endorsement is needed")
    response_payload = responses[0].payload
    for response in responses[1:]:
        if response.payload != response_payload:
            raise ValueError("responses: endorsers returned different results")
    header = common_pb2.Header.FromString(proposal.header)
    proposal_payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
    public_payload = proposal_pb2.ChaincodeProposalPayload(input=proposal_payload.input)
    action_payload = transaction_pb2.ChaincodeActionPayload(
        chaincode_proposal_payload=public_payload.SerializeToString(),
        action=transaction_pb2.ChaincodeEndorsedAction(
            proposal_response_payload=response_payload,
            endorsements=[response.endorsement for response in responses],
        ),
    )
    transaction = transaction_pb2.Transaction(
        actions=[
            transaction_pb2.TransactionAction(
                header=header.signature_header, payload=action_payload.SerializeToString()
            )
        ]
    )
    return common_pb2.Payload(header=header, data=transaction.SerializeToString())


def build_transaction_envelope(
    signer: Signer,
    proposal: proposal_pb2.Proposal,
    responses: Sequence[proposal_response_pb2.ProposalResponse],
) -> common_pb2.Envelope:
    """The signed envelope the orderer receives."""
    return sign_payload(signer, build_transaction_payload(proposal, responses))


def sign_payload(signer: Signer, payload: common_pb2.Payload) -> common_pb2.Envelope:
    payload_bytes = payload.SerializeToString()
    return common_pb2.Envelope(payload=payload_bytes, signature=signer.sign(payload_bytes))


def build_block(number: int, previous_hash: bytes, envelopes: Sequence[bytes]) -> common_pb2.Block:
    """A block with Fabric's header and the five (empty) metadata slots, unsigned."""
    data = list(envelopes)
    return common_pb2.Block(
        header=common_pb2.BlockHeader(
            number=number, previous_hash=previous_hash, data_hash=block_data_hash(data)
        ),
        data=common_pb2.BlockData(data=data),
        metadata=common_pb2.BlockMetadata(
            metadata=[b""] * len(common_pb2.BlockMetadataIndex.items())
        ),
    )
