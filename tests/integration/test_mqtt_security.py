"""The broker `up` runs, as configured by ``network.mqtt.access``: TLS only, no anonymous
clients, and topic ACLs per member — org2 cannot publish on org1's ingress topics (so it
cannot submit as org1) nor read a channel it is not in."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import aiomqtt
import pytest

from network.mqtt import broker, topics
from network.mqtt.access import BRIDGE_USER, BrokerFiles, Login, acl, password_line
from tests.support.mosquitto import HOST, Mosquitto
from tests.support.pki import make_org, write_tls

NETWORK = "secured"
MEMBERS = {"org1": ["mychannel", "org1only"], "org2": ["mychannel"]}
PASSWORDS = {"org1": "org1-pass-Aa1", "org2": "org2-pass-Bb2", BRIDGE_USER: "bridge-pass-Cc3"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A Mosquitto with ``up``'s secured config; yields its port and TLS root file."""
    folder = tmp_path_factory.mktemp("broker")
    tls = write_tls(make_org("OrdererMSP"), folder / "tls", "mqtt", (HOST,))
    files = BrokerFiles(tls["cert"], tls["key"], tls["ca"], folder / "passwd", folder / "acl")
    files.passwords.write_text("".join(password_line(u, p) for u, p in PASSWORDS.items()))
    files.acl.write_text(acl(NETWORK, MEMBERS, ingress_member="org1"))
    if broker.mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")
    secured = Mosquitto(folder, secured=files).start()
    try:
        yield secured.port, str(tls["ca"])
    finally:
        secured.stop()


def login(user: str, ca: str) -> Login:
    return Login(user, PASSWORDS[user], ca)


async def _publish(port: int, who: Login, topic: str) -> None:
    """A QoS 1 publish as ``who``, its payload naming the sender (Mosquitto acknowledges
    a publish it refuses, so a refusal shows as nothing arriving)."""
    async with broker.client(HOST, port, login=who) as client:
        await client.publish(topic, f'["{who.username}"]'.encode(), qos=1)


async def test_org2_cannot_submit_as_org1_nor_read_org1s_channel(secured: tuple[int, str]) -> None:
    port, ca = secured
    submit = topics.submit(NETWORK, "mychannel", "basic", "CreateAsset")
    # the bridge (the only submitter) follows the submit topics; what org2 sends never arrives
    async with broker.client(HOST, port, login=login(BRIDGE_USER, ca)) as bridge:
        await bridge.subscribe(topics.submit_filter(NETWORK, "mychannel"), qos=1)
        await _publish(port, login("org2", ca), submit)
        await _publish(port, login("org1", ca), submit)
        messages = aiter(bridge.messages)
        message = await asyncio.wait_for(anext(messages), 10)
        assert (str(message.topic), message.payload) == (submit, b'["org1"]')
        with pytest.raises(TimeoutError):  # org2's never comes
            await asyncio.wait_for(anext(messages), 1)
    # what the bridge publishes reaches only members of the channel (Mosquitto grants a
    # subscription and checks each message against the ACL when it delivers it)
    private, shared = topics.blocks(NETWORK, "org1only"), topics.blocks(NETWORK, "mychannel")
    governance = topics.governance(NETWORK, "VoteCast")
    received = {"org1": [], "org2": []}  # type: dict[str, list[str]]
    async with (
        broker.client(HOST, port, login=login("org1", ca)) as org1,
        broker.client(HOST, port, login=login("org2", ca)) as org2,
    ):
        for client in (org1, org2):
            for topic in (private, shared, governance):
                await client.subscribe(topic, qos=1)
        async with broker.client(HOST, port, login=login(BRIDGE_USER, ca)) as bridge:
            for topic in (private, shared, governance):
                await bridge.publish(topic, b"{}", qos=1)

        async def collect(name: str, client: aiomqtt.Client) -> None:
            async for message in client.messages:
                received[name].append(str(message.topic))

        tasks = [asyncio.ensure_future(collect(n, c)) for n, c in (("org1", org1), ("org2", org2))]
        deadline = time.monotonic() + 10
        while len(received["org1"]) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # time for anything org2 should not get
        for task in tasks:
            task.cancel()
    assert sorted(received["org1"]) == sorted([private, shared, governance])
    assert sorted(received["org2"]) == sorted([shared, governance])


async def test_no_password_wrong_password_or_no_tls_is_refused(secured: tuple[int, str]) -> None:
    port, ca = secured
    with pytest.raises(aiomqtt.MqttError):
        async with broker.client(HOST, port, login=Login("org1", "wrong", ca)):
            pass
    anonymous = aiomqtt.Client(HOST, port, tls_params=aiomqtt.TLSParameters(ca_certs=ca), timeout=5)
    with pytest.raises(aiomqtt.MqttError):
        async with anonymous:
            pass
    # plain MQTT to the TLS port: an MQTT 3.1.1 CONNECT gets no CONNACK
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 10, 0, 0]))
    await writer.drain()
    try:
        answer = await asyncio.wait_for(reader.read(4), 5)
    except (TimeoutError, ConnectionResetError):
        answer = b""
    writer.close()
    assert not answer.startswith(bytes([0x20])), answer  # 0x20: CONNACK
