"""The state-access interface the shim handler simulates against.

The peer implements it on its LMDB world state; ``chaincode.memory`` implements it in
memory for the harness. It is deliberately read-mostly: a simulation only reads, and
``commit`` applies a validated transaction's writes at its ledger position.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from chaincode.version import Version  # also imported from here by the state's users

if TYPE_CHECKING:
    from chaincode.rwset import TxRWSet


@dataclass(frozen=True)
class VersionedValue:
    value: bytes
    version: Version
    metadata: Mapping[str, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class KeyModification:
    """One entry of a key's history, as ``GetHistoryForKey`` returns it."""

    tx_id: str
    value: bytes
    timestamp: float
    is_delete: bool


class StateReader(Protocol):
    """Committed world state; ranges are ``[start, end)`` in key order, ``""`` = unbounded."""

    def get(self, namespace: str, key: str) -> VersionedValue | None: ...

    def scan(
        self, namespace: str, start: str, end: str
    ) -> Iterator[tuple[str, VersionedValue]]: ...

    def history(self, namespace: str, key: str) -> Iterator[KeyModification]:
        """Newest first, as Fabric 2.x returns it."""
        ...

    def get_private(self, namespace: str, collection: str, key: str) -> VersionedValue | None: ...

    def scan_private(
        self, namespace: str, collection: str, start: str, end: str
    ) -> Iterator[tuple[str, VersionedValue]]: ...

    def get_private_hash(
        self, namespace: str, collection: str, key_hash: bytes
    ) -> VersionedValue | None:
        """The SHA-256 of a private value, kept by every peer of the channel."""
        ...


class StateStore(StateReader, Protocol):
    def commit(self, position: Version, tx_id: str, timestamp: float, rwset: TxRWSet) -> None:
        """Apply a valid transaction's writes (public, private, metadata) at ``position``."""
        ...
