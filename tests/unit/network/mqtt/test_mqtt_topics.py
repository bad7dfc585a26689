"""Topic names: one level per name, never a wildcard, submit topics parsed back."""

from __future__ import annotations

import pytest

from network.mqtt import topics
from network.mqtt.errors import IngressError


def test_channel_topics_follow_the_documented_shape() -> None:
    assert topics.blocks("net", "ch") == "consortium/net/ch/blocks"
    assert topics.tx("net", "ch", "ab12") == "consortium/net/ch/tx/ab12"
    assert (
        topics.chaincode_event("net", "ch", "basic", "CreateAsset")
        == "consortium/net/ch/chaincode/basic/CreateAsset"
    )
    assert topics.governance("net", "VoteCast") == "consortium/net/governance/VoteCast"
    assert topics.result("net", "ch", "r-1") == "consortium/net/ch/result/r-1"


def test_event_names_with_mqtt_special_characters_stay_one_level() -> None:
    topic = topics.chaincode_event("net", "ch", "basic", "a/b+c#d%e")
    assert topic == "consortium/net/ch/chaincode/basic/a%2Fb%2Bc%23d%25e"
    assert topics.unescape(topic.rsplit("/", 1)[1]) == "a/b+c#d%e"


def test_submit_topic_parses_to_its_parts() -> None:
    topic = topics.submit("net", "ch", "basic", "Create/Asset")
    assert topics.parse_submit(topic) == ("net", "ch", "basic", "Create/Asset")


@pytest.mark.parametrize(
    "topic",
    ["consortium/net/ch/submit/basic", "other/net/ch/submit/basic/Fn", "consortium/net/ch/x/a/b"],
)
def test_a_topic_that_is_not_a_submit_topic_is_refused_naming_the_topic(topic: str) -> None:
    with pytest.raises(IngressError) as caught:
        topics.parse_submit(topic)
    assert caught.value.field == "topic"


def test_event_filters_cover_every_published_topic() -> None:
    filters = topics.event_filters("net", "ch")
    assert "consortium/net/ch/tx/+" in filters
    assert "consortium/net/governance/+" in filters
    assert topics.event_filters("net")[0] == "consortium/net/+/blocks"


def test_request_ids_and_response_topics_are_checked() -> None:
    assert topics.check_request_id("sensor-7:42") == "sensor-7:42"
    for bad in ("", "a/b", "x" * 129, 7):
        with pytest.raises(IngressError, match=r"^id: "):
            topics.check_request_id(bad)
    with pytest.raises(IngressError, match="response_topic"):
        topics.check_publish_topic("replies/+")
