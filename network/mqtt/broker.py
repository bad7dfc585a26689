"""Talking to the MQTT broker: the bridge's client settings, and the Mosquitto config that
``consortium up`` (and the test fixtures) run a local broker with."""

from __future__ import annotations

import getpass
import shutil
from pathlib import Path

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from network.mqtt.access import BrokerFiles, Login

SESSION_SECONDS = 24 * 3600
"""How long the broker keeps a disconnected bridge's session (its ingress subscription and
the submit requests that arrive meanwhile)."""


def client(
    host: str,
    port: int,
    identifier: str | None = None,
    persistent: bool = False,
    login: Login | None = None,
) -> aiomqtt.Client:
    """An MQTT 5 client. ``persistent`` keeps the session across disconnects, so QoS 1
    messages for it are queued by the broker while it is away; ``login`` signs in over
    TLS (the broker ``up`` runs takes nothing else)."""
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
        username=login.username if login else None,
        password=login.password if login else None,
        tls_params=aiomqtt.TLSParameters(ca_certs=login.ca_file) if login else None,
    )
    connection.pending_calls_threshold = 100_000  # a block's messages are published at once
    return connection


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()),
        None,
    )


def mosquitto_config(host: str, port: int, data: Path, secured: BrokerFiles | None = None) -> str:
    """A Mosquitto 2 config for a local broker: one listener — TLS with users and ACLs
    when ``secured`` (what ``up`` runs), else anonymous clients (bind it to loopback) —
    and persistence, so QoS 1 messages queued for persistent sessions survive a broker
    restart."""
    data.mkdir(parents=True, exist_ok=True)
    listener = (
        secured.listener(host, port)
        if secured
        else f"listener {port} {host}\nallow_anonymous true\n"
    )
    # Mosquitto started as root switches to the user "mosquitto", who cannot read the
    # network's files (0600, 0700 folders): it stays whoever started it
    return (
        listener + f"user {getpass.getuser()}\n"
        "persistence true\n"
        f"persistence_location {data}/\n"
        "autosave_interval 1\n"
        "max_queued_messages 100000\n"
        "log_dest stdout\n"
        "log_type error\nlog_type warning\nlog_type notice\n"
        # every client's connect and disconnect is a notice: hundreds of lines an hour
        "connection_messages false\n"
    )
