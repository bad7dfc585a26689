"""The nats-server config of a cluster member (no server started)."""

from __future__ import annotations

from pathlib import Path

from network.nats_cluster import MAX_PAYLOAD, NatsNode, server_config


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
