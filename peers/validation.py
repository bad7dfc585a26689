"""Step 6 of the flow, first half: give every transaction of a block its validation code.

Each transaction is checked the way Fabric's committer checks it, and gets exactly the
``TxValidationCode`` Fabric would give:

1. structure — envelope, payload, headers (``BAD_PAYLOAD``, ``BAD_COMMON_HEADER``,
   ``BAD_CHANNEL_HEADER``, ``TARGET_CHAIN_NOT_FOUND``, ``UNKNOWN_TX_TYPE``);
2. the creator's signature (``BAD_CREATOR_SIGNATURE``) and the txid rule
   (``BAD_PROPOSAL_TXID``), then uniqueness (``DUPLICATE_TXID``);
3. the endorsed action: decodes (``BAD_RESPONSE_PAYLOAD``, ``BAD_RWSET``), names a
   defined chaincode (``INVALID_CHAINCODE``) at its current version
   (``EXPIRED_CHAINCODE``), writes only its own namespace (``ILLEGAL_WRITESET``), and
   its endorsements satisfy the chaincode's policy and any key-level policy
   (``ENDORSEMENT_POLICY_FAILURE``);
4. in block order, MVCC against committed state plus the block's earlier valid writes
   (``MVCC_READ_CONFLICT``, ``PHANTOM_READ_CONFLICT``).

``docs/validation-codes.md`` explains each code for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from fabric_protos.common import common_pb2, policies_pb2
from fabric_protos.peer import (
    proposal_pb2,
    proposal_response_pb2,
    transaction_pb2,
)
from google.protobuf.message import DecodeError

from ca.channelconfig import ChannelConfig
from ca.errors import CaError
from ca.policy import evaluate
from chaincode.mvcc import MVCC_READ_CONFLICT, PHANTOM_READ_CONFLICT, validate
from chaincode.state import StateReader, Version, VersionedValue
from peers.lifecycle import APPROVAL_PREFIX, LIFECYCLE_NAMESPACE, ChaincodeDefinition
from peers.rwset import BadRWSet, CommittedRWSet, decode_rwset
from peers.worldstate import BlockUpdate, WorldState
from proto.signer import SignedData
from proto.txid import compute_txid

Code = transaction_pb2.TxValidationCode
VALIDATION_PARAMETER = "VALIDATION_PARAMETER"
"""The key-metadata entry holding a key-level (state-based) endorsement policy."""


class Invalid(Exception):
    """A transaction's validation code other than VALID, with why."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code


@dataclass
class Checked:
    """A transaction that passed steps 1–3, waiting for MVCC."""

    tx_id: str
    chaincode: str
    rwset: CommittedRWSet


@dataclass(frozen=True)
class TxVerdict:
    tx_id: str
    code: int
    reason: str = ""

    @property
    def code_name(self) -> str:
        return Code.Name(self.code)


Definitions = Callable[[str], ChaincodeDefinition | None]


def _decode(message_type, data: bytes, code: int, what: str):
    try:
        return message_type.FromString(data)
    except DecodeError:
        raise Invalid(code, f"{what} does not decode") from None


class BlockOverlay:
    """Committed state seen through the writes of a block's earlier valid transactions."""

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.writes: dict[tuple[str, str], VersionedValue | None] = {}

    def record(self, rwset: CommittedRWSet, position: Version) -> None:
        for namespace, rw in rwset.public.namespaces.items():
            for key, value in rw.writes.items():
                self.writes[(namespace, key)] = (
                    None if value is None else VersionedValue(value, position)
                )

    def get(self, namespace: str, key: str) -> VersionedValue | None:
        if (namespace, key) in self.writes:
            return self.writes[(namespace, key)]
        return self.base.get(namespace, key)

    def scan(self, namespace: str, start: str, end: str) -> Iterator[tuple[str, VersionedValue]]:
        overlay = {
            key: value
            for (ns, key), value in self.writes.items()
            if ns == namespace and key >= start and (not end or key < end)
        }
        merged = {key: value for key, value in self.base.scan(namespace, start, end)}
        merged.update(overlay)
        for key in sorted(merged):
            if merged[key] is not None:
                yield key, merged[key]  # type: ignore[misc]

    def __getattr__(self, name: str):  # history, private reads: committed state only
        return getattr(self.base, name)


