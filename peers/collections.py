"""Private data collections as a chaincode definition declares them (Fabric's
``CollectionConfigPackage``, approved and committed with the definition).

Only what the peer acts on is kept: which organizations are members (the MSP IDs named by
the ``member_orgs_policy`` signature policy, as Fabric's ``MemberOrgs``), how many peers
must (``required_peer_count``) and may (``maximum_peer_count``) receive the clear data at
endorsement, how long committed data lives (``block_to_live``, 0 = forever), the member-only
read/write flags and the collection's own endorsement policy, if any.
"""

from __future__ import annotations

from dataclasses import dataclass

from fabric_protos.msp import identities_pb2, msp_principal_pb2
from fabric_protos.peer import collection_pb2
from google.protobuf.message import DecodeError

from chaincode.collections import Collection as GuardedCollection
from chaincode.collections import CollectionPolicy
from peers.errors import PeerError
from peers.lifecycle import ChaincodeDefinition


class CollectionError(PeerError):
    """A collection config the peer cannot use; the message names the collection."""


@dataclass(frozen=True)
class Collection:
    name: str
    member_orgs: frozenset[str]
    required_peer_count: int = 0
    maximum_peer_count: int = 0
    block_to_live: int = 0
    member_only_read: bool = False
    member_only_write: bool = False
    endorsement_policy: bytes = b""
    """A serialized ``ApplicationPolicy`` that replaces the chaincode's for writes to the
    collection (Fabric 2's collection-level endorsement policy); b"" = none."""

    def is_member(self, mspid: str) -> bool:
        return mspid in self.member_orgs


def _member_orgs(config: collection_pb2.StaticCollectionConfig) -> frozenset[str]:
    """MSP IDs of the principals the member policy names (any role counts, as Fabric)."""
    orgs = set()
    policy = config.member_orgs_policy.signature_policy
    for principal in policy.identities:
        try:
            if principal.principal_classification == msp_principal_pb2.MSPPrincipal.ROLE:
                orgs.add(msp_principal_pb2.MSPRole.FromString(principal.principal).msp_identifier)
            elif principal.principal_classification == msp_principal_pb2.MSPPrincipal.IDENTITY:
                identity = identities_pb2.SerializedIdentity.FromString(principal.principal)
                orgs.add(identity.mspid)
        except DecodeError:
            raise CollectionError(
                f"collection {config.name}: member_orgs_policy has a principal that does not decode"
            ) from None
    return frozenset(orgs)


def collection_from_config(config: collection_pb2.StaticCollectionConfig) -> Collection:
    if not config.name:
        raise CollectionError("a collection config has no name")
    if config.required_peer_count < 0 or config.maximum_peer_count < config.required_peer_count:
        raise CollectionError(
            f"collection {config.name}: maximum_peer_count ({config.maximum_peer_count}) "
            f"must be at least required_peer_count ({config.required_peer_count})"
        )
    return Collection(
        name=config.name,
        member_orgs=_member_orgs(config),
        required_peer_count=config.required_peer_count,
        maximum_peer_count=config.maximum_peer_count,
        block_to_live=config.block_to_live,
        member_only_read=config.member_only_read,
        member_only_write=config.member_only_write,
        endorsement_policy=(
            config.endorsement_policy.SerializeToString()
            if config.HasField("endorsement_policy")
            else b""
        ),
    )


def collections_of(definition: ChaincodeDefinition | None) -> dict[str, Collection]:
    """The definition's static collections by name (none without a definition)."""
    if definition is None:
        return {}
    return {
        config.static_collection_config.name: collection_from_config(
            config.static_collection_config
        )
        for config in definition.result.collections.config
        if config.HasField("static_collection_config")
    }


def collection_guard(definition: ChaincodeDefinition) -> CollectionPolicy:
    """The shim's access checks (defined collection, member-only read/write) for one
    chaincode's collections; the same rules the test harness applies."""
    guard = CollectionPolicy()
    guard.define(
        definition.name,
        [
            GuardedCollection(
                c.name, tuple(sorted(c.member_orgs)), c.member_only_read, c.member_only_write
            )
            for c in collections_of(definition).values()
        ],
    )
    return guard


def mspid_of(creator: bytes) -> str:
    """The MSP ID a serialized identity claims ("" if it does not decode)."""
    try:
        return identities_pb2.SerializedIdentity.FromString(creator).mspid
    except DecodeError:
        return ""
