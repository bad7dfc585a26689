"""Step 3 of the flow, Endorse: check a signed proposal, simulate it, sign the result.

As Fabric's ``core/endorser``: the proposal must be well formed, signed by a valid
identity of the channel whose txid follows the rule, recent enough, allowed by the
channel's ``Writers`` policy and not a replay; then the chaincode runs against the
peer's world state (nothing is written — the simulator records the read/write set), and
a successful result is signed. A failure is a ``ProposalResponse`` whose response has
status 500 and a message saying what was wrong, as Fabric answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from fabric_protos.common import common_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
)
from google.protobuf.message import DecodeError

from ca.channelconfig import ChannelConfig
from ca.errors import CaError
from chaincode.endpoint import ChaincodeEndpoint
from chaincode.errors import ChaincodeError
from chaincode.rwset import TxRWSet
from chaincode.simulation import TxSimulator
from peers.collections import Collection, collection_guard, collections_of
from peers.errors import PeerError
from peers.ledger import Ledger
from peers.lifecycle import (
    LIFECYCLE_NAMESPACE,
    ChaincodeDefinition,
    read_definition,
    sequence_key,
)
from peers.tracestore import Tracer, no_trace
from proto.messages import header_type_name, response_payload, sign_endorsement
from proto.signer import SignedData, Signer
from proto.tracing import Step
from proto.txid import compute_txid

log = logging.getLogger(__name__)
ERROR_THRESHOLD = 400
"""Chaincode responses at or above this status are errors and are not endorsed."""
CHAINCODE_ERROR = 500
"""The shim's ERROR status: such a response keeps its payload, as Fabric's does."""


class ProposalRefused(PeerError):
    """A proposal the endorser will not simulate; the message says why."""


class ProposalRejected(ProposalRefused):
    """A proposal refused before simulation by Fabric's ``preProcess`` checks (creator,
    signature, txid, Writers, replay): Fabric's endorser returns it as an error too."""


WRITERS = "/Channel/Application/Writers"
_INVALID = "error validating proposal: "
CSCC_NAME = "cscc"


@dataclass(frozen=True)
class UnpackedProposal:
    proposal: proposal_pb2.Proposal
    channel_header: common_pb2.ChannelHeader
    signature_header: common_pb2.SignatureHeader
    chaincode: str
    input: chaincode_pb2.ChaincodeInput
    transient: bool = False


def unpack_proposal(signed: proposal_pb2.SignedProposal) -> UnpackedProposal:
    """Decode every layer of a signed proposal, naming the first that is malformed."""
    try:
        proposal = proposal_pb2.Proposal.FromString(signed.proposal_bytes)
        header = common_pb2.Header.FromString(proposal.header)
        channel_header = common_pb2.ChannelHeader.FromString(header.channel_header)
        signature_header = common_pb2.SignatureHeader.FromString(header.signature_header)
        extension = proposal_pb2.ChaincodeHeaderExtension.FromString(channel_header.extension)
        payload = proposal_pb2.ChaincodeProposalPayload.FromString(proposal.payload)
        invocation = chaincode_pb2.ChaincodeInvocationSpec.FromString(payload.input)
    except DecodeError as exc:
        raise ProposalRefused(f"proposal does not decode: {exc}") from None
    name = extension.chaincode_id.name or invocation.chaincode_spec.chaincode_id.name
    if not name:
        raise ProposalRefused("proposal names no chaincode")
    # Fabric's CLI sends cscc's join proposals (`peer channel join | joinbysnapshot`)
    # with a CONFIG header, which Fabric's endorser takes.
    config_join = channel_header.type == common_pb2.CONFIG and name == CSCC_NAME
    if channel_header.type != common_pb2.ENDORSER_TRANSACTION and not config_join:
        raise ProposalRefused(
            f"invalid header type {header_type_name(channel_header.type)}; "
            "a proposal is an ENDORSER_TRANSACTION"
        )
    return UnpackedProposal(
        proposal,
        channel_header,
        signature_header,
        name,
        invocation.chaincode_spec.input,
        transient=bool(payload.TransientMap),
    )


SystemChaincode = Callable[
    [proposal_pb2.SignedProposal, "UnpackedProposal"],
    Awaitable[proposal_response_pb2.ProposalResponse],
]
"""A chaincode built into the peer answering channel-less proposals itself (``cscc``,
``_lifecycle`` install)."""


class InProcessChaincode(Protocol):
    """A system chaincode simulated on a channel like any other (``_lifecycle``)."""

    def execute(
        self,
        channel_id: str,
        config: ChannelConfig,
        simulator: TxSimulator,
        creator: bytes,
        args: list[bytes],
    ) -> proposal_response_pb2.Response: ...


class PrivateDistributor(Protocol):
    """Keeps and pushes a simulation's clear private writes (``peers.dissemination``)."""

    async def distribute(
        self,
        ledger: Ledger,
        tx_id: str,
        rwset: TxRWSet,
        collections: dict[str, dict[str, Collection]],
    ) -> None: ...


