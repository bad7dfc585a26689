"""A Python client for a peer's Gateway service — what ``@hyperledger/fabric-gateway`` does
in Node, in a few calls: ``evaluate``, ``submit`` (endorse → sign → submit → wait for
commit), ``chaincode_events``, and the admin proposals (join a channel, install, approve,
commit a chaincode definition).

The client signs everything itself; the gateway never sees a private key.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.gateway import gateway_pb2, gateway_pb2_grpc
from fabric_protos.orderer import ab_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    peer_pb2_grpc,
    proposal_response_pb2,
)
from google.rpc import status_pb2
from grpc_status import rpc_status

from network.errors import NetworkError
from proto import keepalive
from proto.credentials import TlsIdentity, channel_credentials
from proto.envelope import Code, read_endorsed_action
from proto.proposal import propose
from proto.signer import Signer


class GatewayClientError(NetworkError):
    """A gateway call failed; ``details`` are the per-node ``ErrorDetail``s it returned."""

    def __init__(
        self, message: str, code: grpc.StatusCode | None = None, details: Sequence = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.details = list(details)
        self.tx_id = ""  # set when the failed call was for one transaction


def _with_tx_id(error: GatewayClientError, tx_id: str) -> GatewayClientError:
    """The transaction id the failed call was for (``error.tx_id``), for reports."""
    error.tx_id = tx_id
    return error


class CommitError(GatewayClientError):
    """The transaction was ordered but committed with a code other than VALID."""

    def __init__(self, tx_id: str, code: int, block: int) -> None:
        super().__init__(
            f"transaction {tx_id} committed in block {block} with status {Code.Name(code)}"
        )
        self.tx_id, self.status, self.block = tx_id, code, block


def _error(exc: grpc.aio.AioRpcError, action: str) -> GatewayClientError:
    details = []
    status = rpc_status.from_call(exc) if hasattr(exc, "trailing_metadata") else None
    if isinstance(status, status_pb2.Status):
        for item in status.details:
            detail = gateway_pb2.ErrorDetail()
            if item.Unpack(detail):
                details.append(detail)
    return GatewayClientError(f"{action}: {exc.details()}", exc.code(), details)


@dataclass(frozen=True)
class Submitted:
    tx_id: str
    result: bytes
    block: int
    # the event the chaincode set (what Fabric delivers as a chaincode event), if any
    event: chaincode_event_pb2.ChaincodeEvent | None = None


class GatewayClient:
    def __init__(
        self,
        address: str,
        signer: Signer,
        tls_root: bytes | None = None,
        hostname_override: str = "",
        client: TlsIdentity | None = None,
    ) -> None:
        """``client``: the TLS certificate presented to a peer that requires mutual TLS
        (a member's, from its TLS CA; ``tls_identity_of`` finds it in a connection file)."""
        options = [
            ("grpc.max_receive_message_length", 100 * 1024 * 1024),
            *keepalive.CLIENT_OPTIONS,
        ]
        if hostname_override:
            options.append(("grpc.ssl_target_name_override", hostname_override))
        if tls_root is None:
            self.channel = grpc.aio.insecure_channel(address, options=options)
        else:
            credentials = channel_credentials(tls_root, client)
            self.channel = grpc.aio.secure_channel(address, credentials, options=options)
        self.signer = signer
        self.gateway = gateway_pb2_grpc.GatewayStub(self.channel)
        self.endorser = peer_pb2_grpc.EndorserStub(self.channel)

    @classmethod
    def from_connection(
        cls,
        connection: Mapping[str, Any],
        identity: str,
        endpoint: str = "",
        users: Path | None = None,
    ) -> GatewayClient:
        """A client for a member's connection file (as ``consortium up`` writes it), acting
        as one of its identities (or, given the member's ``users`` folder, one enrolled
        there later), on its first gateway peer or the one at ``endpoint``."""
        signer = (
            member_signer(connection, users, identity) if users else signer_of(connection, identity)
        )
        gateway = connection["gateway"]
        if endpoint:
            peers = connection.get("gateways", [gateway])
            gateway = next((g for g in peers if g["endpoint"] == endpoint), None)
            if gateway is None:
                raise GatewayClientError(f"the connection file has no gateway peer {endpoint}")
        tls_root = Path(gateway["tlsRootCert"]).read_bytes()
        client = tls_identity_of(connection, identity, users)
        return cls(gateway["endpoint"], signer, tls_root, client=client)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def evaluate(
        self, channel_id: str, chaincode: str, *args: str | bytes, target: Sequence[str] = ()
    ) -> bytes:
        proposed = propose(self.signer, channel_id, chaincode, args)
        try:
            response = await self.gateway.Evaluate(
                gateway_pb2.EvaluateRequest(
                    transaction_id=proposed.tx_id,
                    channel_id=channel_id,
                    proposed_transaction=proposed.signed,
                    target_organizations=list(target),
                )
            )
        except grpc.aio.AioRpcError as exc:
            raise _error(exc, "evaluate") from None
        return response.result.payload

    async def submit_async(
        self,
        channel_id: str,
        chaincode: str,
        *args: str | bytes,
        endorsing_organizations: Sequence[str] = (),
        transient: dict[str, bytes] | None = None,
    ) -> tuple[str, bytes]:
        """Endorse, sign and submit; return (txid, result) once the orderer accepted it."""
        tx_id, envelope = await self._submit_envelope(
            channel_id, chaincode, args, endorsing_organizations, transient
        )
        return tx_id, _result_of(envelope)

    async def _submit_envelope(
        self,
        channel_id: str,
        chaincode: str,
        args: Sequence[str | bytes],
        endorsing_organizations: Sequence[str] = (),
        transient: dict[str, bytes] | None = None,
    ) -> tuple[str, common_pb2.Envelope]:
        proposed = propose(self.signer, channel_id, chaincode, args, transient)
        tx_id = proposed.tx_id
        try:
            endorsed = await self.gateway.Endorse(
                gateway_pb2.EndorseRequest(
                    transaction_id=tx_id,
                    channel_id=channel_id,
                    proposed_transaction=proposed.signed,
                    endorsing_organizations=list(endorsing_organizations),
                )
            )
        except grpc.aio.AioRpcError as exc:
            raise _with_tx_id(_error(exc, "endorse"), tx_id) from None
        envelope = endorsed.prepared_transaction
        envelope.signature = self.signer.sign(envelope.payload)
        try:
            await self.gateway.Submit(
                gateway_pb2.SubmitRequest(
                    transaction_id=tx_id, channel_id=channel_id, prepared_transaction=envelope
                )
            )
        except grpc.aio.AioRpcError as exc:
            raise _with_tx_id(_error(exc, "submit"), tx_id) from None
        return tx_id, envelope

    async def commit_status(self, channel_id: str, tx_id: str) -> tuple[int, int]:
        """(validation code, block number) once the gateway's peer committed ``tx_id``."""
        request = gateway_pb2.CommitStatusRequest(
            transaction_id=tx_id, channel_id=channel_id, identity=self.signer.creator
        ).SerializeToString()
        try:
            response = await self.gateway.CommitStatus(
                gateway_pb2.SignedCommitStatusRequest(
                    request=request, signature=self.signer.sign(request)
                )
            )
        except grpc.aio.AioRpcError as exc:
            raise _error(exc, "commit status") from None
        return response.result, response.block_number

    async def submit(
        self, channel_id: str, chaincode: str, *args: str | bytes, **options
    ) -> Submitted:
        """Submit and wait for commit; a non-VALID commit raises ``CommitError``."""
        tx_id, envelope = await self._submit_envelope(channel_id, chaincode, args, **options)
        code, block = await self.commit_status(channel_id, tx_id)
        if code != Code.VALID:
            raise CommitError(tx_id, code, block)
        return Submitted(tx_id, _result_of(envelope), block, _event_of(envelope))

    async def chaincode_events(
        self, channel_id: str, chaincode: str, start_block: int | None = None, after_tx: str = ""
    ) -> AsyncIterator[tuple[int, chaincode_event_pb2.ChaincodeEvent]]:
        start = (
            ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=start_block))
            if start_block is not None
            else ab_pb2.SeekPosition(next_commit=ab_pb2.SeekNextCommit())
        )
        request = gateway_pb2.ChaincodeEventsRequest(
            channel_id=channel_id,
            chaincode_id=chaincode,
            identity=self.signer.creator,
            start_position=start,
            after_transaction_id=after_tx,
        ).SerializeToString()
        call = self.gateway.ChaincodeEvents(
            gateway_pb2.SignedChaincodeEventsRequest(
                request=request, signature=self.signer.sign(request)
            )
        )
        try:
            async for response in call:
                for event in response.events:
                    yield response.block_number, event
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.CANCELLED:
                raise _error(exc, "chaincode events") from None

    # -- admin proposals sent straight to this peer's endorser --------------------------

    async def propose(
        self, channel_id: str, chaincode: str, *args: str | bytes
    ) -> proposal_response_pb2.ProposalResponse:
        proposed = propose(self.signer, channel_id, chaincode, args)
        try:
            response = await self.endorser.ProcessProposal(proposed.signed)
        except grpc.aio.AioRpcError as exc:
            raise _error(exc, f"{chaincode} {args[0]!r}") from None
        if response.response.status != 200:
            raise GatewayClientError(
                f"{chaincode} {args[0]!r}: {response.response.status} {response.response.message}"
            )
        return response


