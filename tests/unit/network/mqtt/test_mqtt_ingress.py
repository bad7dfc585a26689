"""Ingress requests: what is accepted, what is refused (naming the part), where the
reply goes."""

from __future__ import annotations

import json

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from network.mqtt import topics
from network.mqtt.access import acl
from network.mqtt.errors import IngressError
from network.mqtt.ingress import chosen_id, parse_request, reply_properties, reply_target
from network.mqtt.member_gateways import MemberGateways
from tests.support.fabric_network import write_identity_files
from tests.support.pki import make_org, write_tls

TOPIC = "consortium/net/ch/submit/basic/CreateAsset"


def _parse(payload: bytes, topic: str = TOPIC):
    return parse_request("net", ("ch",), topic, payload)


def test_a_list_of_strings_is_a_request_with_a_generated_id() -> None:
    request = _parse(b'["a1", "blue", "5"]')
    assert (request.channel, request.chaincode, request.function) == ("ch", "basic", "CreateAsset")
    assert request.args == ("a1", "blue", "5")
    assert len(request.request_id) == 36
    assert _parse(b"[]").request_id != request.request_id


def test_an_object_chooses_the_id() -> None:
    request = _parse(b'{"id": "sensor-7:1", "args": ["a1"]}')
    assert request.request_id == "sensor-7:1"
    assert request.args == ("a1",)


@pytest.mark.parametrize(
    ("payload", "field", "reason"),
    [
        (b"not json", "payload", "is not JSON"),
        (b"\xff\xfe", "payload", "is not JSON"),
        (b'{"a": 1}', "payload.a", "unknown key"),
        (b'{"id": "x"}', "payload.args", "is required"),
        (b'"a1"', "payload", "must be a JSON list of strings, not str"),
        (b'["a1", 5]', "payload[1]", "must be a string, not 5"),
        (b'{"args": ["a", null]}', "payload.args[1]", "must be a string, not null"),
        (b'{"id": "a/b", "args": []}', "id", "is not 1-128 characters"),
        (b"[" + b'"x",' * 64 + b'"x"]', "payload", "at most 64"),
    ],
)
def test_a_malformed_request_is_refused_naming_the_part(
    payload: bytes, field: str, reason: str
) -> None:
    with pytest.raises(IngressError) as caught:
        _parse(payload)
    assert caught.value.field == field
    assert reason in caught.value.reason


def test_a_channel_the_bridge_does_not_serve_is_refused() -> None:
    with pytest.raises(IngressError, match=r"^topic: "):
        _parse(b"[]", "consortium/net/other/submit/basic/Fn")


def test_replies_go_to_the_response_topic_with_correlation_data() -> None:
    properties = Properties(PacketTypes.PUBLISH)
    properties.ResponseTopic = "devices/7/replies"
    properties.CorrelationData = b"\x01\x02"
    target = reply_target("net", "ch", "r1", properties)
    assert (target.topic, target.correlation) == ("devices/7/replies", b"\x01\x02")
    assert reply_properties(target).CorrelationData == b"\x01\x02"


def test_replies_without_response_topic_go_to_result_id() -> None:
    target = reply_target("net", "ch", "r1", None)
    assert target.topic == "consortium/net/ch/result/r1"
    assert reply_properties(target) is None


def test_a_wildcard_response_topic_is_refused() -> None:
    properties = Properties(PacketTypes.PUBLISH)
    properties.ResponseTopic = "devices/#"
    with pytest.raises(IngressError, match="response_topic"):
        reply_target("net", "ch", "r1", properties)


def test_the_id_of_a_bad_request_is_still_used_when_readable() -> None:
    assert chosen_id(b'{"id": "r9", "args": [1]}') == "r9"
    assert chosen_id(b"[1]") is None
    assert chosen_id(b"nonsense") is None


def test_a_members_own_topic_submits_as_that_member_and_replies_on_its_own_result() -> None:
    topic = topics.member_submit("net", "ch", "org3", "basic", "CreateAsset")
    assert topic == "consortium/net/ch/members/org3/submit/basic/CreateAsset"
    request = _parse(b'{"id": "r1", "args": []}', topic)
    assert (request.member, request.channel, request.function) == ("org3", "ch", "CreateAsset")
    assert _parse(b"[]").member == ""  # the ingress member's own topic
    target = reply_target("net", "ch", "r1", None, request.member)
    assert target.topic == "consortium/net/ch/members/org3/result/r1"


async def test_member_gateways_come_from_connection_files_and_go_with_them(tmp_path) -> None:
    gateways = MemberGateways(tmp_path, "user1")
    with pytest.raises(IngressError, match="is not a member of this network"):
        await gateways.gateway("org3")  # no connection file: voted out, or never in
    with pytest.raises(IngressError, match="is not a member name"):
        await gateways.gateway("../org1")  # a topic level never names a path
    (tmp_path / "org3.json").write_text("{}")
    with pytest.raises(IngressError, match="cannot submit here"):
        await gateways.gateway("org3")
    await gateways.close()


def test_the_acl_gives_each_member_its_own_submit_topics_when_ingress_is_on() -> None:
    rules = acl("net", {"org1": ["ch"], "org2": ["ch"]}, ingress_member="org1")
    org2 = rules.split("user org2\n", 1)[1]
    assert "topic write consortium/net/ch/members/org2/submit/+/+" in org2
    assert "topic read consortium/net/ch/members/org2/result/+" in org2
    assert "members/org1" not in org2 and "topic write consortium/net/ch/submit" not in org2
    assert "members/" not in acl("net", {"org1": ["ch"]}, ingress_member=None)


async def test_a_members_gateway_is_kept_until_its_connection_file_says_otherwise(
    tmp_path,
) -> None:
    """The supervisor rewrites connection files on every reconcile pass: the same content
    keeps the gateway; another content (a rotated certificate) opens a new one."""
    org = make_org("Org3MSP")
    user = write_identity_files(org.identity("user1", "client"), tmp_path / "user1")
    tls = write_tls(org, tmp_path / "tls", "peer0", ("127.0.0.1",))

    def connection(port: int) -> str:
        gateway = {"endpoint": f"127.0.0.1:{port}", "tlsRootCert": str(tls["ca"])}
        identities = {"user1": {"cert": user["cert"], "key": user["key"]}}
        return json.dumps({"mspId": "Org3MSP", "gateway": gateway, "identities": identities})

    gateways = MemberGateways(tmp_path, "user1")
    (tmp_path / "org3.json").write_text(connection(7051))
    first = await gateways.gateway("org3")
    (tmp_path / "org3.json").write_text(connection(7051))  # rewritten, same content
    assert await gateways.gateway("org3") is first
    (tmp_path / "org3.json").write_text(connection(7052))
    assert await gateways.gateway("org3") is not first
    (tmp_path / "org3.json").unlink()  # voted out
    with pytest.raises(IngressError, match="is not a member of this network"):
        await gateways.gateway("org3")
    await gateways.close()
