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
from typing import NoReturn, TypeVar

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
from google.protobuf.message import DecodeError, Message
from google.rpc import status_pb2
from grpc_status import rpc_status

from ca.errors import CaError
from peers.broadcaster import Broadcaster
from peers.channel import OrdererEndpoint, PeerChannel, close_later
from peers.endorsements import Answer, from_response, go_status_text, unreachable
from peers.endorser import Endorser, ProposalRefused, UnpackedProposal, unpack_proposal
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
M = TypeVar("M", bound=Message)
UNREACHABLE_SECONDS = 5.0
"""How long plans avoid an organization none of whose peers answered."""
_ENDORSE_FAILED = "failed to endorse transaction, see attached details for more info"
_COLLECT_FAILED = (
    "failed to collect enough transaction endorsements, see attached details for more info"
)
_NO_COMBINATION = "no combination of peers can be derived which satisfy the endorsement policy: "
_EVALUATE_FAILED = "failed to evaluate transaction, see attached details for more info"


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

    def _configured(self, channel_id: str, code: grpc.StatusCode) -> PeerChannel:
        """The channel, or Fabric's answer when its config cannot be had."""
        channel = self._channels(channel_id)
        if channel is None or channel.ledger.config is None:
            raise GatewayError(
                code,
                f"failed to get config for channel [{channel_id}]: "
                f"could not get last config for channel {channel_id}",
            )
        return channel

    def _check_available(self, channel_id: str) -> None:
        """A channel halted on a ledger failure answers UNAVAILABLE, what a Fabric client
        gets from a peer that is down: endorsing on its stale state, or accepting a
        transaction whose commit it cannot report, would mislead the client."""
        channel = self._channels(channel_id)
        reason = None if channel is None else channel.unavailable()
        if reason is not None:
            raise GatewayError(grpc.StatusCode.UNAVAILABLE, reason)

    def _organizations(self, channel: PeerChannel, chaincode: str) -> list[str]:
        """The channel's organizations with a peer this gateway knows that can run
        ``chaincode`` (defined on the channel); its own first."""
        if (
            chaincode != LIFECYCLE_NAMESPACE
            and read_definition(channel.ledger.state, chaincode) is None
        ):
            return []
        config = channel.ledger.config
        assert config is not None
        known = {self.mspid, *(p.mspid for p in self._peers())}
        members = set(config.organizations("Application")) & known
        return sorted(members, key=lambda m: (m != self.mspid, m))

    # -- endorsing ------------------------------------------------------------------------

    async def _ask_peer(
        self,
        mspid: str,
        peer: RemotePeer | None,
        signed: proposal_pb2.SignedProposal,
        unpacked: UnpackedProposal,
    ) -> Answer:
        """One endorser's answer: this peer (``None``) in-process, handed the proposal
        this gateway already decoded, another over gRPC."""
        if peer is None:
            response, error = await self.endorser.endorse(signed, unpacked)
            return from_response(mspid, self.address, response, error)
        try:
            response = await peer.endorser().ProcessProposal(signed, timeout=30)
        except grpc.aio.AioRpcError as exc:
            return unreachable(mspid, peer.address, go_status_text(exc))
        return from_response(mspid, peer.address, response)

    def _peers_of(self, mspid: str) -> list[RemotePeer | None]:
        local: list[RemotePeer | None] = [None] if mspid == self.mspid else []
        return local + [p for p in self._peers() if p.mspid == mspid]

    async def _ask_org(
        self, mspid: str, signed: proposal_pb2.SignedProposal, unpacked: UnpackedProposal
    ) -> tuple[Answer, list[gateway_pb2.ErrorDetail]]:
        """An organization's endorsement: its peers in turn while a failure says another
        may do better (Fabric's next peer in the group); the last answer and the
        failures on the way."""
        failures: list[gateway_pb2.ErrorDetail] = []
        answer = unreachable(mspid, "", f"no peer of {mspid} is known to this gateway")
        for peer in self._peers_of(mspid):
            answer = await self._ask_peer(mspid, peer, signed, unpacked)
            if answer.ok:
                break
            failures.append(answer.detail)
            if not answer.retry:
                break
        return answer, failures

    def _unpack(self, signed: proposal_pb2.SignedProposal, prefix: str = "") -> UnpackedProposal:
        try:
            return unpack_proposal(signed)
        except ProposalRefused as exc:
            raise GatewayError(grpc.StatusCode.INVALID_ARGUMENT, f"{prefix}{exc}") from None

    async def _endorse(
        self,
        signed: proposal_pb2.SignedProposal,
        unpacked: UnpackedProposal,
        requested: Sequence[str],
    ) -> tuple[list[str], list[proposal_response_pb2.ProposalResponse]]:
        """Endorse as Fabric's gateway does: the organizations the client named, or
        first this gateway's own organization — whose failure is the answer at once —
        and then whichever others the endorsement policy needs."""
        self._check_available(unpacked.channel_header.channel_id)
        channel = self._channels(unpacked.channel_header.channel_id)
        configured = channel is not None and channel.ledger.config is not None
        available = self._organizations(channel, unpacked.chaincode) if configured else []
        if requested:
            missing = [m for m in dict.fromkeys(requested) if m not in available]
            if missing:
                raise GatewayError(
                    grpc.StatusCode.UNAVAILABLE,
                    f"failed to find any endorsing peers for org(s): {', '.join(missing)}",
                )
            return await self._gather(signed, unpacked, requested, {})
        if not available:
            raise GatewayError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{_NO_COMBINATION}No metadata was found for chaincode {unpacked.chaincode} "
                f"in channel {unpacked.channel_header.channel_id}",
            )
        first, failures = await self._ask_org(available[0], signed, unpacked)
        if not first.ok:
            raise GatewayError(grpc.StatusCode.ABORTED, _ENDORSE_FAILED, failures)
        assert first.response is not None
        return await self._gather(signed, unpacked, requested, {first.mspid: first.response})

    async def _gather(
        self,
        signed: proposal_pb2.SignedProposal,
        unpacked: UnpackedProposal,
        requested: Sequence[str],
        gathered: dict[str, proposal_response_pb2.ProposalResponse],
    ) -> tuple[list[str], list[proposal_response_pb2.ProposalResponse]]:
        """The endorsements a plan needs besides those ``gathered``. An organization none
        of whose peers answers is planned around — another set of organizations that
        satisfies the policy, as Fabric's gateway tries its next layout — and avoided for
        a few seconds after. A chaincode's refusal is not retried elsewhere: the same
        chaincode on the same state refuses everywhere. Organizations the client named
        are not replaced."""
        excluded = self._recently_unreachable() - set(gathered)
        unreachable_details: list[gateway_pb2.ErrorDetail] = []
        while True:
            organizations = self._plan_around(unpacked, requested, excluded, unreachable_details)
            asked = [m for m in organizations if m not in gathered]
            answers = await asyncio.gather(*(self._ask_org(m, signed, unpacked) for m in asked))
            refused = []
            for answer, failures in answers:
                if answer.ok:
                    assert answer.response is not None
                    gathered[answer.mspid] = answer.response
                elif answer.code == grpc.StatusCode.UNAVAILABLE:
                    unreachable_details.extend(failures or [answer.detail])
                    excluded.add(answer.mspid)
                    self._unreachable[answer.mspid] = time.monotonic() + UNREACHABLE_SECONDS
                else:
                    refused.extend(failures)
            if refused or (unreachable_details and requested):
                raise GatewayError(
                    grpc.StatusCode.ABORTED, _COLLECT_FAILED, unreachable_details + refused
                )
            if all(m in gathered for m in organizations):
                break
        responses = [gathered[m] for m in organizations]
        if len({r.payload for r in responses}) > 1:
            raise GatewayError(
                grpc.StatusCode.ABORTED,
                _COLLECT_FAILED,
                [
                    gateway_pb2.ErrorDetail(
                        msp_id=m, message="ProposalResponsePayloads do not match"
                    )
                    for m in organizations
                ],
            )
        return organizations, responses

    def _recently_unreachable(self) -> set[str]:
        now = time.monotonic()
        return {mspid for mspid, until in self._unreachable.items() if until > now}

    def _plan_around(
        self,
        unpacked: UnpackedProposal,
        requested: Sequence[str],
        excluded: set[str],
        unreachable_details: list[gateway_pb2.ErrorDetail],
    ) -> list[str]:
        """A plan without the ``excluded`` organizations; when none is left, the
        endorsement failed (with the unreachable ones as details), unless the exclusions
        were only remembered from earlier transactions: then they are tried again."""
        try:
            return self._plan(unpacked, requested, excluded)
        except GatewayError:
            if unreachable_details:
                raise GatewayError(
                    grpc.StatusCode.ABORTED, _COLLECT_FAILED, unreachable_details
                ) from None
            if not excluded:
                raise
            excluded.clear()
            return self._plan(unpacked, requested, excluded)

    def _plan(
        self,
        unpacked: UnpackedProposal,
        requested: Sequence[str],
        excluded: set[str] | frozenset[str] = frozenset(),
    ) -> list[str]:
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
            log.warning("no endorsement plan: %s", exc)
            raise GatewayError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"{_NO_COMBINATION}no peer combination can satisfy the endorsement policy",
            ) from None

    async def Endorse(
        self, request: gateway_pb2.EndorseRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.EndorseResponse:
        trace = self._tracer(request.transaction_id, request.channel_id)
        try:
            signed = request.proposed_transaction
            trace(Step.PROPOSE, requested_organizations=list(request.endorsing_organizations))
            unpacked = self._unpack(signed)
            organizations, responses = await self._endorse(
                signed, unpacked, request.endorsing_organizations
            )
            trace(Step.PLAN, organizations=organizations)
            trace(
                Step.ENDORSE,
                endorsers=[_mspid(r.endorsement.endorser) for r in responses],
            )
            payload = build_transaction_payload(unpacked.proposal, responses)
        except GatewayError as error:
            trace(Step.ENDORSE, error=str(error), details=[d.message for d in error.details])
            await _abort(context, error)
        return gateway_pb2.EndorseResponse(
            prepared_transaction=common_pb2.Envelope(payload=payload.SerializeToString())
        )

    def _evaluators(
        self, channel: PeerChannel, unpacked: UnpackedProposal, targets: Sequence[str]
    ) -> list[tuple[str, RemotePeer | None]]:
        """The peers that may evaluate, in the order Fabric's gateway tries them: its
        own, then the other (requested) organizations'."""
        available = self._organizations(channel, unpacked.chaincode)
        if targets:
            available = [m for m in available if m in targets]
        found = [(m, p) for m in available for p in self._peers_of(m)]
        if not found:
            raise GatewayError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"no peers available to evaluate chaincode {unpacked.chaincode} "
                f"in channel {channel.channel_id}",
            )
        return found

    async def _evaluate(
        self, request: gateway_pb2.EvaluateRequest
    ) -> proposal_response_pb2.Response:
        signed = request.proposed_transaction
        unpacked = self._unpack(signed, "failed to unpack transaction proposal: ")
        self._check_available(unpacked.channel_header.channel_id)
        channel = self._configured(unpacked.channel_header.channel_id, grpc.StatusCode.UNAVAILABLE)
        targets = list(request.target_organizations)
        if not targets and unpacked.transient:
            targets = [self.mspid]
        details: list[gateway_pb2.ErrorDetail] = []
        for mspid, peer in self._evaluators(channel, unpacked, targets):
            answer = await self._ask_peer(mspid, peer, signed, unpacked)
            if answer.ok:
                assert answer.response is not None
                return answer.response.response
            details.append(answer.detail)
            if not answer.retry:
                raise GatewayError(
                    answer.code,
                    f"evaluate call to endorser returned error: {answer.message}",
                    details,
                )
        raise GatewayError(answer.code, _EVALUATE_FAILED, details)

    async def Evaluate(
        self, request: gateway_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.EvaluateResponse:
        try:
            result = await self._evaluate(request)
        except GatewayError as error:
            await _abort(context, error)
        return gateway_pb2.EvaluateResponse(result=result)

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
        if broadcaster is None or (
            broadcaster.endpoint is not endpoint and broadcaster.endpoint != endpoint
        ):
            if broadcaster is not None:  # a rotated client certificate: a new stream
                close_later(broadcaster.close)
            broadcaster = self._broadcasters[endpoint.address] = Broadcaster(endpoint)
        return broadcaster

    async def _broadcast(
        self, endpoint: OrdererEndpoint, request: gateway_pb2.SubmitRequest
    ) -> ab_pb2.BroadcastResponse:
        response = await self._broadcaster(endpoint).broadcast(request.prepared_transaction)
        self._tracer(request.transaction_id, request.channel_id)(
            Step.SUBMIT,
            orderer=endpoint.address,
            status=common_pb2.Status.Name(response.status),
            info=response.info,
        )
        return response

    async def _submit(self, request: gateway_pb2.SubmitRequest) -> None:
        """Fabric's Submit: each orderer in turn; a client error (4xx) is the answer at
        once, in the message; only orderers that could not be reached are details."""
        self._configured(request.channel_id, grpc.StatusCode.FAILED_PRECONDITION)
        self._check_available(request.channel_id)
        if not request.prepared_transaction.signature:
            raise GatewayError(
                grpc.StatusCode.INVALID_ARGUMENT, "prepared transaction must be signed"
            )
        orderers = self._orderers_in_turn()
        if not orderers:
            raise GatewayError(grpc.StatusCode.UNAVAILABLE, "no orderer nodes available")
        details = []
        for endpoint in orderers:
            try:
                response = await self._broadcast(endpoint, request)
            except (grpc.aio.AioRpcError, ConnectionError, TimeoutError) as exc:
                reason = (
                    go_status_text(exc)
                    if isinstance(exc, grpc.aio.AioRpcError)
                    else str(exc) or type(exc).__name__
                )
                details.append(gateway_pb2.ErrorDetail(address=endpoint.address, message=reason))
                continue
            if response.status == common_pb2.SUCCESS:
                return
            if 400 <= response.status < 500:
                raise GatewayError(
                    grpc.StatusCode.ABORTED,
                    "received unsuccessful response from orderer: "
                    f"status={common_pb2.Status.Name(response.status)}, info={response.info}",
                )
        raise GatewayError(
            grpc.StatusCode.UNAVAILABLE,
            "no orderers could successfully process transaction",
            details,
        )

    async def Submit(
        self, request: gateway_pb2.SubmitRequest, context: grpc.aio.ServicerContext
    ) -> gateway_pb2.SubmitResponse:
        try:
            await self._submit(request)
        except GatewayError as error:
            await _abort(context, error)
        return gateway_pb2.SubmitResponse()

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
            inner = _inner(gateway_pb2.CommitStatusRequest, request.request, "status request")
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
            inner = _inner(
                gateway_pb2.ChaincodeEventsRequest, request.request, "chaincode events request"
            )
            channel = self._channel(inner.channel_id)
            self._check_signed(channel, request.request, inner.identity, request.signature)
            start = _start_block(inner, channel)
        except GatewayError as error:
            await _abort(context, error)
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


def _inner(message_type: type[M], data: bytes, what: str) -> M:
    """The signed request's ``request`` bytes decoded; bytes that do not decode are
    INVALID_ARGUMENT "invalid <what>: …", the code and prefix Fabric's gateway answers."""
    try:
        return message_type.FromString(data)
    except DecodeError:
        raise GatewayError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"invalid {what}: the request field does not decode as a "
            f"{message_type.DESCRIPTOR.full_name}",
        ) from None


def _mspid(identity: bytes) -> str:
    return identities_pb2.SerializedIdentity.FromString(identity).mspid


def _start_block(request: gateway_pb2.ChaincodeEventsRequest, channel: PeerChannel) -> int:
    """Fabric's start: the block of the checkpointed transaction if this peer has it, else
    the specified block, else (next commit, or unset) the current height."""
    if request.after_transaction_id:
        found = channel.ledger.state.transaction(request.after_transaction_id)
        if found is not None:
            return found[0]
    position = request.start_position
    kind = position.WhichOneof("Type")
    if kind == "specified":
        return position.specified.number
    if kind in (None, "next_commit"):
        return channel.height
    name = "".join(part.capitalize() for part in kind.split("_"))
    raise GatewayError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"invalid start position type: *orderer.SeekPosition_{name}",
    )


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