def signer_of(connection: Mapping[str, Any], identity: str) -> Signer:
    """One identity of a member's connection file (``user1``, ``orgadmin``) as a signer."""
    from cryptography.hazmat.primitives import serialization

    from ca.signing import SoftwareSigner

    files = connection["identities"][identity]
    key = serialization.load_pem_private_key(Path(files["key"]).read_bytes(), None)
    return SoftwareSigner(connection["mspId"], Path(files["cert"]).read_bytes(), key)


def tls_identity_of(
    connection: Mapping[str, Any], identity: str, users: Path | None = None
) -> TlsIdentity | None:
    """The TLS client certificate to present as ``identity``: its own from the connection
    file (``tlsCert``/``tlsKey``) or its ``users/<identity>/tls`` folder, else the
    member's (``clientTls``; any certificate of the member's TLS CA is let in), None in a
    connection file written before mutual TLS."""
    files = connection.get("identities", {}).get(identity, {})
    if files.get("tlsCert") and files.get("tlsKey"):
        return TlsIdentity.from_files(Path(files["tlsCert"]), Path(files["tlsKey"]))
    if users is not None and "/" not in identity and identity not in ("", ".", ".."):
        found = TlsIdentity.from_folder(users / identity / "tls")
        if found is not None:
            return found
    member = connection.get("clientTls")
    if member:
        return TlsIdentity.from_files(Path(member["cert"]), Path(member["key"]))
    return None