class Endorser:
    """Endorses proposals for the channels this peer has joined."""

    def __init__(
        self,
        signer: Signer,
        ledgers: Callable[[str], Ledger | None],
        chaincodes: Callable[[str, ChaincodeDefinition], ChaincodeEndpoint | None],
        timestamp_window: float = 15 * 60,
        system: Mapping[str, SystemChaincode] | None = None,
        lifecycle: InProcessChaincode | None = None,
        trace: Tracer = no_trace,
        private: PrivateDistributor | None = None,
    ) -> None:
        self.signer = signer
        self.private = private
        self._ledgers = ledgers
        self._chaincodes = chaincodes
        self.timestamp_window = timestamp_window
        self.system = dict(system or {})
        self.lifecycle = lifecycle
        self.trace = trace

    async def process_proposal(
        self, signed: proposal_pb2.SignedProposal
    ) -> proposal_response_pb2.ProposalResponse:
        return (await self.endorse(signed))[0]

    async def endorse(
        self, signed: proposal_pb2.SignedProposal, unpacked: UnpackedProposal | None = None
    ) -> tuple[proposal_response_pb2.ProposalResponse, str | None]:
        """The response and, as Fabric's ``ProcessProposal`` returns beside it, the error
        of a proposal refused before simulation (None otherwise). ``unpacked`` is
        ``signed`` already decoded (by this peer's gateway), so it is not decoded twice."""
        rwset: TxRWSet | None = None
        error = None
        try:
            if unpacked is None:
                unpacked = unpack_proposal(signed)
            if not unpacked.channel_header.channel_id:
                system = self.system.get(unpacked.chaincode)
                if system is None:
                    raise ProposalRefused(f"chaincode {unpacked.chaincode} needs a channel")
                return await system(signed, unpacked), None
            ledger = self._check(signed, unpacked)
            response, rwset = await self._simulate(signed, unpacked, ledger)
        except ProposalRefused as refused:
            response = proposal_response_pb2.ProposalResponse(
                version=1,
                response=proposal_response_pb2.Response(status=500, message=str(refused)),
            )
            if isinstance(refused, ProposalRejected):
                error = str(refused)
                log.warning("failed to preProcess proposal: %s", refused)
        if unpacked is not None:
            self._trace_endorsement(unpacked, response, rwset)
        return response, error

    def _trace_endorsement(
        self,
        unpacked: UnpackedProposal,
        response: proposal_response_pb2.ProposalResponse,
        rwset: TxRWSet | None,
    ) -> None:
        details: dict[str, object] = {
            "chaincode": unpacked.chaincode,
            "function": unpacked.input.args[0].decode("utf-8", "replace")
            if unpacked.input.args
            else "",
            "status": response.response.status,
            "message": response.response.message,
            "endorsed": bool(response.endorsement.signature),
        }
        if rwset is not None:
            details["reads"] = {
                f"{ns}/{key}": (None if v is None else [v.block, v.tx])
                for ns, rw in rwset.namespaces.items()
                for key, v in rw.reads.items()
            }
            details["writes"] = {
                f"{ns}/{key}": (None if value is None else len(value))
                for ns, rw in rwset.namespaces.items()
                for key, value in rw.writes.items()
            }
        self.trace(
            Step.ENDORSE,
            unpacked.channel_header.tx_id,
            unpacked.channel_header.channel_id,
            **details,
        )

    def _check(self, signed: proposal_pb2.SignedProposal, unpacked: UnpackedProposal) -> Ledger:
        """Fabric's ``preProcess``: the creator, its signature, the txid, the channel's
        Writers and replays. A refusal carries the endorser's generic message; the
        precise reason goes to this peer's log only."""
        header, signature_header = unpacked.channel_header, unpacked.signature_header
        ledger = self._ledgers(header.channel_id)
        if ledger is None or ledger.config is None:
            raise ProposalRefused(f"channel '{header.channel_id}' not found")
        config, creator = ledger.config, signature_header.creator
        expected = compute_txid(signature_header.nonce, creator)
        if header.tx_id != expected:
            raise ProposalRejected(
                f"{_INVALID}incorrectly computed txid '{header.tx_id}' -- expected '{expected}'"
            )
        self._check_creator(config, signed, header.channel_id, creator)
        skew = abs(time.time() - header.timestamp.seconds)
        if skew > self.timestamp_window:
            raise ProposalRefused(
                f"request unauthorized due to incorrect timestamp: {skew:.0f}s away from now, "
                f"the window is {self.timestamp_window:.0f}s"
            )
        if ledger.state.transaction(header.tx_id) is not None:
            raise ProposalRejected(
                f"duplicate transaction found [{header.tx_id}]. Creator [{creator.hex()}]"
            )
        signed_data = SignedData(signed.proposal_bytes, creator, signed.signature)
        if not config.evaluate(WRITERS, [signed_data]):
            reason = config.refusal(WRITERS, [signed_data])
            raise ProposalRejected(
                "Failed evaluating policy on signed data during check policy on channel "
                f"[{header.channel_id}] with policy [{WRITERS}]: [{reason}]"
            )
        return ledger

    def _check_creator(
        self,
        config: ChannelConfig,
        signed: proposal_pb2.SignedProposal,
        channel_id: str,
        creator: bytes,
    ) -> None:
        try:
            msp, identity = config.msps.deserialize(creator)
        except CaError as exc:
            log.warning("access denied: channel %s: %s", channel_id, exc)
            raise ProposalRejected(
                f"{_INVALID}access denied: channel [{channel_id}] creator org unknown, "
                "creator is malformed"
            ) from None
        try:
            msp.validate(identity)
            msp.verify(identity, signed.proposal_bytes, signed.signature)
        except CaError as exc:
            log.warning("access denied: channel %s, creator of %s: %s", channel_id, msp.mspid, exc)
            raise ProposalRejected(
                f"{_INVALID}access denied: channel [{channel_id}] creator org [{msp.mspid}]"
            ) from None

    async def _simulate(
        self,
        signed: proposal_pb2.SignedProposal,
        unpacked: UnpackedProposal,
        ledger: Ledger,
    ) -> tuple[proposal_response_pb2.ProposalResponse, TxRWSet]:
        name, channel_id = unpacked.chaincode, unpacked.channel_header.channel_id
        simulator = TxSimulator(ledger.state, unpacked.channel_header.tx_id)
        if name == LIFECYCLE_NAMESPACE and self.lifecycle is not None:
            assert ledger.config is not None
            response = self.lifecycle.execute(
                channel_id,
                ledger.config,
                simulator,
                unpacked.signature_header.creator,
                list(unpacked.input.args),
            )
            return self._endorse(unpacked, simulator, response, None, ""), simulator.rwset
        simulator.get_state(LIFECYCLE_NAMESPACE, sequence_key(name))  # as Fabric's endorser
        definition = read_definition(ledger.state, name)
        if definition is None:
            raise ProposalRefused(
                f"make sure the chaincode {name} has been successfully defined on channel "
                f"{channel_id} and try again: chaincode {name} not found"
            )
        endpoint = self._chaincodes(channel_id, definition)
        if endpoint is None:
            raise ProposalRefused(f"chaincode {name} is defined but not installed on this peer")
        try:
            handler = await endpoint.handler()
            result = await handler.execute(
                channel_id,
                unpacked.channel_header.tx_id,
                unpacked.input,
                simulator,
                signed_proposal=signed,
                creator=unpacked.signature_header.creator,
                namespace=name,
                collections=collection_guard(definition),
            )
        except ChaincodeError as exc:
            raise ProposalRefused(f"error in simulation: {exc}") from None
        endorsed = self._endorse(
            unpacked, simulator, result.response, result.event, definition.version
        )
        if endorsed.endorsement.signature:
            await self._distribute(unpacked, ledger, simulator.rwset, name)
        return endorsed, simulator.rwset

    async def _distribute(
        self, unpacked: UnpackedProposal, ledger: Ledger, rwset: TxRWSet, name: str
    ) -> None:
        """Get the private writes' clear values to the collections' members before the
        endorsement is returned (Fabric's order; the shim already checked access)."""
        tx_id = unpacked.channel_header.tx_id
        collections = {
            namespace: collections_of(read_definition(ledger.state, namespace))
            for namespace, ns in rwset.namespaces.items()
            if ns.collections
        }
        try:
            if collections and self.private is not None:
                await self.private.distribute(ledger, tx_id, rwset, collections)
        except PeerError as exc:
            raise ProposalRefused(
                f"error in simulation: failed to distribute private collection, txID {tx_id}, "
                f"channel {unpacked.channel_header.channel_id}: {exc}"
            ) from None

    def _endorse(
        self,
        unpacked: UnpackedProposal,
        simulator: TxSimulator,
        response: proposal_response_pb2.Response,
        event: chaincode_event_pb2.ChaincodeEvent | None,
        version: str,
    ) -> proposal_response_pb2.ProposalResponse:
        """Sign a successful simulation; an error response is returned unsigned (a
        chaincode ERROR with its payload, so a gateway tells it from the peer's own)."""
        action = proposal_pb2.ChaincodeAction(
            results=simulator.rwset.to_proto().SerializeToString(deterministic=True),
            events=event.SerializeToString(deterministic=True) if event else b"",
            response=response,
            chaincode_id=chaincode_pb2.ChaincodeID(name=unpacked.chaincode, version=version),
        )
        if response.status >= CHAINCODE_ERROR:
            payload = response_payload(unpacked.proposal, action).SerializeToString()
            return proposal_response_pb2.ProposalResponse(response=response, payload=payload)
        if response.status >= ERROR_THRESHOLD:
            return proposal_response_pb2.ProposalResponse(response=response)
        return sign_endorsement(self.signer, unpacked.proposal, action)
