"""Who may change this peer itself (join channels, install chaincode): an admin of the
peer's own organization, checked against the peer's local MSP as Fabric does."""

from __future__ import annotations

from fabric_protos.peer import proposal_pb2

from ca.errors import CaError
from ca.msp import Msp
from peers.endorser import ProposalRefused


def require_local_admin(
    msp: Msp, signed: proposal_pb2.SignedProposal, creator: bytes, action: str
) -> None:
    try:
        identity = msp.deserialize(creator)
        msp.validate(identity)
        msp.verify(identity, signed.proposal_bytes, signed.signature)
    except CaError as exc:
        raise ProposalRefused(f"access denied for [{action}]: {exc}") from None
    if not msp.is_admin(identity):
        raise ProposalRefused(
            f"access denied for [{action}]: {identity.enrollment_id} is not an admin of {msp.mspid}"
        )