class BlockValidator:
    """Validates the transactions of one channel's blocks against its state."""

    def __init__(self, config: ChannelConfig, state: WorldState, definitions: Definitions) -> None:
        self.config = config
        self.state = state
        self.definitions = definitions

    def validate_block(self, block: common_pb2.Block) -> tuple[list[TxVerdict], BlockUpdate]:
        update = BlockUpdate(number=block.header.number)
        verdicts: list[TxVerdict] = []
        checked: list[Checked | None] = []
        seen: set[str] = set()
        for data in block.data.data:
            tx_id = ""
            try:
                tx_id, item = self._check(data, seen)
                checked.append(item)
                verdicts.append(TxVerdict(tx_id, Code.VALID))
            except Invalid as invalid:
                checked.append(None)
                verdicts.append(TxVerdict(tx_id or tx_id_of(data), invalid.code, str(invalid)))
            if verdicts[-1].tx_id:
                seen.add(verdicts[-1].tx_id)
        overlay = BlockOverlay(self.state)
        for number, item in enumerate(checked):
            if item is None:
                continue
            code = self._mvcc(item.rwset, overlay)
            if code != Code.VALID:
                verdicts[number] = TxVerdict(item.tx_id, code, _MVCC_REASONS[code])
                continue
            position = Version(block.header.number, number)
            overlay.record(item.rwset, position)
            update.writes.append((position, item.tx_id, item.rwset.public))
            for write in item.rwset.hashed_writes:
                update.hashed_writes.append(
                    (position, write.namespace, write.collection, write.key_hash, write.value_hash)
                )
            for c in item.rwset.collection_hashes:
                update.expected_private.append(
                    (position, item.tx_id, c.namespace, c.collection, c.pvt_rwset_hash)
                )
        update.transactions = [(v.tx_id, v.code) for v in verdicts]
        return verdicts, update

    # -- steps 1–3 --------------------------------------------------------------------------

    def _check(self, data: bytes, seen: set[str]) -> tuple[str, Checked | None]:
        if not data:
            raise Invalid(Code.NIL_ENVELOPE, "empty envelope")
        envelope = _decode(common_pb2.Envelope, data, Code.BAD_PAYLOAD, "envelope")
        payload = _decode(common_pb2.Payload, envelope.payload, Code.BAD_PAYLOAD, "payload")
        if not payload.header.channel_header or not payload.header.signature_header:
            raise Invalid(Code.BAD_COMMON_HEADER, "payload header is missing a part")
        header = _decode(
            common_pb2.ChannelHeader,
            payload.header.channel_header,
            Code.BAD_CHANNEL_HEADER,
            "channel header",
        )
        signature_header = _decode(
            common_pb2.SignatureHeader,
            payload.header.signature_header,
            Code.BAD_COMMON_HEADER,
            "signature header",
        )
        if header.channel_id != self.config.channel_id:
            raise Invalid(
                Code.TARGET_CHAIN_NOT_FOUND,
                f"transaction is for channel {header.channel_id!r}, not {self.config.channel_id!r}",
            )
        if header.type == common_pb2.CONFIG:
            return header.tx_id, None  # checked by the orderer; applied by the committer
        if header.type != common_pb2.ENDORSER_TRANSACTION:
            raise Invalid(Code.UNKNOWN_TX_TYPE, f"header type {header.type} is not handled")
        if not signature_header.creator or not signature_header.nonce:
            raise Invalid(Code.BAD_COMMON_HEADER, "signature header needs creator and nonce")
        try:
            self.config.msps.check_signature(
                signature_header.creator, envelope.payload, envelope.signature
            )
        except CaError as exc:
            raise Invalid(Code.BAD_CREATOR_SIGNATURE, str(exc)) from None
        expected = compute_txid(signature_header.nonce, signature_header.creator)
        if header.tx_id != expected:
            raise Invalid(
                Code.BAD_PROPOSAL_TXID, f"txid {header.tx_id!r} is not hex(SHA-256(nonce‖creator))"
            )
        if header.tx_id in seen or self.state.transaction(header.tx_id) is not None:
            raise Invalid(Code.DUPLICATE_TXID, f"txid {header.tx_id} was already committed")
        return header.tx_id, self._check_action(header.tx_id, payload, header)

    def _check_action(
        self, tx_id: str, payload: common_pb2.Payload, header: common_pb2.ChannelHeader
    ) -> Checked:
        action, chaincode_action = unpack_endorsed_action(payload.data)
        extension = _decode(
            proposal_pb2.ChaincodeHeaderExtension,
            header.extension,
            Code.BAD_HEADER_EXTENSION,
            "header extension",
        )
        name = extension.chaincode_id.name
        try:
            rwset = decode_rwset(chaincode_action.results)
        except BadRWSet as exc:
            raise Invalid(Code.BAD_RWSET, str(exc)) from None
        definition = self.definitions(name)
        if definition is None and name != LIFECYCLE_NAMESPACE:
            raise Invalid(
                Code.INVALID_CHAINCODE, f"chaincode {name!r} is not defined on the channel"
            )
        if definition is not None and chaincode_action.chaincode_id.version not in (
            "",
            definition.version,
        ):
            raise Invalid(
                Code.EXPIRED_CHAINCODE,
                f"endorsed by {name} version {chaincode_action.chaincode_id.version!r}; "
                f"the channel now runs version {definition.version!r}",
            )
        for namespace in rwset.public.namespaces:
            written = rwset.public.namespaces[namespace]
            if namespace != name and (written.writes or written.metadata_writes):
                raise Invalid(
                    Code.ILLEGAL_WRITESET, f"{name} writes to namespace {namespace!r}, not its own"
                )
        endorsements = [
            SignedData(
                action.action.proposal_response_payload + e.endorser, e.endorser, e.signature
            )
            for e in action.action.endorsements
        ]
        self._check_endorsements(name, definition, rwset, endorsements)
        return Checked(tx_id, name, rwset)

    def _check_endorsements(
        self,
        name: str,
        definition: ChaincodeDefinition | None,
        rwset: CommittedRWSet,
        endorsements: list[SignedData],
    ) -> None:
        key_policies = []
        for namespace, key in rwset.written_keys():
            current = self.state.get(namespace, key)
            if current is not None and VALIDATION_PARAMETER in current.metadata:
                key_policies.append((key, current.metadata[VALIDATION_PARAMETER]))
        plain_writes = len(rwset.written_keys()) > len(key_policies)
        if plain_writes or not key_policies:
            keys = [key for _, key in rwset.written_keys()]
            policy_name, satisfied = self._chaincode_policy(name, definition, endorsements, keys)
            if not satisfied:
                raise Invalid(
                    Code.ENDORSEMENT_POLICY_FAILURE,
                    f"endorsements of {len(endorsements)} peer(s) do not satisfy {policy_name}",
                )
        for key, raw in key_policies:
            try:
                envelope = policies_pb2.SignaturePolicyEnvelope.FromString(raw)
            except DecodeError:
                raise Invalid(
                    Code.ENDORSEMENT_POLICY_FAILURE, f"key {key!r} has an unreadable policy"
                ) from None
            if not evaluate(envelope, endorsements, self.config.msps):
                raise Invalid(
                    Code.ENDORSEMENT_POLICY_FAILURE,
                    f"endorsements do not satisfy the key-level policy of {key!r}",
                )

    def _chaincode_policy(
        self,
        name: str,
        definition: ChaincodeDefinition | None,
        endorsements: list[SignedData],
        written: list[str],
    ) -> tuple[str, bool]:
        if definition is None:  # _lifecycle itself
            path = lifecycle_policy_path(written)
            return path, self.config.evaluate(path, endorsements)
        policy = definition.endorsement_policy
        if policy.HasField("signature_policy"):
            label = f"the signature policy of {name}"
            return label, evaluate(policy.signature_policy, endorsements, self.config.msps)
        path = policy.channel_config_policy_reference or "/Channel/Application/Endorsement"
        return path, self.config.evaluate(path, endorsements)

    # -- step 4 -------------------------------------------------------------------------------

    def _mvcc(self, rwset: CommittedRWSet, overlay: BlockOverlay) -> int:
        result = validate(rwset.public, overlay)
        if result == MVCC_READ_CONFLICT:
            return Code.MVCC_READ_CONFLICT
        if result == PHANTOM_READ_CONFLICT:
            return Code.PHANTOM_READ_CONFLICT
        for read in rwset.hashed_reads:
            current = self.state.get_private_hash(read.namespace, read.collection, read.key_hash)
            if (current.version if current else None) != read.version:
                return Code.MVCC_READ_CONFLICT
        return Code.VALID


