"""A value's version: where in the ledger it was last written.

Its own module because both the state interface (``chaincode.state``, whose ``commit``
takes a read/write set) and the read/write set (``chaincode.rwset``, whose reads carry
versions) need it; in either of them it would make the two import each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Version:
    """Where a value was last written: (block number, transaction number in the block)."""

    block: int
    tx: int
