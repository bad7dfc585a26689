"""Fabric's private data collection access rules: one place for the peer and the harness.

A collection is defined by the chaincode definition (the peer) or by the test (the
harness); either way the shim asks the same questions: is it defined, and may this
creator read or write it (``memberOnlyRead`` / ``memberOnlyWrite``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fabric_protos.msp import identities_pb2
from google.protobuf.message import DecodeError

from chaincode.errors import CollectionAccessError


@dataclass(frozen=True)
class Collection:
    """A private data collection definition, as far as access checks need it."""

    name: str
    members: tuple[str, ...]
    member_only_read: bool = True
    member_only_write: bool = True


class CollectionPolicy:
    """Fabric's collection access rules for the chaincodes of one harness."""

    def __init__(self) -> None:
        self._by_chaincode: dict[str, dict[str, Collection]] = {}

    def define(self, chaincode: str, collections: Iterable[Collection]) -> None:
        self._by_chaincode[chaincode] = {c.name: c for c in collections}

    def require_defined(self, namespace: str, collection: str) -> Collection:
        definition = self._by_chaincode.get(namespace, {}).get(collection)
        if definition is None:
            raise CollectionAccessError(
                f"collection {collection}: not defined for chaincode {namespace}"
            )
        return definition

    def check(self, namespace: str, collection: str, creator: bytes, write: bool) -> None:
        definition = self.require_defined(namespace, collection)
        restricted = definition.member_only_write if write else definition.member_only_read
        if restricted and _mspid(creator) not in definition.members:
            access = "write" if write else "read"
            raise CollectionAccessError(
                f"tx creator does not have {access} access permission on privatedata in "
                f"chaincodeName:{namespace} collectionName: {collection}"
            )


def _mspid(creator: bytes) -> str:
    try:
        return identities_pb2.SerializedIdentity.FromString(creator).mspid
    except DecodeError:
        return ""
