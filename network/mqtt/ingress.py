"""MQTT → transactions: a message on ``consortium/<network>/<channel>/submit/<chaincode>/
<function>`` is submitted through the gateway as the configured identity (the ingress
member's), one on ``…/<channel>/members/<member>/submit/<chaincode>/<function>`` as that
member (``network.mqtt.member_gateways``; the broker lets only the member publish there),
and its outcome is published as a reply.

The payload is a JSON list of strings (the arguments), or ``{"id": "...", "args": [...]}``
to choose the request id. The reply goes to the MQTT 5 response topic with the request's
correlation data when the request has one, else to ``…/<channel>/result/<id>`` (the id
chosen, or generated; ``…/members/<member>/result/<id>`` for a member's own request). A
malformed request gets an error reply naming the bad part and
nothing is submitted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from network.gateway_client import CommitError, GatewayClient, GatewayClientError
from network.mqtt import payloads, topics
from network.mqtt.errors import IngressError
from network.mqtt.member_gateways import MemberGateways

log = logging.getLogger(__name__)
MAX_ARGS = 64
MAX_IN_FLIGHT = 32


@dataclass(frozen=True)
class SubmitRequest:
    request_id: str
    channel: str
    chaincode: str
    function: str
    args: tuple[str, ...]
    member: str = ""  # who submits: "" the ingress member, else the member named in the topic


@dataclass(frozen=True)
class ReplyTo:
    topic: str
    correlation: bytes | None = None


def _arguments(payload: bytes) -> tuple[str | None, tuple[str, ...]]:
    """(chosen id or None, args) from a request body, or IngressError naming the fault."""
    try:
        body = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise IngressError("payload", f"is not JSON: {exc}") from None
    request_id = None
    if isinstance(body, dict):
        unknown = sorted(set(body) - {"id", "args"})
        if unknown:
            raise IngressError(f"payload.{unknown[0]}", "unknown key; expected id and args")
        if "id" in body:
            request_id = topics.check_request_id(body["id"])
        if "args" not in body:
            raise IngressError("payload.args", "is required")
        body, where = body["args"], "payload.args"
    else:
        where = "payload"
    if not isinstance(body, list):
        raise IngressError(where, f"must be a JSON list of strings, not {type(body).__name__}")
    if len(body) > MAX_ARGS:
        raise IngressError(where, f"has {len(body)} arguments; at most {MAX_ARGS}")
    for n, arg in enumerate(body):
        if not isinstance(arg, str):
            raise IngressError(f"{where}[{n}]", f"must be a string, not {json.dumps(arg)}")
    return request_id, tuple(body)


def chosen_id(payload: object) -> str | None:
    """The id a request chose, if it is readable at all (for the reply to a bad one)."""
    try:
        body = json.loads(payload)  # type: ignore[arg-type]
        return topics.check_request_id(body["id"])
    except (TypeError, ValueError, KeyError, IngressError):
        return None


def reply_target(
    network: str,
    channel: str,
    request_id: str,
    properties: Properties | None,
    member: str = "",
) -> ReplyTo:
    """Where the reply goes: the request's response topic (MQTT 5) or result/<id> (the
    member's own, for a member's request)."""
    response_topic = getattr(properties, "ResponseTopic", None) if properties else None
    correlation = getattr(properties, "CorrelationData", None) if properties else None
    if response_topic:
        return ReplyTo(topics.check_publish_topic(response_topic), correlation)
    if member:
        return ReplyTo(topics.member_result(network, channel, member, request_id), correlation)
    return ReplyTo(topics.result(network, channel, request_id), correlation)


def parse_request(
    network: str, channels: tuple[str, ...], topic: str, payload: bytes
) -> SubmitRequest:
    """A submit request, checked; ``IngressError`` names the part that is wrong."""
    named_network, channel, chaincode, function = topics.parse_submit(topic)
    if named_network != network or channel not in channels:
        raise IngressError("topic", f"{topic!r} is not a channel this bridge serves")
    request_id, args = _arguments(payload)
    member = topics.submitter(topic)
    return SubmitRequest(
        request_id or str(uuid.uuid4()), channel, chaincode, function, args, member
    )


Publish = Callable[[ReplyTo, dict[str, Any]], Awaitable[None]]


class Ingress:
    """Handles submit requests, each in its own task (at most ``MAX_IN_FLIGHT`` at once):
    the ingress member's through ``gateway``, each member's own through ``members``."""

    def __init__(
        self,
        network: str,
        channels: tuple[str, ...],
        gateway: GatewayClient,
        members: MemberGateways | None = None,
    ) -> None:
        self.network = network
        self.channels = channels
        self.gateway = gateway
        self.members = members
        self._slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._tasks: set[asyncio.Task[None]] = set()

    def filters(self) -> list[str]:
        found = [topics.submit_filter(self.network, channel) for channel in self.channels]
        if self.members is not None:
            found += [topics.member_submit_filter(self.network, c) for c in self.channels]
        return found

    async def dispatch(self, message: aiomqtt.Message, publish: Publish) -> None:
        """Start handling ``message``; waits only when too many are in flight."""
        await self._slots.acquire()
        task = asyncio.create_task(self._handle(message, publish))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._slots.release()

    async def _handle(self, message: aiomqtt.Message, publish: Publish) -> None:
        topic = message.topic.value
        payload = message.payload if isinstance(message.payload, bytes) else b""
        try:
            request = parse_request(self.network, self.channels, topic, payload)
            target = reply_target(
                self.network,
                request.channel,
                request.request_id,
                message.properties,
                request.member,
            )
            gateway = await self._gateway(request.member)
        except IngressError as exc:
            await self._reject(message, exc, publish)
            return
        reply = await self.submit(request, gateway)
        outcome = reply.get("code_name") or reply["error"]["message"]
        log.info("ingress %s %s: %s", request.request_id, topic, outcome)
        await publish(target, reply)

    async def _gateway(self, member: str) -> GatewayClient:
        """The gateway that submits as ``member`` ("": the ingress member)."""
        if not member:
            return self.gateway
        if self.members is None:
            raise IngressError("topic", "this bridge takes no member's own requests")
        return await self.members.gateway(member)

    async def _reject(
        self, message: aiomqtt.Message, error: IngressError, publish: Publish
    ) -> None:
        """The error reply of a request that was not submitted; it goes to the response
        topic if usable, else to result/<id> on the request's channel."""
        log.info("ingress %s refused: %s", message.topic.value, error)
        request_id = chosen_id(message.payload) or str(uuid.uuid4())
        try:
            channel = topics.parse_submit(message.topic.value)[1]
        except IngressError:
            channel = ""
        member = topics.submitter(message.topic.value)
        try:
            target = reply_target(self.network, channel, request_id, message.properties, member)
        except IngressError:
            target = ReplyTo(topics.result(self.network, channel, request_id))
        await publish(target, payloads.error_reply(request_id, error.field, error.reason))

    async def submit(
        self, request: SubmitRequest, gateway: GatewayClient | None = None
    ) -> dict[str, Any]:
        """Submit (through ``gateway``, else the ingress member's) and wait for commit;
        the reply for every outcome."""
        try:
            done = await (gateway or self.gateway).submit(
                request.channel, request.chaincode, request.function, *request.args
            )
        except CommitError as exc:
            return payloads.submit_reply(request.request_id, exc.tx_id, exc.block, exc.status, None)
        except GatewayClientError as exc:
            details = "; ".join(f"{d.msp_id}: {d.message}" for d in exc.details)
            message = f"{exc}" + (f" ({details})" if details else "")
            return payloads.error_reply(request.request_id, "transaction", message)
        return payloads.submit_reply(request.request_id, done.tx_id, done.block, 0, done.result)

    async def drain(self) -> None:
        """Wait for the requests in flight (a graceful stop answers them)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)


def reply_properties(target: ReplyTo) -> Properties | None:
    if target.correlation is None:
        return None
    properties = Properties(PacketTypes.PUBLISH)
    properties.CorrelationData = target.correlation
    return properties
