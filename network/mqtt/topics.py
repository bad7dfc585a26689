"""MQTT topic names of the bridge, built and parsed in one place (``docs/events.md``).

Every topic starts ``consortium/<network>/``. Names that come from users (chaincode event
names) may hold characters MQTT gives a meaning to; ``level`` escapes them so each name is
exactly one topic level and never a wildcard.
"""

from __future__ import annotations

import re

from network.mqtt.errors import IngressError

ROOT = "consortium"
_SPECIAL = frozenset("%/+#\0")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def level(name: str) -> str:
    """``name`` as one topic level: ``%``, ``/``, ``+``, ``#`` and NUL percent-encoded."""
    return "".join(f"%{ord(c):02X}" if c in _SPECIAL else c for c in name)


def prefix(network: str, channel: str) -> str:
    return f"{ROOT}/{level(network)}/{level(channel)}"


def blocks(network: str, channel: str) -> str:
    return f"{prefix(network, channel)}/blocks"


def tx(network: str, channel: str, tx_id: str) -> str:
    return f"{prefix(network, channel)}/tx/{level(tx_id)}"


def chaincode_event(network: str, channel: str, chaincode: str, event: str) -> str:
    return f"{prefix(network, channel)}/chaincode/{level(chaincode)}/{level(event)}"


def governance(network: str, kind: str) -> str:
    return f"{ROOT}/{level(network)}/governance/{level(kind)}"


def submit_filter(network: str, channel: str) -> str:
    """What the ingress subscribes to: any chaincode and function on ``channel``."""
    return f"{prefix(network, channel)}/submit/+/+"


def submit(network: str, channel: str, chaincode: str, function: str) -> str:
    return f"{prefix(network, channel)}/submit/{level(chaincode)}/{level(function)}"


def result(network: str, channel: str, request_id: str) -> str:
    return f"{prefix(network, channel)}/result/{level(request_id)}"


def member_prefix(network: str, channel: str, member: str) -> str:
    """Where ``member`` submits as itself on ``channel`` (and reads its replies)."""
    return f"{prefix(network, channel)}/members/{level(member)}"


def member_submit_filter(network: str, channel: str) -> str:
    """What the ingress subscribes to for every member's own requests on ``channel``."""
    return f"{prefix(network, channel)}/members/+/submit/+/+"


def member_submit(network: str, channel: str, member: str, chaincode: str, function: str) -> str:
    base = member_prefix(network, channel, member)
    return f"{base}/submit/{level(chaincode)}/{level(function)}"


def member_result(network: str, channel: str, member: str, request_id: str) -> str:
    return f"{member_prefix(network, channel, member)}/result/{level(request_id)}"


def event_filters(network: str, channel: str | None = None) -> list[str]:
    """Everything the bridge publishes for ``network`` (one channel, or all of them)."""
    base = prefix(network, channel) if channel else f"{ROOT}/{level(network)}/+"
    return [
        f"{base}/blocks",
        f"{base}/tx/+",
        f"{base}/chaincode/+/+",
        f"{ROOT}/{level(network)}/governance/+",
    ]


def parse_submit(topic: str) -> tuple[str, str, str, str]:
    """(network, channel, chaincode, function) of a submit topic — the ingress member's
    ``…/<channel>/submit/<cc>/<fn>`` or a member's own ``…/<channel>/members/<member>/
    submit/<cc>/<fn>`` — levels unescaped."""
    parts = topic.split("/")
    if len(parts) == 8 and parts[3] == "members" and parts[5] == "submit":
        parts = [*parts[:3], *parts[5:]]
    if len(parts) != 6 or parts[0] != ROOT or parts[3] != "submit":
        raise IngressError(
            "topic",
            f"{topic!r} is not {ROOT}/<network>/<channel>/[members/<member>/]submit/"
            "<chaincode>/<function>",
        )
    network, channel, _, chaincode, function = (unescape(p) for p in parts[1:])
    if not chaincode or not function:
        raise IngressError("topic", f"{topic!r} names no chaincode or no function")
    return network, channel, chaincode, function


def submitter(topic: str) -> str:
    """The member a ``…/members/<member>/submit/…`` topic submits as ("" for the ingress
    member's own ``…/submit/…`` topics), unescaped."""
    parts = topic.split("/")
    if len(parts) == 8 and parts[3] == "members" and parts[5] == "submit":
        return unescape(parts[4])
    return ""


def unescape(text: str) -> str:
    return re.sub(r"%([0-9A-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def check_request_id(request_id: object) -> str:
    """A request id a client chose: it becomes a topic level, so it is kept plain."""
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise IngressError(
            "id", f"{request_id!r} is not 1-128 characters of letters, digits and . _ : -"
        )
    return request_id


def check_publish_topic(topic: str) -> str:
    """A topic a client asked replies on: a publishable name, no wildcards."""
    if not topic or len(topic.encode()) > 65535 or any(c in topic for c in "+#\0"):
        raise IngressError("response_topic", f"{topic!r} is not a topic one can publish to")
    return topic
