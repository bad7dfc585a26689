"""Edges that are files or messages rather than requests: network spec YAML (the CLI's
loader), MQTT ingress messages (a running bridge between Mosquitto and the network), and
the journal's files on open (segments, Merkle tree nodes, checkpoint)."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ledgerdb.block import Payload
from ledgerdb.errors import LedgerError
from ledgerdb.journal import Journal
from network.mqtt import broker, topics
from network.spec import NetworkSpec, SpecError, load_spec
from tests.support.fabric_network import FabricNetwork
from tests.support.fuzzing import TRIED, budget, mutated, peer_height
from tests.support.mosquitto import (
    Mosquitto,
    Subscriber,
    write_bridge_config,
    write_connection_file,
)
from tests.support.orderer import CHANNEL
from tests.support.processes import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "deploy" / "two-members.yaml"

# ---- network spec YAML ---------------------------------------------------------------------

LEAF = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
)


def _paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Every path into a parsed spec, containers and leaves alike."""
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


@st.composite
def edited_specs(draw: st.DrawFn) -> str:
    """The sample spec with one to three fields replaced by any YAML value, or removed."""
    spec = yaml.safe_load(SPEC.read_text())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(spec)[1:]))
        *parents, last = path
        holder = spec
        for step in parents:
            holder = holder[step]
        if draw(st.booleans()) and isinstance(holder, dict):
            del holder[last]
        else:
            holder[last] = draw(LEAF)
        if not _paths(spec)[1:]:
            break
    return yaml.safe_dump(spec)


SPECS = st.one_of(
    edited_specs(),
    mutated(SPEC.read_bytes()).map(lambda raw: raw.decode("utf-8", "replace")),
    st.text(max_size=200),
)


@budget(300)
@given(text=SPECS)
@example(text="=")  # found: yaml's ConstructorError escaped as itself
@example(text=SPEC.read_text().replace("members: [org1, org2]", "members: [[], org2]"))
@example(text=SPEC.read_text().replace("channel: mychannel", "channel: [mychannel]"))
def test_network_spec_yaml(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    """Valid, or a ``SpecError`` naming file, line and field: never another exception."""
    TRIED["network spec YAML (load_spec)"] += 1
    path = tmp_path_factory.mktemp("spec") / "spec.yaml"
    path.write_text(text)
    try:
        spec = load_spec(path)
    except SpecError as error:
        assert error.file == str(path) and error.line >= 0
        assert error.field and error.message, error
        assert str(error).startswith(f"{path}:{error.line}: {error.field}: ")
        return
    assert isinstance(spec, NetworkSpec)


# ---- MQTT ingress ----------------------------------------------------------------------------

NETWORK = "fuzzed"


@pytest.fixture(scope="module")
def bridge(fabric: FabricNetwork, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """Mosquitto and an events bridge with ingress, submitting to the fuzz network."""
    mosquitto = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    connection = write_connection_file(fabric, "Org1MSP", tmp_path_factory.mktemp("connection"))
    config = write_bridge_config(
        tmp_path_factory.mktemp("bridge"), NETWORK, mosquitto.address, connection, ingress=True
    )
    process = NodeProcess(["node", "run", "mqtt-bridge", "--config", str(config)])
    try:
        process.wait_for(r"mqtt bridge publishing")
        yield mosquitto
    finally:
        process.stop()
        mosquitto.stop()


async def _request(mosquitto: Mosquitto, topic: str, payload: bytes) -> dict[str, Any]:
    """Publish with an MQTT 5 response topic; the reply's body."""
    reply_topic = f"fuzz/replies/{uuid.uuid4().hex}"
    async with Subscriber(mosquitto.address, [reply_topic]) as replies:
        host, port = mosquitto.address.rsplit(":", 1)
        async with broker.client(host, int(port)) as requester:
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = reply_topic
            await requester.publish(topic, payload, qos=1, properties=properties)
        return (await replies.wait_for_topic(reply_topic, timeout=20)).body


# Functions that cannot write: ReadAsset of a key no one created, or no such function.
FUNCTIONS = st.one_of(
    st.just("ReadAsset"), st.text(alphabet="abcdefghijklmnopqrstuvwxyzXYZ", min_size=1)
)
INGRESS_PAYLOADS = st.one_of(
    st.binary(max_size=80),
    st.lists(st.text(max_size=10), max_size=4).map(lambda args: json.dumps(args).encode()),
    st.fixed_dictionaries(
        {"args": st.one_of(st.lists(st.text(max_size=6)), st.integers(), st.text())},
        optional={"id": st.text(max_size=20), "extra": st.none()},
    ).map(lambda body: json.dumps(body).encode()),
    mutated(json.dumps({"id": "req-1", "args": ["no-such-asset"]}).encode()),
)


def test_mqtt_ingress_messages(fabric: FabricNetwork, bridge: Mosquitto) -> None:
    """Every message gets a reply naming what was wrong; none writes a block."""
    height = peer_height(fabric)

    @budget(25)
    @given(function=FUNCTIONS, payload=INGRESS_PAYLOADS)
    def one(function: str, payload: bytes) -> None:
        TRIED["MQTT ingress messages (bridge)"] += 1
        topic = topics.submit(NETWORK, CHANNEL, "basic", function)
        reply = asyncio.run(_request(bridge, topic, payload))
        assert reply["ok"] is False, reply
        assert reply["error"]["field"] and reply["error"]["message"], reply

    one()
    assert peer_height(fabric) == height


# ---- the journal's files on open -------------------------------------------------------------

BLOCKS = 12
SEGMENT_BYTES = 1024  # a few blocks per segment, so damage can land before the last one


@pytest.fixture(scope="module")
def journal_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    """A closed journal of ``BLOCKS`` blocks and the digest at every tip."""
    path = tmp_path_factory.mktemp("journal") / "ledger"
    with Journal.open(path, segment_bytes=SEGMENT_BYTES) as journal:
        for number in range(BLOCKS):
            journal.append([Payload(f"entry {number}".encode() * 20)], {"n": number})
        digests = [journal.digest(tip) for tip in range(BLOCKS)]
    return path, digests


def _journal_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file() and "lock" not in p.name.lower())


@st.composite
def damaged(draw: st.DrawFn, template: Path) -> list[tuple[str, bytes]]:
    """One to three of the journal's files, each with its bytes edited."""
    files = _journal_files(template)
    chosen = draw(st.lists(st.sampled_from(files), min_size=1, max_size=3, unique=True))
    return [(str(path.relative_to(template)), draw(mutated(path.read_bytes()))) for path in chosen]


def test_journal_files_on_open(
    journal_template: tuple[Path, list[Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Damaged files: the journal refuses to open with a ``LedgerError``, or opens holding
    a prefix of what was written, with the digest it had at that tip, and appends on."""
    template, digests = journal_template

    @budget(100)
    @given(edits=damaged(template))
    def one(edits: list[tuple[str, bytes]]) -> None:
        TRIED["journal files on open"] += 1
        copy = tmp_path_factory.mktemp("damaged") / "ledger"
        shutil.copytree(template, copy)
        for name, data in edits:
            (copy / name).write_bytes(data)
        try:
            journal = Journal.open(copy, segment_bytes=SEGMENT_BYTES)
        except LedgerError as error:
            assert str(error)
            return
        with journal:
            tip = journal.tip
            if tip is not None:
                assert tip.sequence_no < BLOCKS
                assert journal.digest() == digests[tip.sequence_no]
            journal.append([Payload(b"after the damage")], {})
        shutil.rmtree(copy.parent)

    one()
