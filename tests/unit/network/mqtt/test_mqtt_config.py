"""The bridge config: paths relative to the file, errors naming line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from network.mqtt.address import parse_address
from network.mqtt.config import load_config
from network.mqtt.errors import BridgeConfigError

GOOD = """\
network: two-members
broker: 127.0.0.1:1883
channels: [mychannel]
deliver: {connection: connection/org1.json}
checkpoint: events/checkpoint.json
governance: {control_plane: "http://127.0.0.1:7100", network_id: n-1}
ingress: {connection: connection/org2.json, identity: orgadmin}
member_ingress: {connections: connection}
"""


def test_a_full_config_loads_with_paths_beside_the_file(tmp_path: Path) -> None:
    file = tmp_path / "bridge.yaml"
    file.write_text(GOOD)
    config = load_config(file)
    assert config.broker == "127.0.0.1:1883"
    assert config.channels == ("mychannel",)
    assert config.deliver.connection == tmp_path / "connection" / "org1.json"
    assert config.deliver.identity == "user1"
    assert config.ingress is not None and config.ingress.identity == "orgadmin"
    assert config.member_ingress is not None
    assert (config.member_ingress.connection, config.member_ingress.identity) == (
        tmp_path / "connection",
        "user1",
    )
    assert config.checkpoint == tmp_path / "events" / "checkpoint.json"
    assert config.client_id == "consortium-bridge-two-members"
    assert (config.control_plane, config.network_id, config.start) == (
        "http://127.0.0.1:7100",
        "n-1",
        "oldest",
    )


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (("broker: 127.0.0.1:1883", "broker: nowhere"), ":2: broker: 'nowhere' is not host:port"),
        (("channels: [mychannel]", "channels: [My_Channel]"), ":3: channels[0]:"),
        (("checkpoint: events/checkpoint.json", "checkpoint: x\nstart: middle"), ":6: start:"),
        (("network_id: n-1", "network_id: n-1, port: 3"), ":6: governance.port: unknown key"),
        (("http://127.0.0.1:7100", "ftp://x"), "governance.control_plane"),
        (("deliver: {connection: connection/org1.json}\n", ""), ": (top): deliver is required"),
    ],
)
def test_a_bad_config_names_line_and_field(
    tmp_path: Path, change: tuple[str, str], where: str
) -> None:
    file = tmp_path / "bridge.yaml"
    file.write_text(GOOD.replace(*change))
    with pytest.raises(BridgeConfigError) as caught:
        load_config(file)
    assert where in str(caught.value)
    assert str(caught.value).startswith(str(file))


def test_addresses() -> None:
    assert parse_address("localhost:1883") == ("localhost", 1883)
    assert parse_address("[::1]:1883") == ("::1", 1883)
    for bad in ("host", "host:0", "host:99999", ":1883"):
        with pytest.raises(ValueError, match="host:port"):
            parse_address(bad)
