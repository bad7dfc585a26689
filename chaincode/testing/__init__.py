"""Test contracts in milliseconds: ``ContractHarness``, identities, and pytest fixtures.

async with ContractHarness() as harness:
    await harness.deploy(AssetTransfer(), name="basic")
    result = await harness.invoke("CreateAsset", "asset1", "blue", 5, "Tom", 100)
    assert result.ok and result.writes()["asset1"]
"""

from chaincode.testing.harness import (
    Collection,
    CollectionPolicy,
    ContractHarness,
    Event,
    TxResult,
)
from chaincode.testing.identities import Identity, IdentityFactory, TestCA

__all__ = [
    "Collection",
    "CollectionPolicy",
    "ContractHarness",
    "Event",
    "Identity",
    "IdentityFactory",
    "TestCA",
    "TxResult",
]
