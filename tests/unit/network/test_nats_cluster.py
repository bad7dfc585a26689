"""The nats-server config of a cluster member, and which nats-server runs (no server
started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from network import nats_cluster
from network.nats_cluster import (
    MAX_PAYLOAD,
    NatsClusterError,
    NatsNode,
    server_config,
    usable_nats_server,
)


def test_each_server_routes_to_every_other_and_stores_in_its_own_folder(tmp_path: Path) -> None:
    nodes = [
        NatsNode(f"n{i}", "127.0.0.1", 4220 + i, 6220 + i, 8220 + i, tmp_path / f"n{i}")
        for i in range(3)
    ]
    config = server_config(nodes[1], nodes, "orderers")
    assert 'server_name: "n1"' in config and 'listen: "127.0.0.1:4221"' in config
    assert 'http: "127.0.0.1:8221"' in config
    assert f'store_dir: "{tmp_path}/n1/jetstream"' in config
    assert 'name: "orderers"' in config and 'listen: "127.0.0.1:6221"' in config
    assert 'routes: ["nats-route://127.0.0.1:6220", "nats-route://127.0.0.1:6222"]' in config
    assert f"max_payload: {MAX_PAYLOAD}" in config
    assert "max_payload: 2097152" in server_config(nodes[0], nodes, max_payload=2 * 1024 * 1024)


def _nats_server_saying(folder: Path, version_line: str) -> Path:
    """A program named nats-server that answers ``--version`` as a real one does."""
    folder.mkdir()
    program = folder / "nats-server"
    program.write_text(f"#!/bin/sh\necho '{version_line}'\n")
    program.chmod(0o755)
    return program


def test_a_nats_server_older_than_2_10_is_refused_naming_its_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    program = _nats_server_saying(tmp_path / "old", "nats-server: v2.9.10")
    monkeypatch.setenv("PATH", str(program.parent))
    with pytest.raises(NatsClusterError, match=r"nats-server 2\.9\.10, older than 2\.10") as err:
        usable_nats_server()
    assert str(program) in str(err.value) and "install-deps.sh" in str(err.value)


def test_nats_server_2_10_and_later_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in ("2.10.27", "2.15.1", "3.0.0"):
        program = _nats_server_saying(tmp_path / version, f"nats-server: v{version}")
        monkeypatch.setenv("PATH", str(program.parent))
        assert usable_nats_server() == str(program)


class _StuckCluster:
    """What the monitoring ports answer for a cluster whose meta group formed without n2
    (nats-server 2.10 under load): every server healthy and naming leader n0, n0 seeing
    only n1 current, until n2 is restarted (``fixed_by_restart``)."""

    def __init__(self, fixed_by_restart: bool = True) -> None:
        self.restarted: list[str] = []
        self.fixed_by_restart = fixed_by_restart

    def monitor(self, node: NatsNode, path: str) -> dict:
        if path == "/healthz":
            return {"status": "ok"}
        joined = self.fixed_by_restart and "n2" in self.restarted
        replicas = [{"name": "n1", "current": True}]
        if joined:
            replicas.append({"name": "n2", "current": True})
        meta = {"leader": "n0", "replicas": replicas} if node.name == "n0" else {"leader": "n0"}
        return {"meta_cluster": meta}


def _nodes(tmp_path: Path) -> list[NatsNode]:
    return [NatsNode(f"n{i}", "127.0.0.1", 1, 2, 3, tmp_path / f"n{i}") for i in range(3)]


def test_a_server_left_behind_the_meta_leader_is_restarted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = _StuckCluster()
    monkeypatch.setattr(nats_cluster, "_monitor", stuck.monitor)
    monkeypatch.setattr(nats_cluster, "NUDGE_SECONDS", 0.2)
    nodes = _nodes(tmp_path)
    nats_cluster.await_readiness(nodes, lambda every: nodes, stuck.restarted.append, timeout=5)
    assert stuck.restarted == ["n2"]


def test_a_server_still_behind_after_its_restart_is_not_restarted_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stuck = _StuckCluster(fixed_by_restart=False)
    monkeypatch.setattr(nats_cluster, "_monitor", stuck.monitor)
    monkeypatch.setattr(nats_cluster, "NUDGE_SECONDS", 0.1)
    nodes = _nodes(tmp_path)
    with pytest.raises(
        NatsClusterError, match=r"not ready in 0.6s: meta leader n0 sees 2 current servers"
    ):
        nats_cluster.await_readiness(
            nodes, lambda every: nodes, stuck.restarted.append, timeout=0.6
        )
    assert stuck.restarted == ["n2"]