def member_identities(connection: Mapping[str, Any], users: Path | None) -> list[str]:
    """Every identity a member can sign as: its connection file's (``user1``,
    ``orgadmin``) and each one enrolled later into ``users/NAME/msp`` (``consortium ca
    adduser``), sorted."""
    found = users.glob("*/msp") if users else ()
    enrolled = (path.parent.name for path in found if path.is_dir())
    return sorted({*connection["identities"], *enrolled})


def member_signer(connection: Mapping[str, Any], users: Path, identity: str) -> Signer:
    """``identity`` of the member as a signer: one of its connection file's, else the one
    enrolled into ``users/<identity>/msp`` (attributes included); an identity it does
    not have is refused, naming those it has."""
    from ca.errors import CaError
    from ca.msp import load_signing_identity

    if identity in connection["identities"]:
        return signer_of(connection, identity)
    msp = users / identity / "msp"
    if "/" in identity or identity in ("", ".", "..") or not msp.is_dir():
        known = ", ".join(member_identities(connection, users))
        raise GatewayClientError(
            f"{identity!r}: not an identity of {connection['mspId']} (known: {known}); "
            f"enroll it into {users}/{identity}/msp"
        )
    try:
        return load_signing_identity(msp, connection["mspId"])
    except CaError as exc:
        raise GatewayClientError(f"{identity!r}: {exc}") from None


def _result_of(envelope: common_pb2.Envelope) -> bytes:
    """The chaincode's response payload, read back from the endorsed transaction."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    return read_endorsed_action(payload.data).chaincode_action.response.payload


def _event_of(envelope: common_pb2.Envelope) -> chaincode_event_pb2.ChaincodeEvent | None:
    """The chaincode event in the endorsed transaction, or None if it set none."""
    payload = common_pb2.Payload.FromString(envelope.payload)
    raw = read_endorsed_action(payload.data).chaincode_action.events
    event = chaincode_event_pb2.ChaincodeEvent.FromString(raw) if raw else None
    return event if event is not None and event.event_name else None
