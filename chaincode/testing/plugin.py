"""pytest fixtures for contract authors.

Enable with ``pytest_plugins = ["chaincode.testing.plugin"]`` in the root ``conftest.py``
(or ``-p chaincode.testing.plugin``), then define a ``contract`` fixture returning the
contract instance(s) or the contract's package directory::

    @pytest.fixture
    def contract():
        return AssetTransfer()

    async def test_create(chaincode_harness):
        assert (await chaincode_harness.invoke("CreateAsset", "a1", "red", 1, "Ann", 5)).ok

``chaincode_name`` (default ``"basic"``), ``chaincode_transport`` (``"inprocess"`` or
``"grpc"``), ``chaincode_collections``, ``chaincode_policy`` (endorse once per organization
it names, as the network would) and ``chaincode_shim`` (``"repaired"`` or ``"stock"``) may
be overridden the same way. ``async def`` tests need pytest-asyncio with
``asyncio_mode = "auto"`` (or ``@pytest.mark.asyncio`` on each test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from chaincode.testing.harness import Collection, ContractHarness
from chaincode.testing.identities import IdentityFactory

_IDENTITIES = IdentityFactory()


@pytest.fixture
def chaincode_name() -> str:
    return "basic"


@pytest.fixture
def chaincode_transport() -> str:
    return "inprocess"


@pytest.fixture
def chaincode_collections() -> list[Collection]:
    return []


@pytest.fixture
def chaincode_policy() -> str:
    """ "" endorses once; e.g. ``AND('Org1MSP.peer','Org2MSP.peer')`` once per org."""
    return ""


@pytest.fixture
def chaincode_shim() -> str:
    """``repaired`` (what consortium runs) or ``stock`` (fabric-chaincode-python alone)."""
    return "repaired"


@pytest.fixture
def identities() -> IdentityFactory:
    """Shared across the session: key generation is the slow part of making an identity."""
    return _IDENTITIES


@pytest_asyncio.fixture
async def chaincode_harness(
    contract,
    chaincode_name: str,
    chaincode_transport: str,
    chaincode_collections: list[Collection],
    chaincode_policy: str,
    chaincode_shim: str,
    identities: IdentityFactory,
) -> AsyncIterator[ContractHarness]:
    """A ``ContractHarness`` with ``contract`` deployed as ``chaincode_name``."""
    harness = ContractHarness(identities=identities)
    await harness.deploy(
        contract,
        name=chaincode_name,
        transport=chaincode_transport,
        collections=chaincode_collections,
        policy=chaincode_policy,
        shim=chaincode_shim,
    )
    try:
        yield harness
    finally:
        await harness.close()
