"""What the gateway makes of one endorser's answer, as Fabric's gateway reads it
(``internal/pkg/gateway/apiutils.go`` responseStatus): success, the endorser's own
refusal, a chaincode error, or a peer that did not answer — each with the gRPC code the
client gets, the message of its ``ErrorDetail``, and whether another peer may be tried.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import proposal_response_pb2

OK_RANGE = range(200, 400)


@dataclass(frozen=True)
class Answer:
    """One endorser's answer: ``code`` OK with the response, or the failure."""

    mspid: str
    address: str
    code: grpc.StatusCode
    message: str = ""
    response: proposal_response_pb2.ProposalResponse | None = None
    retry: bool = False

    @property
    def ok(self) -> bool:
        return self.code == grpc.StatusCode.OK

    @property
    def detail(self) -> gateway_pb2.ErrorDetail:
        return gateway_pb2.ErrorDetail(
            address=self.address, msp_id=self.mspid, message=self.message
        )


def from_response(
    mspid: str,
    address: str,
    response: proposal_response_pb2.ProposalResponse,
    error: str | None = None,
) -> Answer:
    """A response (and the error a local endorser returns beside it): the endorser's
    refusal before simulation is FAILED_PRECONDITION; a 500 without payload is the peer's
    own (ABORTED, another peer may do better); any other error status is the chaincode's
    (UNKNOWN)."""
    if error is not None:
        return Answer(mspid, address, grpc.StatusCode.FAILED_PRECONDITION, error)
    status, message = response.response.status, response.response.message
    if status in OK_RANGE:
        return Answer(mspid, address, grpc.StatusCode.OK, response=response)
    if status == 500 and not response.payload:
        return Answer(mspid, address, grpc.StatusCode.ABORTED, message, retry=True)
    return Answer(
        mspid, address, grpc.StatusCode.UNKNOWN, f"chaincode response {status}, {message}"
    )


def unreachable(mspid: str, address: str, message: str) -> Answer:
    """A peer that answered no response at all: try another."""
    return Answer(mspid, address, grpc.StatusCode.UNAVAILABLE, message, retry=True)


def go_status_text(error: grpc.aio.AioRpcError) -> str:
    """A gRPC error as Go's ``status.Error`` prints it, which is what Fabric's gateway
    puts in the detail of a remote endorser's failure."""
    name = "".join(part.capitalize() for part in error.code().name.split("_"))
    return f"rpc error: code = {name} desc = {error.details()}"
