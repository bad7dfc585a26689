"""Real processes the fuzz tests share, started once per session (their start-up is most
of the bounded budget), and the count of inputs tried per edge printed at the end."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fabric_network import FabricNetwork
from tests.support.fuzzing import SCALE, TRIED


@pytest.fixture(scope="session")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FabricNetwork]:
    """Orderer, two peers and the asset_transfer contract, joined and deployed."""
    network = FabricNetwork(Path(tmp_path_factory.mktemp("fuzz-network")))
    try:
        asyncio.run(network.start())
        asyncio.run(network.join_and_deploy())
        yield network
    finally:
        network.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TRIED:
        terminalreporter.section(f"fuzz inputs tried (FUZZ_SCALE={SCALE})")
        for edge, count in sorted(TRIED.items()):
            terminalreporter.write_line(f"{edge:60} {count:6}")
