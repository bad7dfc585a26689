"""Fabric's Gateway service (``gateway.Gateway``), the one a client SDK talks to.

- ``Evaluate`` runs a proposal on one peer (this one, or one of a requested org) and
  returns the chaincode's response; nothing is ordered.
- ``Endorse`` plans which organizations must endorse (step 2), gathers their
  endorsements concurrently (this peer in-process, others over ``Endorser``), checks that
  they agree, and returns the unsigned transaction for the client to sign (step 4).
- ``Submit`` broadcasts the signed transaction to the ordering service and returns once
  the orderer answers SUCCESS.
- ``CommitStatus`` waits until this peer has committed the transaction and returns its
  validation code; ``ChaincodeEvents`` streams a chaincode's events from any block.

Errors are gRPC statuses carrying ``gateway.ErrorDetail {address, msp_id, message}`` per
failing node in the status details, as Fabric's gateway sends them, so the Node client
raises ``EndorseError`` / ``SubmitError`` / ``CommitStatusError`` with those details.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.msp import identities_pb2
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    peer_pb2_grpc,
    proposal_pb2,
    proposal_response_pb2,
)
from google.protobuf import any_pb2
from google.rpc import status_pb2
from grpc_status import rpc_status

from ca.errors import CaError
from peers.broadcaster import Broadcaster
from peers.channel import OrdererEndpoint, PeerChannel
from peers.endorser import Endorser, ProposalRefused, unpack_proposal
from peers.errors import PeerError
from peers.lifecycle import LIFECYCLE_NAMESPACE, read_definition
from peers.lifecycle_chaincode import LIFECYCLE_POLICY
from peers.planning import NoEndorsementPlan, plan
from peers.tracestore import Tracer, no_trace
from proto.envelope import Code, parse_block
from proto.messages import build_transaction_payload
from proto.seek import FOREVER
from proto.signer import SignedData
from proto.tracing import Step

log = logging.getLogger(__name__)
UNREACHABLE_SECONDS = 5.0
"""How long plans avoid an organization none of whose peers answered."""
_ENDORSE_FAILED = "failed to endorse transaction, see attached details for more info"


@dataclass(frozen=True)
class RemotePeer:
    """A peer of another organization this gateway may ask to endorse."""

    mspid: str
    address: str
    channel: grpc.aio.Channel

    def endorser(self) -> peer_pb2_grpc.EndorserStub:
        return peer_pb2_grpc.EndorserStub(self.channel)


class GatewayError(PeerError):
    """A Gateway call refused: the gRPC status, message and per-peer ``ErrorDetail``s
    the client receives, as Fabric's gateway sends them."""

    def __init__(
        self, code: grpc.StatusCode, message: str, details: Sequence[gateway_pb2.ErrorDetail] = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = list(details)


async def _abort(context: grpc.aio.ServicerContext, error: GatewayError) -> NoReturn:
    packed = []
    for detail in error.details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    status = status_pb2.Status(code=error.code.value[0], message=str(error), details=packed)
    await context.abort_with_status(rpc_status.to_status(status))
    raise AssertionError("unreachable")  # abort raises


class Gateway(gateway_pb2_grpc.GatewayServicer):
    def __init__(
        self,
        mspid: str,
        address: str,
        endorser: Endorser,
        channels: Callable[[str], PeerChannel | None],
        peers: Callable[[], Sequence[RemotePeer]],
        orderers: Callable[[], Sequence[OrdererEndpoint]],
        trace: Tracer = no_trace,
    ) -> None:
        self.mspid = mspid
        self.address = address
        self.endorser = endorser
        self._channels = channels
        self._peers = peers
        self._orderers = orderers
        self._broadcasters: dict[str, Broadcaster] = {}
        self._next_orderer = -1
        self._unreachable: dict[str, float] = {}  # mspid → monotonic time to avoid it until
        self.trace = trace

    def _tracer(self, tx_id: str, channel_id: str) -> Callable[..., None]:
        return lambda step, **details: self.trace(step, tx_id, channel_id, **details)

    def _channel(self, channel_id: str) -> PeerChannel:
        channel = self._channels(channel_id)
        if channel is None or channel.ledger.config is None:
            raise GatewayError(grpc.StatusCode.NOT_FOUND, f"channel '{channel_id}' not found")
        return channel

    # -- endorsing ------------------------------------------------------------------------

    async def _ask(
        self, mspid: str, signed: proposal_pb2.SignedProposal
    ) -> tuple[str, str, proposal_response_pb2.ProposalResponse | str]:
        """One endorsement: (msp, address, response or the error text)."""
        if mspid == self.mspid:
            return mspid, self.address, await self.endorser.process_proposal(signed)
        peers = [p for p in self._peers() if p.mspid == mspid]
        if not peers:
            return mspid, "", f"no peer of {mspid} is known to this gateway"
        last_error = ""
        for peer in peers:
            try:
                response = await peer.endorser().ProcessProposal(signed, timeout=30)
                return mspid, peer.address, response
            except grpc.aio.AioRpcError as exc:
                last_error = f"{exc.code().name}: {exc.details()}"
        return mspid, peers[-1].address, last_error

    async def _endorse(
        self, signed: proposal_pb2.SignedProposal, requested: Sequence[str]
    ) -> tuple[list[str], list[proposal_response_pb2.ProposalResponse]]:
        """Endorse by a plan: (the organizations, their responses). An organization none
        of whose peers answers is planned around — another set of organizations that
        satisfies the policy, as Fabric's gateway tries its next layout — and avoided for
        a few seconds after. A chaincode's refusal is not retried elsewhere: the same
        chaincode on the same state refuses everywhere. Organizations the client named
        are not replaced."""
        excluded = self._recently_unreachable()
        gathered: dict[str, proposal_response_pb2.ProposalResponse] = {}
        unreachable: list[gateway_pb2.ErrorDetail] = []
        while True:
            organizations = self._plan_around(signed, requested, excluded, unreachable)
            asked = [m for m in organizations if m not in gathered]
            answers = await asyncio.gather(*(self._ask(m, signed) for m in asked))
            refused = []
            for mspid, address, answer in answers:
                if isinstance(answer, str):
                    unreachable.append(
                        gateway_pb2.ErrorDetail(address=address, msp_id=mspid, message=answer)
                    )
                    excluded.add(mspid)
                    self._unreachable[mspid] = time.monotonic() + UNREACHABLE_SECONDS
                elif answer.response.status != 200 or not answer.endorsement.signature:
                    message = (
                        f"chaincode response {answer.response.status}, {answer.response.message}"
                    )
                    refused.append(
                        gateway_pb2.ErrorDetail(address=address, msp_id=mspid, message=message)
                    )
                else:
                    gathered[mspid] = answer
            if refused or (unreachable and requested):
                raise GatewayError(grpc.StatusCode.ABORTED, _ENDORSE_FAILED, unreachable + refused)
            if all(m in gathered for m in organizations):
                break
        responses = [gathered[m] for m in organizations]
        if len({r.payload for r in responses}) > 1:
            raise GatewayError(
                grpc.StatusCode.ABORTED,
                "ProposalResponsePayloads do not match; the endorsing peers' world states differ",
                [
                    gateway_pb2.ErrorDetail(address=a, msp_id=m, message="response differs")
                    for m, a, _ in answers
                ],
            )
        return organizations, responses

    def _recently_unreachable(self) -> set[str]:
        now = time.monotonic()
        return {mspid for mspid, until in self._unreachable.items() if until > now}

    def _plan_around(
        self,
        signed: proposal_pb2.SignedProposal,
        requested: Sequence[str],
        excluded: set[str],
        unreachable: list[gateway_pb2.ErrorDetail],
    ) -> list[str]:
        """A plan without the ``excluded`` organizations; when none is left, the
        endorsement failed (with the unreachable ones as details), unless the exclusions
        were only remembered from earlier transactions: then they are tried again."""
        try:
            return self._plan(signed, requested, excluded)
        except GatewayError:
            if unreachable:
                raise GatewayError(grpc.StatusCode.ABORTED, _ENDORSE_FAILED, unreachable) from None
            if not excluded:
                raise
            excluded.clear()
            return self._plan(signed, requested, excluded)

    def _plan(
        self,
        signed: proposal_pb2.SignedProposal,
        requested: Sequence[str],
        excluded: set[str] | frozenset[str] = frozenset(),
    ) -> list[str]:
        try:
            unpacked = unpack_proposal(signed)
        except ProposalRefused as exc:
            raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, str(exc)) from None
        channel = self._channel(unpacked.channel_header.channel_id)
        if requested:
            return list(dict.fromkeys(requested))
        if unpacked.chaincode == LIFECYCLE_NAMESPACE:
            policy = LIFECYCLE_POLICY
        else:
            definition = read_definition(channel.ledger.state, unpacked.chaincode)
            if definition is None:
                return [self.mspid]  # the local endorser says the chaincode is not defined
            policy = definition.endorsement_policy
        config = channel.ledger.config
        assert config is not None
        reachable = {self.mspid, *(p.mspid for p in self._peers())} - excluded
        reachable &= set(config.organizations("Application"))
        try:
            return plan(policy, config, self.mspid, reachable)
        except NoEndorsementPlan as exc:
            raise GatewayError(grpc.StatusCode.UNAVAILABLE, str(exc)) from None

    async def Endorse(
        self, request: gateway_pb2.EndorseRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.EndorseResponse:
        trace = self._tracer(request.transaction_id, request.channel_id)
        try:
            signed = request.proposed_transaction
            trace(Step.PROPOSE, requested_organizations=list(request.endorsing_organizations))
            organizations, responses = await self._endorse(signed, request.endorsing_organizations)
            trace(Step.PLAN, organizations=organizations)
            trace(
                Step.ENDORSE,
                endorsers=[_mspid(r.endorsement.endorser) for r in responses],
            )
            proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
            payload = build_transaction_payload(proposal, responses)
        except GatewayError as error:
            trace(Step.ENDORSE, error=str(error), details=[d.message for d in error.details])
            await _abort(context, error)
        return gateway_pb2.EndorseResponse(
            prepared_transaction=common_pb2.Envelope(payload=payload.SerializeToString())
        )

    async def Evaluate(
        self, request: gateway_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.EvaluateResponse:
        try:
            signed = request.proposed_transaction
            self._plan(signed, [])  # checks the proposal and the channel
            targets = list(request.target_organizations) or [self.mspid]
            mspid, address, answer = await self._ask(targets[0], signed)
            if isinstance(answer, str) or answer.response.status != 200:
                message = (
                    answer
                    if isinstance(answer, str)
                    else f"chaincode response {answer.response.status}, {answer.response.message}"
                )
                raise GatewayError(
                    grpc.StatusCode.UNKNOWN,
                    f"evaluate call to endorser returned error: {message}",
                    [gateway_pb2.ErrorDetail(address=address, msp_id=mspid, message=message)],
                )
        except GatewayError as error:
            await _abort(context, error)
        return gateway_pb2.EvaluateResponse(result=answer.response)

    # -- submitting ----------------------------------------------------------------------

    def _orderers_in_turn(self) -> list[OrdererEndpoint]:
        """Every ordering node, starting with the next one in turn: submissions spread
        over a cluster's nodes, and one that fails is followed by the others."""
        orderers = list(self._orderers())
        if not orderers:
            return []
        self._next_orderer = (self._next_orderer + 1) % len(orderers)
        return orderers[self._next_orderer :] + orderers[: self._next_orderer]

    def _broadcaster(self, endpoint: OrdererEndpoint) -> Broadcaster:
        broadcaster = self._broadcasters.get(endpoint.address)
        if broadcaster is None:
            broadcaster = self._broadcasters[endpoint.address] = Broadcaster(endpoint)
        return broadcaster

    async def Submit(
        self, request: gateway_pb2.SubmitRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.SubmitResponse:
        try:
            self._channel(request.channel_id)
            envelope = request.prepared_transaction
            if not envelope.signature:
                raise GatewayError(
                    grpc.StatusCode.INVALID_ARGUMENT, "prepared transaction must be signed"
                )
            details = []
            for endpoint in self._orderers_in_turn():
                try:
                    response = await self._broadcaster(endpoint).broadcast(envelope)
                except (grpc.aio.AioRpcError, ConnectionError, TimeoutError) as exc:
                    reason = (
                        f"{exc.code().name}: {exc.details()}"
                        if isinstance(exc, grpc.aio.AioRpcError)
                        else str(exc) or type(exc).__name__
                    )
                    details.append(
                        gateway_pb2.ErrorDetail(address=endpoint.address, message=reason)
                    )
                    continue
                self._tracer(request.transaction_id, request.channel_id)(
                    Step.SUBMIT,
                    orderer=endpoint.address,
                    status=common_pb2.Status.Name(response.status),
                    info=response.info,
                )
                if response.status == common_pb2.SUCCESS:
                    return gateway_pb2.SubmitResponse()
                details.append(
                    gateway_pb2.ErrorDetail(
                        address=endpoint.address,
                        message=f"received unsuccessful response from orderer: "
                        f"status={common_pb2.Status.Name(response.status)}, info={response.info}",
                    )
                )
                if response.status != common_pb2.SERVICE_UNAVAILABLE:
                    break  # a refusal is an answer; another orderer would refuse it too
            raise GatewayError(
                grpc.StatusCode.ABORTED,
                "failed to submit transaction to the ordering service",
                details,
            )
        except GatewayError as error:
            await _abort(context, error)

    # -- commit status and events ---------------------------------------------------------

    def _check_signed(
        self, channel: PeerChannel, request: bytes, identity: bytes, signature: bytes
    ) -> None:
        config = channel.ledger.config
        assert config is not None
        try:
            config.msps.check_signature(identity, request, signature)
        except CaError as exc:
            raise GatewayError(grpc.StatusCode.PERMISSION_DENIED, str(exc)) from None
        signed = SignedData(request, identity, signature)
        if not config.evaluate("/Channel/Application/Readers", [signed]):
            raise GatewayError(
                grpc.StatusCode.PERMISSION_DENIED,
                "the requester does not satisfy /Channel/Application/Readers",
            )

    async def CommitStatus(
        self, request: gateway_pb2.SignedCommitStatusRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.CommitStatusResponse:
        try:
            inner = gateway_pb2.CommitStatusRequest.FromString(request.request)
            channel = self._channel(inner.channel_id)
            self._check_signed(channel, request.request, inner.identity, request.signature)
        except GatewayError as error:
            await _abort(context, error)
        block, _, code = await channel.wait_for_transaction(inner.transaction_id)
        return gateway_pb2.CommitStatusResponse(result=code, block_number=block)

    async def ChaincodeEvents(
        self, request: gateway_pb2.SignedChaincodeEventsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[gateway_pb2.ChaincodeEventsResponse]:
        try:
            inner = gateway_pb2.ChaincodeEventsRequest.FromString(request.request)
            channel = self._channel(inner.channel_id)
            self._check_signed(channel, request.request, inner.identity, request.signature)
        except GatewayError as error:
            await _abort(context, error)
        start = _start_block(inner.start_position, channel.height)
        async for block in channel.blocks(start, FOREVER):
            after = inner.after_transaction_id if block.header.number == start else ""
            events = _chaincode_events(block, inner.chaincode_id, after)
            if events:
                yield gateway_pb2.ChaincodeEventsResponse(
                    events=events, block_number=block.header.number
                )

    async def close(self) -> None:
        for broadcaster in self._broadcasters.values():
            await broadcaster.close()


def _mspid(identity: bytes) -> str:
    return identities_pb2.SerializedIdentity.FromString(identity).mspid


def _start_block(position: ab_pb2.SeekPosition, height: int) -> int:
    kind = position.WhichOneof("Type")
    if kind == "specified":
        return position.specified.number
    if kind == "oldest":
        return 0
    return height  # newest / next commit / unset: from the next block on


def _chaincode_events(
    block: common_pb2.Block, chaincode: str, after_tx: str
) -> list[chaincode_event_pb2.ChaincodeEvent]:
    """The chaincode's events from the block's valid transactions; with ``after_tx``
    (a checkpoint in the start block), only those after that transaction."""
    codes = block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
    skipping = bool(after_tx)
    events = []
    for index, tx in enumerate(parse_block(block)):
        if skipping:
            skipping = tx.tx_id != after_tx
            continue
        if codes[index] != Code.VALID:
            continue
        event = tx.chaincode_event()
        if event is not None and event.chaincode_id == chaincode:
            events.append(event)
    return events
