"""What `consortium status` says about each NATS server of a replicated ordering
service, read from the servers' monitoring ports: a real three-server cluster."""

from __future__ import annotations

from network.nats_cluster import NatsCluster, jetstream_roles

pytest_plugins = ["tests.support.nats"]


def test_the_leader_the_current_followers_and_a_silent_server_are_named(
    nats_cluster: NatsCluster,
) -> None:
    roles = jetstream_roles(nats_cluster.nodes)
    assert sorted(roles.values()) == ["current", "current", "leader"], roles

    follower = next(node for node in nats_cluster.nodes if roles[node.name] == "current")
    nats_cluster.kill_node(follower.name)
    roles = jetstream_roles(nats_cluster.nodes)
    assert roles[follower.name] == "no answer"
    assert "leader" in roles.values(), roles  # two of three keep their meta leader
