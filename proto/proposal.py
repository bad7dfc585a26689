"""Propose (flow step 1): the client's signed chaincode proposal.

A client SDK — ``network.gateway_client``, the chaincode test harness, or any Fabric SDK
— builds a ``Proposal`` naming the channel, the chaincode and its arguments, signs it,
and sends the ``SignedProposal`` to ``Gateway.Endorse`` / ``Evaluate``. The txid is not
chosen but derived (``proto.txid``), so the proposal and the transaction it becomes are
bound to the signer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2

from proto.messages import build_channel_header
from proto.signer import Signer
from proto.txid import compute_txid, new_nonce


def build_proposal(
    signer: Signer,
    channel_id: str,
    chaincode: str,
    args: Sequence[bytes],
    transient: Mapping[str, bytes] | None = None,
    nonce: bytes | None = None,
    now: float | None = None,
) -> tuple[proposal_pb2.Proposal, str]:
    """An unsigned chaincode proposal and its txid (hex SHA-256 of nonce ‖ creator)."""
    nonce = new_nonce() if nonce is None else nonce
    tx_id = compute_txid(nonce, signer.creator)
    extension = proposal_pb2.ChaincodeHeaderExtension(
        chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode)
    )
    channel_header = build_channel_header(
        common_pb2.ENDORSER_TRANSACTION,
        channel_id,
        tx_id,
        extension.SerializeToString(),
        now,
    )
    signature_header = common_pb2.SignatureHeader(creator=signer.creator, nonce=nonce)
    header = common_pb2.Header(
        channel_header=channel_header.SerializeToString(),
        signature_header=signature_header.SerializeToString(),
    )
    invocation = chaincode_pb2.ChaincodeInvocationSpec(
        chaincode_spec=chaincode_pb2.ChaincodeSpec(
            type=chaincode_pb2.ChaincodeSpec.GOLANG,
            chaincode_id=chaincode_pb2.ChaincodeID(name=chaincode),
            input=chaincode_pb2.ChaincodeInput(args=list(args)),
        )
    )
    payload = proposal_pb2.ChaincodeProposalPayload(
        input=invocation.SerializeToString(), TransientMap=dict(transient or {})
    )
    proposal = proposal_pb2.Proposal(
        header=header.SerializeToString(), payload=payload.SerializeToString()
    )
    return proposal, tx_id


def sign_proposal(signer: Signer, proposal: proposal_pb2.Proposal) -> proposal_pb2.SignedProposal:
    proposal_bytes = proposal.SerializeToString()
    return proposal_pb2.SignedProposal(
        proposal_bytes=proposal_bytes, signature=signer.sign(proposal_bytes)
    )


@dataclass(frozen=True)
class Proposed:
    """A proposal ready to send: what the gateway endorses (``signed``), the proposal the
    endorsements will bind to, and the txid to wait on."""

    proposal: proposal_pb2.Proposal
    signed: proposal_pb2.SignedProposal
    tx_id: str


def propose(
    signer: Signer,
    channel_id: str,
    chaincode: str,
    args: Sequence[str | bytes],
    transient: Mapping[str, bytes] | None = None,
    now: float | None = None,
) -> Proposed:
    """Build and sign a chaincode proposal; text arguments are sent as UTF-8, as every
    Fabric SDK sends them."""
    encoded = [arg.encode() if isinstance(arg, str) else arg for arg in args]
    proposal, tx_id = build_proposal(signer, channel_id, chaincode, encoded, transient, now=now)
    return Proposed(proposal, sign_proposal(signer, proposal), tx_id)
