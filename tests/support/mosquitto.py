"""A real Mosquitto broker for tests: a free loopback port, a temporary config and
persistence folder, and stop / kill / restart on the same port (the broker-restart test)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiomqtt

from network.mqtt import broker
from network.mqtt.broker import mosquitto_binary, mosquitto_config
from tests.support.fabric_network import FabricNetwork, free_port, write_identity_files
from tests.support.orderer import CHANNEL

HOST = "127.0.0.1"


class Mosquitto:
    def __init__(self, directory: Path, port: int | None = None) -> None:
        binary = mosquitto_binary()
        if binary is None:
            raise RuntimeError("mosquitto is not installed (deploy/install-deps.sh installs it)")
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.config = directory / "mosquitto.conf"
        self.log = directory / "mosquitto.log"
        directory.mkdir(parents=True, exist_ok=True)
        self.config.write_text(mosquitto_config(HOST, self.port, directory / "data"))
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
