"""A real three-server JetStream cluster for tests (``pytest_plugins = ["tests.support.nats"]``).

Each test gets its own: free loopback ports, a data folder under its ``tmp_path``, ready
(meta leader elected, every server current, so streams replicated on three servers can
be created) before the test starts, and every server killed when it ends. A fresh
cluster is ready in about half a second, cheap enough to give chaos tests their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from network.nats_cluster import NatsCluster, nats_server_binary

CLUSTER_START_SECONDS = 60.0
"""On a quiet machine a cluster is ready in 0.2–2.6 s (30 starts). Under a full suite's
load nats-server 2.10's meta leader twice saw one server behind for over 20 s and 60 s;
``wait_ready`` now restarts such a server after ``NUDGE_SECONDS``, and this bound stays
generous."""


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    if nats_server_binary() is None:
        pytest.skip("nats-server is not installed (deploy/install-deps.sh installs it)")
    cluster = NatsCluster.on_loopback(tmp_path / "nats")
    try:
        yield cluster.start(CLUSTER_START_SECONDS)
    finally:
        for node in cluster.nodes:
            cluster.kill_node(node.name)
