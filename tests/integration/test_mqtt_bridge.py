"""The events bridge on real processes: a network (orderer, two peers, the asset_transfer
contract), a real Mosquitto, a real control plane, and ``consortium node run
mqtt-bridge`` as a child process; subscribers and requesters are real MQTT 5 clients.

One network, broker and control plane serve the whole module (they are slow to start);
each test uses its own topics or its own bridge.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from fabric_protos.peer import events_pb2_grpc
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from network.mqtt import broker, payloads, topics
from proto.seek import build_seek_envelope
from tests.integration.test_controlplane_server import (
    ControlPlaneProcess,
    client,
    create_network,
    invite_and_join,
)
from tests.support.fabric_network import FabricNetwork
from tests.support.mosquitto import (
    Mosquitto,
    Received,
    Subscriber,
    write_bridge_config,
    write_connection_file,
)
from tests.support.orderer import CHANNEL
from tests.support.processes import NodeProcess

pytestmark = pytest.mark.asyncio(loop_scope="module")
NETWORK = "bridged"
ORG1 = "Org1MSP"
READY = r"mqtt bridge publishing"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def fabric(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FabricNetwork]:
    network = FabricNetwork(tmp_path_factory.mktemp("fabric"))
    async with network.deployed():
        yield network


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneProcess]:
    server = ControlPlaneProcess(tmp_path_factory.mktemp("plane") / "data").start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def connection(fabric: FabricNetwork, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_connection_file(fabric, ORG1, tmp_path_factory.mktemp("connection"))


@pytest.fixture(scope="module")
def bridge(
    mosquitto: Mosquitto,
    plane: ControlPlaneProcess,
    connection: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[NodeProcess]:
    """The module's bridge: every channel event, governance, and ingress."""
    config = write_bridge_config(
        tmp_path_factory.mktemp("bridge"),
        NETWORK,
        mosquitto.address,
        connection,
        control_plane=plane.url,
        ingress=True,
    )
    process = NodeProcess(["node", "run", "mqtt-bridge", "--config", str(config)])
    try:
        process.wait_for(READY)
        yield process
    finally:
        process.stop()


# -- helpers ------------------------------------------------------------------------------


def deduplicated(received: list[Received], network: str) -> list[dict[str, Any]]:
    """Channel messages of ``network`` in arrival order, each (block, index) kept once."""
    seen: set[tuple[int, int]] = set()
    kept = []
    for message in received:
        body = message.body
        if body.get("network") != network or body.get("kind") == "governance":
            continue
        key = (body["block"], body["index"])
        if key not in seen:
            seen.add(key)
            kept.append(body)
    return kept


async def expected_messages(fabric: FabricNetwork, network: str, last: int) -> list[dict]:
    """What the bridge must publish for blocks 0..last, computed from the peer's blocks."""
    user = fabric.users[ORG1]
    async with fabric.client(ORG1) as gateway:
        stub = events_pb2_grpc.DeliverStub(gateway.channel)
        seek = build_seek_envelope(user, CHANNEL, 0, last, True)
        bodies = []
        async for response in stub.Deliver(iter([seek])):
            if response.WhichOneof("Type") == "block":
                messages = payloads.block_messages(network, CHANNEL, response.block)
                bodies.extend(json.loads(m.payload) for m in messages)
        return bodies


def all_of(expected: list[dict], network: str):
    return lambda got: len(deduplicated(got, network)) >= len(expected)


def has_block(network: str, number: int):
    return lambda got: any(
        r.body.get("network") == network
        and r.body.get("kind") == "block"
        and r.body["block"] >= number
        for r in got
    )


# -- every topic -------------------------------------------------------------------------


