"""A two-member network from ``consortium up`` (no reconciler, so a node a test kills
stays down) and what a browser test needs of it: the explorer's URL, the network's
folder and org1's connection file. ``down`` on the way out, whatever happened."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.test_up import spec_with_free_ports
from tests.support.processes import consortium


@dataclass(frozen=True)
class ExplorerNetwork:
    folder: Path  # where `consortium` runs (holds .consortium/)
    url: str  # the explorer's, ending in /
    home: Path  # .consortium/two-members
    connection: dict[str, Any]  # org1's connection file


@contextmanager
def explorer_network(folder: Path, *, purge: bool = False) -> Iterator[ExplorerNetwork]:
    spec = spec_with_free_ports(folder)
    consortium(folder, "up", str(spec), "--no-reconcile", "-o", "json")
    try:
        url = json.loads(consortium(folder, "explorer", "-o", "json").stdout)["url"]
        home = folder / ".consortium" / "two-members"
        connection = json.loads((home / "connection" / "org1.json").read_text())
        yield ExplorerNetwork(folder, url, home, connection)
    finally:
        consortium(folder, "down", *(["--purge"] if purge else []))
