"""The ``_lifecycle`` system chaincode, run inside the peer: how a channel agrees on a
chaincode definition, with the function names and protobuf arguments ``peer lifecycle``
uses.

- ``InstallChaincode`` / ``QueryInstalledChaincodes`` (no channel, org admin only):
  keep a package on this peer.
- ``ApproveChaincodeDefinitionForMyOrg`` (a transaction, endorsed by the org's own peer):
  records the org's approval of exact parameters at the next sequence.
- ``CheckCommitReadiness`` / ``QueryChaincodeDefinition(s)``: read what was agreed.
- ``CommitChaincodeDefinition`` (a transaction): succeeds only when the approvals satisfy
  the channel's ``LifecycleEndorsement`` policy, and writes the definition every peer
  then validates against.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import (
    chaincode_pb2,
    policy_pb2,
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from fabric_protos.peer.lifecycle import lifecycle_pb2
from google.protobuf.message import DecodeError, Message

from ca.channelconfig import ChannelConfig
from ca.errors import CaError
from ca.msp import Msp, Role
from chaincode.simulation import TxSimulator
from peers.endorser import UnpackedProposal
from peers.errors import PeerError
from peers.lifecycle import (
    APPROVAL_PREFIX,
    LIFECYCLE_NAMESPACE,
    ChaincodeDefinition,
    decode_definition,
    definition_key,
    encode_definition,
    encode_sequence,
    list_definitions,
    sequence_key,
)
from peers.local_admin import require_local_admin
from peers.packages import PackageError, PackageStore
from peers.planning import policy_satisfied
from peers.validation import TxVerdict
from proto.envelope import Code, ParsedTx

LIFECYCLE_POLICY = policy_pb2.ApplicationPolicy(
    channel_config_policy_reference="/Channel/Application/LifecycleEndorsement"
)
_PARAMETERS = (
    "sequence",
    "version",
    "endorsement_plugin",
    "validation_plugin",
    "validation_parameter",
    "collections",
    "init_required",
)


class LifecycleError(PeerError):
    """A lifecycle call that fails; the chaincode answers status 500 with this message."""


def approval_key(name: str, sequence: int, mspid: str) -> str:
    return f"{APPROVAL_PREFIX}{name}/{sequence}/{mspid}"


def parameters_hash(args: Message) -> bytes:
    """What an approval binds to: every definition parameter, not the package."""
    params = lifecycle_pb2.CommitChaincodeDefinitionArgs()
    _copy_parameters(args, params)
    return hashlib.sha256(params.SerializeToString(deterministic=True)).digest()


def _parse(message_type: type[Message], data: bytes, function: str) -> Message:
    try:
        return message_type.FromString(data)
    except DecodeError:
        raise LifecycleError(f"{function}: argument is not a {message_type.__name__}") from None


def _copy_parameters(source: Message, target: Message) -> None:
    for name in _PARAMETERS:
        value = getattr(source, name)
        if isinstance(value, Message):
            getattr(target, name).CopyFrom(value)
        else:
            setattr(target, name, value)


def _ok(payload: Message) -> proposal_response_pb2.Response:
    return proposal_response_pb2.Response(status=200, payload=payload.SerializeToString())


class LifecycleChaincode:
    def __init__(self, local_msp: Msp, packages: PackageStore) -> None:
        self.local_msp = local_msp
        self.mspid = local_msp.mspid
        self.packages = packages

    async def __call__(
        self, signed: proposal_pb2.SignedProposal, unpacked: UnpackedProposal
    ) -> proposal_response_pb2.ProposalResponse:
        """Channel-less calls (install, query installed): org admins only."""
        require_local_admin(
            self.local_msp, signed, unpacked.signature_header.creator, LIFECYCLE_NAMESPACE
        )
        args = list(unpacked.input.args)
        function = args[0].decode() if args else ""
        response = self.local(function, args[1] if len(args) > 1 else b"")
        return proposal_response_pb2.ProposalResponse(version=1, response=response)

    # -- peer-local functions -----------------------------------------------------------

    def local(self, function: str, argument: bytes) -> proposal_response_pb2.Response:
        """Install and query installed packages (the caller was checked to be an admin)."""
        try:
            if function == "InstallChaincode":
                args = _parse(lifecycle_pb2.InstallChaincodeArgs, argument, function)
                installed = self.packages.install(args.chaincode_install_package)
                return _ok(
                    lifecycle_pb2.InstallChaincodeResult(
                        package_id=installed.package_id, label=installed.label
                    )
                )
            if function == "QueryInstalledChaincodes":
                Installed = lifecycle_pb2.QueryInstalledChaincodesResult.InstalledChaincode
                return _ok(
                    lifecycle_pb2.QueryInstalledChaincodesResult(
                        installed_chaincodes=[
                            Installed(package_id=p.package_id, label=p.label)
                            for p in self.packages.installed()
                        ]
                    )
                )
        except (PackageError, LifecycleError) as exc:
            return proposal_response_pb2.Response(status=500, message=str(exc))
        return proposal_response_pb2.Response(
            status=500, message=f"_lifecycle function {function!r} needs a channel"
        )

    # -- channel functions ----------------------------------------------------------------

    def execute(
        self,
        channel_id: str,
        config: ChannelConfig,
        simulator: TxSimulator,
        creator: bytes,
        args: list[bytes],
    ) -> proposal_response_pb2.Response:
        function = args[0].decode() if args else ""
        argument = args[1] if len(args) > 1 else b""
        handlers = {
            "ApproveChaincodeDefinitionForMyOrg": self._approve,
            "CommitChaincodeDefinition": self._commit,
            "CheckCommitReadiness": self._readiness,
            "QueryChaincodeDefinition": self._query,
            "QueryChaincodeDefinitions": self._query_all,
        }
        if function not in handlers:
            return proposal_response_pb2.Response(
                status=500, message=f"unknown _lifecycle function {function!r}"
            )
        try:
            return handlers[function](channel_id, config, simulator, creator, argument)
        except LifecycleError as exc:
            return proposal_response_pb2.Response(status=500, message=f"{function}: {exc}")

    def _current(self, simulator: TxSimulator, name: str) -> ChaincodeDefinition | None:
        return decode_definition(
            name, simulator.get_state(LIFECYCLE_NAMESPACE, definition_key(name))
        )

    def _next_sequence(self, simulator: TxSimulator, name: str, sequence: int) -> None:
        current = self._current(simulator, name)
        expected = (current.sequence if current else 0) + 1
        if sequence != expected:
            raise LifecycleError(
                f"requested sequence is {sequence}, but new definition must be sequence {expected}"
            )

    def _approvable_sequence(self, simulator: TxSimulator, args: Message) -> None:
        """An org approves the next sequence, or — as Fabric allows, so an org that joins
        later can run a chaincode already defined — the committed one, unchanged."""
        current = self._current(simulator, args.name)
        if current is not None and args.sequence == current.sequence:
            if parameters_hash(args) != parameters_hash(current.result):
                raise LifecycleError(
                    f"attempted to redefine the current committed sequence ({current.sequence}) "
                    f"for namespace {args.name} with different parameters"
                )
            return
        self._next_sequence(simulator, args.name, args.sequence)

    def _approvals(
        self, config: ChannelConfig, simulator: TxSimulator, name: str, args: Message
    ) -> dict[str, bool]:
        expected = parameters_hash(args)
        return {
            mspid: simulator.get_state(
                LIFECYCLE_NAMESPACE, approval_key(name, args.sequence, mspid)
            )
            == expected
            for mspid in config.organizations("Application")
        }

    def _approve(self, channel_id, config, simulator, creator, argument):
        args = _parse(lifecycle_pb2.ApproveChaincodeDefinitionForMyOrgArgs, argument, "approve")
        try:
            msp, identity = config.msps.deserialize(creator)
            roles = msp.roles(identity)
        except CaError as exc:
            raise LifecycleError(str(exc)) from None
        if identity.mspid != self.mspid or Role.ADMIN not in roles:
            raise LifecycleError(
                f"an admin of {self.mspid} must approve for {self.mspid} "
                f"(the creator is {identity.enrollment_id} of {identity.mspid})"
            )
        if not args.name:
            raise LifecycleError("name is required")
        self._approvable_sequence(simulator, args)
        package = args.source.local_package.package_id
        if package:
            try:
                self.packages.get(package)
            except PackageError as exc:
                raise LifecycleError(str(exc)) from None
        simulator.put_state(
            LIFECYCLE_NAMESPACE,
            approval_key(args.name, args.sequence, self.mspid),
            parameters_hash(args),
        )
        return _ok(lifecycle_pb2.ApproveChaincodeDefinitionForMyOrgResult())

    def _readiness(self, channel_id, config, simulator, creator, argument):
        args = _parse(lifecycle_pb2.CheckCommitReadinessArgs, argument, "readiness")
        self._next_sequence(simulator, args.name, args.sequence)
        approvals = self._approvals(config, simulator, args.name, args)
        return _ok(lifecycle_pb2.CheckCommitReadinessResult(approvals=approvals))

    def _commit(self, channel_id, config, simulator, creator, argument):
        args = _parse(lifecycle_pb2.CommitChaincodeDefinitionArgs, argument, "commit")
        if not args.name:
            raise LifecycleError("name is required")
        self._next_sequence(simulator, args.name, args.sequence)
        approvals = self._approvals(config, simulator, args.name, args)
        agreed = {mspid for mspid, approved in approvals.items() if approved}
        if not policy_satisfied(LIFECYCLE_POLICY, config, agreed):
            raise LifecycleError(
                f"chaincode definition not agreed to by enough orgs: approvals {approvals}"
            )
        result = lifecycle_pb2.QueryChaincodeDefinitionResult()
        _copy_parameters(args, result)
        simulator.put_state(
            LIFECYCLE_NAMESPACE, definition_key(args.name), encode_definition(result)
        )
        simulator.put_state(
            LIFECYCLE_NAMESPACE, sequence_key(args.name), encode_sequence(args.sequence)
        )
        return _ok(lifecycle_pb2.CommitChaincodeDefinitionResult())

    def _query(self, channel_id, config, simulator, creator, argument):
        args = _parse(lifecycle_pb2.QueryChaincodeDefinitionArgs, argument, "query")
        current = self._current(simulator, args.name)
        if current is None:
            raise LifecycleError(f"namespace {args.name} is not defined")
        result = lifecycle_pb2.QueryChaincodeDefinitionResult()
        result.CopyFrom(current.result)
        for mspid, approved in self._approvals(config, simulator, args.name, result).items():
            result.approvals[mspid] = approved
        return _ok(result)

    def _query_all(self, channel_id, config, simulator, creator, argument):
        Definition = lifecycle_pb2.QueryChaincodeDefinitionsResult.ChaincodeDefinition
        definitions = []
        for stored in list_definitions(simulator.state):
            entry = Definition(name=stored.name)
            _copy_parameters(stored.result, entry)
            definitions.append(entry)
        return _ok(lifecycle_pb2.QueryChaincodeDefinitionsResult(chaincode_definitions=definitions))


def committed_approvals(
    txs: Sequence[ParsedTx], verdicts: Sequence[TxVerdict], mspid: str
) -> Iterator[tuple[str, int, str]]:
    """(name, sequence, package id) of each valid ``ApproveChaincodeDefinitionForMyOrg``
    of ``mspid`` in a committed block.

    Fabric keeps an organization's chosen package in the organization's implicit private
    collection, which every peer of the organization holds; here every peer of the
    organization reads it from the committed approval itself. Either way a peer that
    joins later learns it while it replays the channel, so it can run the chaincode."""
    for tx, verdict in zip(txs, verdicts, strict=True):
        if verdict.code != Code.VALID or tx.header_type != common_pb2.ENDORSER_TRANSACTION:
            continue
        if tx.extension.chaincode_id.name != LIFECYCLE_NAMESPACE:
            continue
        creator = identities_pb2.SerializedIdentity.FromString(tx.signature_header.creator)
        if creator.mspid != mspid:
            continue
        args = _invocation_args(tx)
        if len(args) < 2 or args[0] != b"ApproveChaincodeDefinitionForMyOrg":
            continue
        try:
            approval = lifecycle_pb2.ApproveChaincodeDefinitionForMyOrgArgs.FromString(args[1])
        except DecodeError:
            continue
        if approval.source.local_package.package_id:
            yield approval.name, approval.sequence, approval.source.local_package.package_id


def _invocation_args(tx: ParsedTx) -> list[bytes]:
    """The chaincode arguments a committed transaction was proposed with (its proposal
    payload travels in the transaction; only the transient map is left out)."""
    assert tx.payload is not None
    try:
        action = transaction_pb2.ChaincodeActionPayload.FromString(
            transaction_pb2.Transaction.FromString(tx.payload.data).actions[0].payload
        )
        proposal = proposal_pb2.ChaincodeProposalPayload.FromString(
            action.chaincode_proposal_payload
        )
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(proposal.input)
    except (DecodeError, IndexError):
        return []
    return list(spec.chaincode_spec.input.args)