async def test_every_topic_appears_for_a_real_transaction_flow(
    fabric: FabricNetwork, mosquitto: Mosquitto, plane: ControlPlaneProcess, bridge: NodeProcess
) -> None:
    async with Subscriber(mosquitto.address, topics.event_filters(NETWORK)) as subscriber:
        async with fabric.client(ORG1) as gateway:
            done = await gateway.submit(
                CHANNEL, "basic", "CreateAsset", "t1", "red", "5", "Ann", "9"
            )

        tx = await subscriber.wait_for_topic(topics.tx(NETWORK, CHANNEL, done.tx_id))
        assert tx.body["code"] == 0 and tx.body["code_name"] == "VALID"
        assert tx.body["meaning"].startswith("every check passed")
        assert (tx.body["block"], tx.body["txid"]) == (done.block, done.tx_id)

        event_topic = topics.chaincode_event(NETWORK, CHANNEL, "basic", "CreateAsset")
        event = await subscriber.wait_for_topic(event_topic)
        assert event.body["txid"] == done.tx_id
        assert json.loads(event.body["payload_text"])["ID"] == "t1"

        await subscriber.wait_for(has_block(NETWORK, done.block))
        block = next(
            r.body
            for r in subscriber.received
            if r.topic == topics.blocks(NETWORK, CHANNEL) and r.body["block"] == done.block
        )
        assert block["tx_count"] >= 1 and len(block["hash"]) == 64
        assert (block["tx"], block["index"]) == (None, 0)
        assert tx.body["index"] > 0 and event.body["index"] == tx.body["index"] + 1

        # governance: a real control plane, a network, an invitation voted in, a removal
        owner = client(plane.url, "111111111111")
        await asyncio.to_thread(governance_story, plane.url, owner)
        kinds = ("ProposalCreated", "VoteCast", "ProposalDecided", "MemberJoined", "MemberRemoved")
        for kind in kinds:
            found = await subscriber.wait_for_topic(topics.governance(NETWORK, kind))
            assert found.body["event"] == kind and found.body["sequence"] >= 0
        sequence = [
            (r.body["sequence"], r.body["index"])
            for r in subscriber.received
            if r.body["kind"] == "governance"
        ]
        assert sequence == sorted(set(sequence))  # each once, in feed order


def governance_story(url: str, owner: Any) -> None:
    network_id, first = create_network(owner, voting=None)
    voters = [(owner, first)]
    second = invite_and_join(url, network_id, voters, "222222222222", "org2")
    other = client(url, "222222222222")
    removal = owner.create_proposal(
        NetworkId=network_id, MemberId=first, Actions={"Removals": [{"MemberId": second}]}
    )["ProposalId"]
    for api, member in ((owner, first), (other, second)):
        api.vote_on_proposal(
            NetworkId=network_id, ProposalId=removal, VoterMemberId=member, Vote="YES"
        )


# -- ingress -----------------------------------------------------------------------------


async def _request(
    mosquitto: Mosquitto, topic: str, payload: bytes, reply_topic: str, correlation: bytes
) -> Received:
    """Publish one request with an MQTT 5 response topic and wait for its reply."""
    async with Subscriber(mosquitto.address, [reply_topic]) as replies:
        host, port = mosquitto.address.rsplit(":", 1)
        async with broker.client(host, int(port)) as requester:
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = reply_topic
            properties.CorrelationData = correlation
            await requester.publish(topic, payload, qos=1, properties=properties)
        return await replies.wait_for_topic(reply_topic, timeout=30)


async def test_an_ingress_message_commits_a_transaction_and_replies(
    fabric: FabricNetwork, mosquitto: Mosquitto, bridge: NodeProcess
) -> None:
    submit = topics.submit(NETWORK, CHANNEL, "basic", "CreateAsset")
    args = json.dumps(["mqtt1", "green", "3", "Device7", "70"]).encode()
    reply = await _request(mosquitto, submit, args, "devices/7/replies", b"corr-1")
    assert reply.properties.CorrelationData == b"corr-1"
    assert reply.body["ok"] is True and reply.body["code_name"] == "VALID"
    async with fabric.client(ORG1) as gateway:
        asset = json.loads(await gateway.evaluate(CHANNEL, "basic", "ReadAsset", "mqtt1"))
        status, block = await gateway.commit_status(CHANNEL, reply.body["txid"])
    assert asset["Owner"] == "Device7"
    assert (status, block) == (0, reply.body["block"])

    # without a response topic: the reply goes to result/<id>, the id the request chose
    result_topic = topics.result(NETWORK, CHANNEL, "req-42")
    async with Subscriber(mosquitto.address, [result_topic]) as results:
        host, port = mosquitto.address.rsplit(":", 1)
        body = {"id": "req-42", "args": ["mqtt1", "Device8"]}
        async with broker.client(host, int(port)) as requester:
            transfer = topics.submit(NETWORK, CHANNEL, "basic", "TransferAsset")
            await requester.publish(transfer, json.dumps(body).encode(), qos=1)
        answer = await results.wait_for_topic(result_topic, timeout=30)
    assert answer.body["ok"] is True and answer.body["id"] == "req-42"
    assert answer.body["payload_text"] == "Device7"  # TransferAsset returns the old owner


