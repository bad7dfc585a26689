"""Chaincode definitions as the channel agreed on them (Fabric's ``_lifecycle``).

A definition (name, version, sequence, endorsement policy, init-required, collections)
lives in the world state under the ``_lifecycle`` namespace, written by transactions that
went through ordering and validation like any other, so every peer of the channel reads
the same definitions at the same height.

Storage (documented in ``docs/architecture.md``): ``namespaces/<name>`` holds the
serialized ``lifecycle.QueryChaincodeDefinitionResult`` without approvals, and
``namespaces/fields/<name>/Sequence`` its sequence as Fabric stores it, the key every
endorsement reads. Approvals are
kept in the public ``_lifecycle`` namespace as ``approvals/<name>/<sequence>/<mspid>`` →
SHA-256 of the approved parameters, instead of Fabric's per-org implicit collections:
simpler, and what they reveal (who approved which parameters) is visible in Fabric too.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.peer import policy_pb2
from fabric_protos.peer.lifecycle import db_pb2, lifecycle_pb2
from google.protobuf.message import DecodeError

from chaincode.state import StateReader

LIFECYCLE_NAMESPACE = "_lifecycle"
DEFINITION_PREFIX = "namespaces/"
APPROVAL_PREFIX = "approvals/"


@dataclass(frozen=True)
class ChaincodeDefinition:
    name: str
    result: lifecycle_pb2.QueryChaincodeDefinitionResult

    @property
    def version(self) -> str:
        return self.result.version

    @property
    def sequence(self) -> int:
        return self.result.sequence

    @property
    def init_required(self) -> bool:
        return self.result.init_required

    @property
    def endorsement_policy(self) -> policy_pb2.ApplicationPolicy:
        """The chaincode's policy; an empty one means the channel's default reference."""
        try:
            return policy_pb2.ApplicationPolicy.FromString(self.result.validation_parameter)
        except DecodeError:
            return policy_pb2.ApplicationPolicy()


def definition_key(name: str) -> str:
    return DEFINITION_PREFIX + name


def sequence_key(name: str) -> str:
    """Fabric's key of a definition's sequence, which every endorsement of the chaincode
    reads (so a transaction endorsed under one definition is invalid after the next)."""
    return f"{DEFINITION_PREFIX}fields/{name}/Sequence"


def encode_sequence(sequence: int) -> bytes:
    """The sequence as Fabric's lifecycle serializer stores a field: ``StateData``."""
    return db_pb2.StateData(Int64=sequence).SerializeToString(deterministic=True)


def encode_definition(result: lifecycle_pb2.QueryChaincodeDefinitionResult) -> bytes:
    stored = lifecycle_pb2.QueryChaincodeDefinitionResult()
    stored.CopyFrom(result)
    stored.ClearField("approvals")
    return stored.SerializeToString(deterministic=True)


def decode_definition(name: str, stored: bytes | None) -> ChaincodeDefinition | None:
    if stored is None:
        return None
    return ChaincodeDefinition(
        name, lifecycle_pb2.QueryChaincodeDefinitionResult.FromString(stored)
    )


def read_definition(state: StateReader, name: str) -> ChaincodeDefinition | None:
    stored = state.get(LIFECYCLE_NAMESPACE, definition_key(name))
    return decode_definition(name, stored.value if stored else None)


def list_definitions(state: StateReader) -> list[ChaincodeDefinition]:
    return [
        ChaincodeDefinition(
            key.removeprefix(DEFINITION_PREFIX),
            lifecycle_pb2.QueryChaincodeDefinitionResult.FromString(value.value),
        )
        for key, value in state.scan(
            LIFECYCLE_NAMESPACE, DEFINITION_PREFIX, DEFINITION_PREFIX + "\U0010ffff"
        )
        if "/" not in key.removeprefix(DEFINITION_PREFIX)  # not a field (the sequence)
    ]
