"""The peer config's ``private_data.reconcile_interval``: Fabric's one-minute default, a
number of seconds when given, and a clear error naming the setting otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from peers.node import PeerConfigError, load_config
from peers.reconciler import RECONCILE_INTERVAL

BASE = (
    "listen: 127.0.0.1:7051\nmspid: Org1MSP\nmsp_dir: msp\ndata_dir: data\n"
    "tls: {enabled: false}\norderers:\n  - address: 127.0.0.1:7050\n"
)


def _load(tmp_path: Path, extra: str = ""):
    path = tmp_path / "peer.yaml"
    path.write_text(BASE + extra)
    return load_config(path)


def test_the_default_is_fabrics_minute(tmp_path: Path) -> None:
    assert _load(tmp_path).reconcile_interval == RECONCILE_INTERVAL == 60.0


def test_a_number_of_seconds(tmp_path: Path) -> None:
    assert _load(tmp_path, "private_data:\n  reconcile_interval: 0.5\n").reconcile_interval == 0.5


@pytest.mark.parametrize(
    "extra",
    [
        "private_data:\n  reconcile_interval: 0\n",
        "private_data:\n  reconcile_interval: soon\n",
        "private_data:\n  reconcile_every: 5\n",
        "private_data: 5\n",
    ],
)
def test_anything_else_names_the_setting(tmp_path: Path, extra: str) -> None:
    with pytest.raises(PeerConfigError, match="private_data"):
        _load(tmp_path, extra)
