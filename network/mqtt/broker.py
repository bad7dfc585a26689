"""Talking to the MQTT broker: the bridge's client settings, and the Mosquitto config that
``consortium up`` (and the test fixtures) run a local broker with."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

SESSION_SECONDS = 24 * 3600
"""How long the broker keeps a disconnected bridge's session (its ingress subscription and
the submit requests that arrive meanwhile)."""


def client(
    host: str, port: int, identifier: str | None = None, persistent: bool = False
) -> aiomqtt.Client:
    """An MQTT 5 client. ``persistent`` keeps the session across disconnects, so QoS 1
    messages for it are queued by the broker while it is away."""
    properties = None
    if persistent:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = SESSION_SECONDS
    connection = aiomqtt.Client(
        host,
        port,
        identifier=identifier,
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=not persistent,
        properties=properties,
        keepalive=10,
        timeout=10,
    )
    connection.pending_calls_threshold = 100_000  # a block's messages are published at once
    return connection


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None,
    )


def mosquitto_config(host: str, port: int, data: Path) -> str:
    """A Mosquitto 2 config for a local broker: one listener, anonymous clients (bind it
    to loopback), and persistence, so QoS 1 messages queued for persistent sessions
    survive a broker restart."""
    data.mkdir(parents=True, exist_ok=True)
    return (
        f"listener {port} {host}\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {data}/\n"
        "autosave_interval 1\n"
        "max_queued_messages 100000\n"
        "log_dest stdout\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
        # every client's connect and disconnect is a notice: hundreds of lines an hour
        "connection_messages false\n"
    )