async def _height(fabric: FabricNetwork) -> int:
    async with fabric.client(ORG1) as gateway:
        stub = events_pb2_grpc.DeliverStub(gateway.channel)
        seek = build_seek_envelope(fabric.users[ORG1], CHANNEL, "newest", "newest", True)
        async for response in stub.Deliver(iter([seek])):
            if response.WhichOneof("Type") == "block":
                return response.block.header.number + 1
    raise AssertionError("no block")


@pytest.mark.parametrize(
    ("function", "payload", "field", "says"),
    [
        ("CreateAsset", b"{not json", "payload", "is not JSON"),
        ("CreateAsset", b'["a", 7]', "payload[1]", "must be a string, not 7"),
        ("CreateAsset", b'{"args": "a"}', "payload.args", "must be a JSON list of strings"),
        ("NoSuchFunction", b'["x"]', "transaction", "NoSuchFunction"),
    ],
)
async def test_a_malformed_ingress_message_gets_an_error_reply_and_no_transaction(
    fabric: FabricNetwork,
    mosquitto: Mosquitto,
    bridge: NodeProcess,
    function: str,
    payload: bytes,
    field: str,
    says: str,
) -> None:
    before = await _height(fabric)
    submit = topics.submit(NETWORK, CHANNEL, "basic", function)
    correlation = uuid.uuid4().bytes
    reply = await _request(mosquitto, submit, payload, f"replies/{uuid.uuid4().hex}", correlation)
    assert reply.properties.CorrelationData == correlation
    assert reply.body["ok"] is False
    assert reply.body["error"]["field"] == field
    assert says in reply.body["error"]["message"]
    await asyncio.sleep(0.5)  # longer than the batch timeout: a block would have been cut
    assert await _height(fabric) == before


# -- crash and restart -------------------------------------------------------------------


async def _submit_many(fabric: FabricNetwork, prefix: str, count: int) -> int:
    """``count`` transactions, a few at a time; the last block number."""
    last = 0
    async with fabric.client(ORG1) as gateway:
        for start in range(0, count, 4):
            done = await asyncio.gather(
                *(
                    gateway.submit(
                        CHANNEL, "basic", "CreateAsset", f"{prefix}{n}", "b", "1", "C", "1"
                    )
                    for n in range(start, min(start + 4, count))
                )
            )
            last = max(last, *(d.block for d in done))
    return last


async def test_kill_9_mid_stream_then_restart_loses_nothing(
    fabric: FabricNetwork, mosquitto: Mosquitto, connection: Path, tmp_path: Path
) -> None:
    network = "crashy"
    config = write_bridge_config(tmp_path, network, mosquitto.address, connection)
    filters = topics.event_filters(network, CHANNEL)
    async with Subscriber(mosquitto.address, filters) as subscriber:
        process = NodeProcess(["node", "run", "mqtt-bridge", "--config", str(config)])
        restarted = None
        try:
            await asyncio.to_thread(process.wait_for, READY)
            load = asyncio.create_task(_submit_many(fabric, "k", 40))
            await subscriber.wait_for(lambda got: any(is_event_of(r, "k") for r in got))
            process.kill()  # kill -9 while transactions keep committing
            assert not load.done()
            seen_before_kill = len(deduplicated(subscriber.received, network))
            restarted = NodeProcess(["node", "run", "mqtt-bridge", "--config", str(config)])
            last = await load
            expected = await expected_messages(fabric, network, last)
            await subscriber.wait_for(all_of(expected, network), timeout=30)
        finally:
            process.kill()
            if restarted is not None:
                restarted.stop()  # graceful: drains, so the checkpoint has everything
    assert seen_before_kill < len(expected)  # the rest came from the restarted bridge
    assert deduplicated(subscriber.received, network) == expected
    checkpoint = json.loads((tmp_path / "checkpoint.json").read_text())
    assert checkpoint["channels"][CHANNEL]["block"] == last


