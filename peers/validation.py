"""Validate & commit (flow step 6), the validating half: give every transaction of a
block its validation code.

Each transaction is checked the way Fabric's committer checks it, and gets exactly the
``TxValidationCode`` Fabric would give, in Fabric's order of checks:

- **structure** — envelope, payload, headers (``NIL_ENVELOPE``, ``BAD_PAYLOAD``,
  ``BAD_COMMON_HEADER``, ``BAD_CHANNEL_HEADER``: read once by ``proto.envelope``), the
  channel (``TARGET_CHAIN_NOT_FOUND``) and the type (``UNKNOWN_TX_TYPE``);
- **creator** — the creator's signature (``BAD_CREATOR_SIGNATURE``) and the txid rule
  (``BAD_PROPOSAL_TXID``), then uniqueness (``DUPLICATE_TXID``);
- **endorsed action** — decodes (``BAD_PAYLOAD``, ``NIL_TXACTION``,
  ``BAD_RESPONSE_PAYLOAD``, ``BAD_HEADER_EXTENSION``, ``BAD_RWSET``), names a defined
  chaincode (``INVALID_CHAINCODE``; as Fabric 2's validator, no version check: an
  endorsement under an older definition fails MVCC on the ``_lifecycle`` sequence it read),
  writes only its own namespace (``ILLEGAL_WRITESET``), and its endorsements satisfy the
  chaincode's policy and any key-level policy, public or private (a private key's policy
  is in the metadata of its hash, which every peer holds; without one, a write to a
  collection that has its own endorsement policy needs that one instead of the
  chaincode's) (``ENDORSEMENT_POLICY_FAILURE``);
- **MVCC** — in block order, against committed state plus the block's earlier valid
  writes (``MVCC_READ_CONFLICT``, ``PHANTOM_READ_CONFLICT``).

``docs/validation-codes.md`` explains each code for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2, policies_pb2
from fabric_protos.peer import policy_pb2
from google.protobuf.message import DecodeError

from ca.channelconfig import ChannelConfig
from ca.errors import CaError
from ca.policy import evaluate
from chaincode.mvcc import MVCC_READ_CONFLICT, PHANTOM_READ_CONFLICT, validate
from chaincode.state import StateReader, Version, VersionedValue
from peers.collections import collections_of
from peers.lifecycle import APPROVAL_PREFIX, LIFECYCLE_NAMESPACE, ChaincodeDefinition
from peers.rwset import BadRWSet, CommittedRWSet, decode_rwset
from peers.worldstate import BlockUpdate, WorldState, block_update
from proto.envelope import Code, Invalid, ParsedTx
from proto.signer import SignedData
from proto.txid import compute_txid

VALIDATION_PARAMETER = "VALIDATION_PARAMETER"
"""The key-metadata entry holding a key-level (state-based) endorsement policy."""


@dataclass
class Checked:
    """A transaction that passed every check but MVCC, which waits for the whole block."""

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

    def validate_block(
        self, number: int, txs: Sequence[ParsedTx]
    ) -> tuple[list[TxVerdict], BlockUpdate]:
        """The verdict of each of block ``number``'s transactions (``txs``, read once by
        the committer) and what the valid ones change in the world state."""
        verdicts: list[TxVerdict] = []
        checked: list[Checked | None] = []
        seen: set[str] = set()
        new_metadata: set[tuple[str, str, str | bytes]] = set()
        for tx in txs:
            try:
                item = self._check(tx, seen)
                if item is not None:
                    _check_metadata_dependency(item.rwset, new_metadata)
                checked.append(item)
                verdicts.append(TxVerdict(tx.tx_id, Code.VALID))
            except Invalid as invalid:
                checked.append(None)
                verdicts.append(TxVerdict(tx.tx_id, invalid.code, str(invalid)))
            if tx.tx_id:
                seen.add(tx.tx_id)
        self._check_mvcc(number, checked, verdicts)
        outcomes = [
            (verdict.tx_id, verdict.code, None if item is None else item.rwset)
            for verdict, item in zip(verdicts, checked, strict=True)
        ]
        return verdicts, block_update(number, outcomes)

    # -- per transaction: structure, creator, endorsed action ----------------------------

    def _check(self, tx: ParsedTx, seen: set[str]) -> Checked | None:
        """Every check but MVCC; None for a valid config transaction (checked by the
        orderer, applied by the committer)."""
        header, signature_header = self._check_structure(tx)
        if header.type == common_pb2.CONFIG:
            return None
        self._check_creator(tx, header, signature_header, seen)
        return self._check_action(tx)

    def _check_structure(
        self, tx: ParsedTx
    ) -> tuple[common_pb2.ChannelHeader, common_pb2.SignatureHeader]:
        if tx.error is not None:
            raise tx.error.again()
        header, signature_header = tx.channel_header, tx.signature_header
        assert header is not None and signature_header is not None  # no error: both decoded
        if header.channel_id != self.config.channel_id:
            raise Invalid(
                Code.TARGET_CHAIN_NOT_FOUND,
                f"transaction is for channel {header.channel_id!r}, not {self.config.channel_id!r}",
            )
        if header.type not in (common_pb2.CONFIG, common_pb2.ENDORSER_TRANSACTION):
            raise Invalid(Code.UNKNOWN_TX_TYPE, f"header type {header.type} is not handled")
        return header, signature_header

    def _check_creator(
        self,
        tx: ParsedTx,
        header: common_pb2.ChannelHeader,
        signature_header: common_pb2.SignatureHeader,
        seen: set[str],
    ) -> None:
        if not signature_header.creator or not signature_header.nonce:
            raise Invalid(Code.BAD_COMMON_HEADER, "signature header needs creator and nonce")
        assert tx.envelope is not None  # the headers decoded, so did the envelope
        try:
            self.config.msps.check_signature(
                signature_header.creator, tx.envelope.payload, tx.envelope.signature
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

    def _check_action(self, tx: ParsedTx) -> Checked:
        action = tx.action
        chaincode_action = action.chaincode_action
        name = tx.extension.chaincode_id.name
        try:
            rwset = decode_rwset(chaincode_action.results)
        except BadRWSet as exc:
            raise Invalid(Code.BAD_RWSET, str(exc)) from None
        definition = self.definitions(name)
        if definition is None and name != LIFECYCLE_NAMESPACE:
            raise Invalid(
                Code.INVALID_CHAINCODE, f"chaincode {name!r} is not defined on the channel"
            )
        for namespace in rwset.public.namespaces:
            written = rwset.public.namespaces[namespace]
            if namespace != name and (written.writes or written.metadata_writes):
                raise Invalid(
                    Code.ILLEGAL_WRITESET, f"{name} writes to namespace {namespace!r}, not its own"
                )
        signed = action.endorsed.proposal_response_payload
        endorsements = [
            SignedData(signed + e.endorser, e.endorser, e.signature)
            for e in action.endorsed.endorsements
        ]
        self._check_endorsements(name, definition, rwset, endorsements)
        return Checked(tx.tx_id, name, rwset)

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
        plain_writes = len(rwset.written_keys()) - len(key_policies)
        # A private key: its key-level policy, else its collection's endorsement policy,
        # else the chaincode's (Fabric's order).
        private_keys = rwset.written_key_hashes()
        collections = collections_of(definition) if private_keys else {}
        collection_policies: dict[str, bytes] = {}
        for namespace, collection, key_hash in private_keys:
            hashed = self.state.get_private_hash(namespace, collection, key_hash)
            found = collections.get(collection) if namespace == name else None
            if hashed is not None and VALIDATION_PARAMETER in hashed.metadata:
                label = f"{collection}/{key_hash.hex()[:16]}…"
                key_policies.append((label, hashed.metadata[VALIDATION_PARAMETER]))
            elif found is not None and found.endorsement_policy:
                collection_policies[collection] = found.endorsement_policy
            else:
                plain_writes += 1
        if plain_writes or not (key_policies or collection_policies):
            keys = [key for _, key in rwset.written_keys()]
            policy_name, satisfied = self._chaincode_policy(name, definition, endorsements, keys)
            if not satisfied:
                raise Invalid(
                    Code.ENDORSEMENT_POLICY_FAILURE,
                    f"endorsements of {len(endorsements)} peer(s) do not satisfy {policy_name}",
                )
        for collection, raw in collection_policies.items():
            policy_name, satisfied = self._application_policy(
                policy_pb2.ApplicationPolicy.FromString(raw),
                f"the endorsement policy of collection {collection}",
                endorsements,
            )
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
        return self._application_policy(
            definition.endorsement_policy, f"the signature policy of {name}", endorsements
        )

    def _application_policy(
        self, policy: policy_pb2.ApplicationPolicy, label: str, endorsements: list[SignedData]
    ) -> tuple[str, bool]:
        """A chaincode's or collection's endorsement policy: a signature policy (named
        ``label``) or a channel policy (named by its path)."""
        if policy.HasField("signature_policy"):
            return label, evaluate(policy.signature_policy, endorsements, self.config.msps)
        path = policy.channel_config_policy_reference or "/Channel/Application/Endorsement"
        return path, self.config.evaluate(path, endorsements)

    # -- in block order: MVCC ------------------------------------------------------------

    def _check_mvcc(
        self, number: int, checked: list[Checked | None], verdicts: list[TxVerdict]
    ) -> None:
        """Each checked transaction against committed state plus the writes of the block's
        earlier valid ones; a conflict replaces its VALID verdict."""
        overlay = BlockOverlay(self.state)
        for index, item in enumerate(checked):
            if item is None:
                continue
            code = self._mvcc(item.rwset, overlay)
            if code != Code.VALID:
                verdicts[index] = TxVerdict(item.tx_id, code, _MVCC_REASONS[code])
                continue
            overlay.record(item.rwset, Version(number, index))

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


def _check_metadata_dependency(
    rwset: CommittedRWSet, new_metadata: set[tuple[str, str, str | bytes]]
) -> None:
    """Fabric's rule for key-level policies within a block: once an earlier transaction
    that passed the endorsement checks wrote a key's metadata (its policy may have
    changed), a later one writing that key is ``ENDORSEMENT_POLICY_FAILURE``: it was
    endorsed under a policy that may no longer hold (``ValidationParameterUpdatedError``).
    Records this transaction's metadata writes for the ones after it."""
    if new_metadata:
        written = {(ns, "", key) for ns, key in rwset.written_keys()}
        written |= set(rwset.written_key_hashes())
        clash = written & new_metadata
        if clash:
            ns, collection, key = sorted(clash, key=repr)[0]
            name = key if isinstance(key, str) else f"{collection}/{key.hex()[:16]}…"
            raise Invalid(
                Code.ENDORSEMENT_POLICY_FAILURE,
                f"the metadata of key {name!r} ({ns}) was written by an earlier transaction "
                "in this block",
            )
    for ns, rw in rwset.public.namespaces.items():
        new_metadata.update((ns, "", key) for key in rw.metadata_writes)
    new_metadata.update(
        (w.namespace, w.collection, w.key_hash) for w in rwset.hashed_metadata_writes
    )


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
