"""Fixtures for integration tests: real processes on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fabric_network import FabricNetwork


@pytest.fixture
async def fabric_network(tmp_path: Path) -> AsyncIterator[FabricNetwork]:
    """Orderer, two peers and the asset_transfer contract, joined and deployed."""
    fabric = FabricNetwork(tmp_path)
    async with fabric.deployed():
        yield fabric