def is_event_of(message: Received, prefix: str) -> bool:
    body = message.body
    if body.get("kind") != "chaincode_event":
        return False
    return json.loads(body["payload_text"])["ID"].startswith(prefix)


async def test_a_broker_restart_is_survived(
    fabric: FabricNetwork, mosquitto: Mosquitto, connection: Path, tmp_path: Path
) -> None:
    network = "restarted"
    config = write_bridge_config(tmp_path, network, mosquitto.address, connection)
    filters = topics.event_filters(network, CHANNEL)
    async with Subscriber(mosquitto.address, filters) as subscriber:
        process = NodeProcess(["node", "run", "mqtt-bridge", "--config", str(config)])
        try:
            await asyncio.to_thread(process.wait_for, READY)
            first = await _submit_many(fabric, "before", 2)
            await subscriber.wait_for(has_block(network, first))
            await asyncio.to_thread(mosquitto.stop)
            during = await _submit_many(fabric, "during", 3)  # committed while no broker runs
            await asyncio.to_thread(mosquitto.start)
            after = await _submit_many(fabric, "after", 2)
            expected = await expected_messages(fabric, network, after)
            await subscriber.wait_for(all_of(expected, network), timeout=30)
            assert subscriber.connections >= 2
            assert process.process.poll() is None  # the bridge never gave up
            assert "reconnecting" in process.output
        finally:
            process.stop()
    assert first < during < after
    assert deduplicated(subscriber.received, network) == expected


# -- consortium events tail -------------------------------------------------------------


async def test_events_tail_prints_one_line_per_event_from_mqtt_and_from_deliver(
    fabric: FabricNetwork, mosquitto: Mosquitto, connection: Path, bridge: NodeProcess, tmp_path
) -> None:
    home = tmp_path / "home"
    (home / NETWORK / "connection").mkdir(parents=True)
    (home / NETWORK / "state.json").write_text("{}")
    (home / NETWORK / "connection" / "org1.json").write_text(connection.read_text())
    common = ["--home", str(home), "--count", "3"]
    from_mqtt = NodeProcess(
        [
            "events",
            "tail",
            "--broker",
            mosquitto.address,
            "--channel",
            CHANNEL,
            *common,
            "-o",
            "json",
        ]
    )
    height = await _height(fabric)
    deliver = ["--from-deliver", "--member", "org1", "--from-block", str(height)]
    from_peer = NodeProcess(["events", "tail", *deliver, *common])
    try:
        await asyncio.to_thread(from_mqtt.wait_for, "^subscribed at ")
        async with fabric.client(ORG1) as gateway:
            done = await gateway.submit(
                CHANNEL, "basic", "CreateAsset", "tail1", "red", "1", "T", "1"
            )
        assert await asyncio.to_thread(from_mqtt.process.wait, 30) == 0
        assert await asyncio.to_thread(from_peer.process.wait, 30) == 0
    finally:
        from_mqtt.stop()
        from_peer.stop()
    printed = [line for line in from_mqtt.lines if not line.startswith("subscribed at")]
    kinds = [json.loads(line)["kind"] for line in printed]
    assert kinds == ["block", "tx", "chaincode_event"]
    assert json.loads(printed[1])["txid"] == done.tx_id
    assert done.block == height
    assert from_peer.lines[0].startswith(f"block      {CHANNEL} #{done.block} txs=1 valid=1")
    assert from_peer.lines[1] == f"tx         {CHANNEL} #{done.block}.0 VALID {done.tx_id} basic"
    assert from_peer.lines[2].startswith(f"chaincode  {CHANNEL} #{done.block}.0 basic/CreateAsset")
