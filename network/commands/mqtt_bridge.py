"""``consortium node run mqtt-bridge --config FILE``: the events bridge (issue 12).

Registered into ``node run`` beside the orderer and peer; the bridge's config and
behaviour are in ``network.mqtt``.
"""

from __future__ import annotations

from pathlib import Path

from network.commands.fabric_nodes import CONFIG_OPTION, run_node
from network.commands.node import RUN
from network.nodeopts import LOG_LEVEL_OPTION


@RUN.command("mqtt-bridge")
@CONFIG_OPTION
@LOG_LEVEL_OPTION
def mqtt_bridge(config_file: Path, log_level: str | None) -> None:
    """Blocks, transaction statuses, chaincode and governance events to MQTT; MQTT submit
    requests to transactions."""
    run_node("network.mqtt.bridge", config_file, log_level)