def lifecycle_policy_path(written: list[str]) -> str:
    """An org's approval needs only that org's endorsement (Fabric keeps approvals in the
    org's implicit collection); anything else in ``_lifecycle`` needs the channel's
    LifecycleEndorsement policy."""
    owners = {key.rsplit("/", 1)[-1] for key in written if key.startswith(APPROVAL_PREFIX)}
    if written and len(owners) == 1 and all(k.startswith(APPROVAL_PREFIX) for k in written):
        return f"/Channel/Application/{owners.pop()}/Endorsement"
    return "/Channel/Application/LifecycleEndorsement"


_MVCC_REASONS = {
    Code.MVCC_READ_CONFLICT: "a key it read was changed by an earlier transaction",
    Code.PHANTOM_READ_CONFLICT: "a range it scanned now holds different keys or versions",
}


def unpack_endorsed_action(
    payload_data: bytes,
) -> tuple[transaction_pb2.ChaincodeActionPayload, proposal_pb2.ChaincodeAction]:
    """The endorsed action of an endorser transaction and the chaincode action inside it
    (results = read/write set, events, response, chaincode id)."""
    transaction = _decode(transaction_pb2.Transaction, payload_data, Code.BAD_PAYLOAD, "tx")
    if len(transaction.actions) != 1:
        raise Invalid(Code.NIL_TXACTION, "an endorser transaction holds exactly one action")
    action = _decode(
        transaction_pb2.ChaincodeActionPayload,
        transaction.actions[0].payload,
        Code.BAD_PAYLOAD,
        "chaincode action payload",
    )
    response_payload = _decode(
        proposal_response_pb2.ProposalResponsePayload,
        action.action.proposal_response_payload,
        Code.BAD_RESPONSE_PAYLOAD,
        "proposal response payload",
    )
    chaincode_action = _decode(
        proposal_pb2.ChaincodeAction,
        response_payload.extension,
        Code.BAD_RESPONSE_PAYLOAD,
        "chaincode action",
    )
    return action, chaincode_action


def tx_id_of(data: bytes) -> str:
    """Best-effort txid of an invalid transaction, for its CommitStatus."""
    try:
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(data).payload)
        return common_pb2.ChannelHeader.FromString(payload.header.channel_header).tx_id
    except DecodeError:
        return ""
