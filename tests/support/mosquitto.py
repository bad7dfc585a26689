"""A real Mosquitto broker for tests: a free loopback port, a temporary config and
persistence folder, and stop / kill / restart on the same port (the broker-restart test)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt
import paho.mqtt.client as paho

from network.mqtt import broker
from network.mqtt.access import BrokerFiles, Login
from network.mqtt.broker import mosquitto_binary, mosquitto_config
from tests.support.fabric_network import FabricNetwork, free_port, write_identity_files
from tests.support.orderer import CHANNEL

HOST = "127.0.0.1"


class Mosquitto:
    """``secured``: TLS, logins and ACLs as ``up`` runs it (else anonymous, loopback)."""

    def __init__(
        self, directory: Path, port: int | None = None, secured: BrokerFiles | None = None
    ) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (deploy/install-deps.sh installs it)")
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.config = directory / "mosquitto.conf"
        self.log = directory / "mosquitto.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.config.write_text(mosquitto_config(HOST, self.port, directory / "data", secured))
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited:\n{self.log.read_text()}")
            with socket.socket() as probe:
                if probe.connect_ex((HOST, self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port}:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Graceful stop: Mosquitto saves its persistence file on SIGTERM."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def reload(self) -> None:
        """SIGHUP, as the supervisor sends it: re-read the password and ACL files."""
        assert self.process is not None and self.process.poll() is None
        self.process.send_signal(signal.SIGHUP)


@dataclass
class Received:
    topic: str
    body: Any
    properties: Any = None
    at: float = 0.0  # time.monotonic() on arrival (latency figures)


class Subscriber:
    """A real MQTT 5 subscriber that keeps every message it gets, in arrival order.

    Its session is persistent (QoS 1, fixed client id), and it reconnects by itself, so a
    broker restart loses nothing queued for it."""

    def __init__(self, address: str, filters: list[str], client_id: str | None = None) -> None:
        self.host, port = address.rsplit(":", 1)
        self.port = int(port)
        self.filters = filters
        self.client_id = client_id or f"test-{uuid.uuid4().hex[:12]}"
        self.received: list[Received] = []
        self.connections = 0
        self._changed = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._subscribed.wait(), 10)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        while True:
            try:
                client = broker.client(self.host, self.port, self.client_id, persistent=True)
                async with client:
                    for topic in self.filters:
                        await client.subscribe(topic, qos=1)
                    self.connections += 1
                    self._subscribed.set()
                    async for message in client.messages:
                        payload = message.payload
                        body = json.loads(payload) if isinstance(payload, bytes) else payload
                        arrival = Received(
                            message.topic.value, body, message.properties, time.monotonic()
                        )
                        async with self._changed:
                            self.received.append(arrival)
                            self._changed.notify_all()
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    async def wait_for(
        self, predicate: Callable[[list[Received]], bool], timeout: float = 20.0
    ) -> list[Received]:
        """All messages so far, once ``predicate`` holds for them; fails with what came."""
        try:
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: predicate(self.received)), timeout
                )
        except TimeoutError:
            topics = "\n".join(r.topic for r in self.received[-20:])
            raise AssertionError(
                f"not there in {timeout}s; {len(self.received)} received, last:\n{topics}"
            ) from None
        return list(self.received)

    async def wait_for_topic(self, topic: str, timeout: float = 20.0) -> Received:
        await self.wait_for(lambda got: any(r.topic == topic for r in got), timeout)
        return next(r for r in self.received if r.topic == topic)


# -- an events bridge against a test network -----------------------------------------------


def write_connection_file(fabric: FabricNetwork, mspid: str, directory: Path) -> Path:
    """The connection file ``consortium up`` writes, for a ``FabricNetwork`` member."""
    peer = fabric.peers[mspid]
    user = write_identity_files(fabric.users[mspid], directory / "user1")
    connection = {
        "network": "test",
        "channel": CHANNEL,
        "mspId": mspid,
        "gateway": {
            "endpoint": peer.address,
            "tlsRootCert": str(peer.tls["ca"]),
            "hostnameOverride": "127.0.0.1",
        },
        "identities": {"user1": {"cert": user["cert"], "key": user["key"]}},
    }
    if fabric.mutual:  # the member's TLS client certificate, where `up` writes it
        tls = fabric.client_tls_files(mspid)
        connection["clientTls"] = {"cert": str(tls["cert"]), "key": str(tls["key"])}
    path = directory / f"{mspid}.json"
    path.write_text(json.dumps(connection))
    return path


def write_bridge_config(
    directory: Path,
    network: str,
    broker_address: str,
    connection: Path,
    control_plane: str = "",
    ingress: bool = False,
) -> Path:
    """A ``node run mqtt-bridge`` config (JSON is YAML), checkpoint in ``directory``."""
    config: dict[str, Any] = {
        "network": network,
        "broker": broker_address,
        "client_id": f"bridge-{network}",
        "channels": [CHANNEL],
        "deliver": {"connection": str(connection), "identity": "user1"},
        "checkpoint": str(directory / "checkpoint.json"),
    }
    if control_plane:
        config["governance"] = {"control_plane": control_plane}
    if ingress:
        config["ingress"] = {"connection": str(connection), "identity": "user1"}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bridge.yaml"
    path.write_text(json.dumps(config))
    return path


# -- a login held open across synchronous steps ----------------------------------------------


class LoginRefused(Exception):
    """The broker answered CONNECT with a failure (a bad or unknown login)."""


class LiveLogin:
    """One MQTT 5 client signed in with a member's login, kept connected by paho's network
    thread, so a test that runs CLI commands in between can tell whether the broker
    dropped it (a reload must not) and what it received meanwhile."""

    def __init__(self, host: str, port: int, login: Login, timeout: float = 10.0) -> None:
        self.disconnects: list[str] = []
        self.received: list[str] = []
        self.arrived: list[float] = []  # time.monotonic() of each message, in order
        self._connack = threading.Event()
        self._refusal = ""
        self._lock = threading.Lock()
        client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"live-{login.username}-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        client.username_pw_set(login.username, login.password)
        client.tls_set(ca_certs=login.ca_file)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.reconnect_delay_set(60, 60)  # a dropped client stays dropped for the test
        self.client = client
        client.connect(host, port, keepalive=10)
        client.loop_start()
        if not self._connack.wait(timeout):
            self.close()
            raise AssertionError(f"no CONNACK for {login.username} in {timeout}s")
        if self._refusal:
            self.close()
            raise LoginRefused(f"{login.username}: {self._refusal}")

    def _on_connect(self, _client, _userdata, _flags, reason, _properties) -> None:
        if reason.is_failure:
            self._refusal = str(reason)
        self._connack.set()

    def _on_disconnect(self, _client, _userdata, _flags, reason, _properties) -> None:
        with self._lock:
            self.disconnects.append(str(reason))

    def _on_message(self, _client, _userdata, message) -> None:
        with self._lock:
            self.received.append(message.topic)
            self.arrived.append(time.monotonic())

    def subscribe(self, topic: str) -> None:
        result, _ = self.client.subscribe(topic, qos=1)
        assert result == paho.MQTT_ERR_SUCCESS, result

    def publish(self, topic: str, payload: bytes, timeout: float = 10.0) -> bool:
        """A QoS 1 publish; True once the broker acknowledged it (Mosquitto acknowledges
        publishes its ACL refuses too: what arrives tells those apart)."""
        info = self.client.publish(topic, payload, qos=1)
        try:
            info.wait_for_publish(timeout)
        except RuntimeError:  # not connected
            return False
        return info.is_published()

    def wait_until(self, condition: Callable[[LiveLogin], bool], timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition(self):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"not there in {timeout}s: received {self.received[-10:]}, "
                    f"disconnects {self.disconnects}"
                )
            time.sleep(0.05)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> LiveLogin:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
