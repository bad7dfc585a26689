"""The events bridge process (``consortium node run mqtt-bridge --config FILE``).

One MQTT connection carries everything: per channel, a pump that reads blocks from the
peer's Deliver and publishes their messages (QoS 1); a pump for the control plane's
governance feed; and the ingress, which answers submit requests. Each pump publishes a
block's (or a feed batch's) messages and advances the durable checkpoint only past what
the broker acknowledged — publish, then checkpoint (pipelined for blocks: ``inflight``).

When the broker goes away every pump stops, the bridge reconnects with backoff, and each
pump starts again from the checkpoint: whatever was not acknowledged is published again,
nothing acknowledged is skipped (at-least-once; ``docs/events.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import signal
from collections.abc import Sequence

import aiomqtt

from network.gateway_client import GatewayClient
from network.mqtt import broker, payloads
from network.mqtt.checkpoint import GOVERNANCE, Checkpoint, Position
from network.mqtt.config import BridgeConfig, load_config, open_gateway
from network.mqtt.deliver import follow_blocks
from network.mqtt.governance import follow_governance
from network.mqtt.inflight import InFlight
from network.mqtt.ingress import Ingress, ReplyTo, reply_properties
from network.mqtt.member_gateways import MemberGateways
from network.mqtt.retry import Backoff
from proto.metrics import METRICS
from proto.operations import start_operations

log = logging.getLogger(__name__)

__all__ = ["Bridge", "load_config", "serve"]


class Bridge:
    def __init__(self, config: BridgeConfig) -> None:
        self.config = config
        self.checkpoint = Checkpoint(config.checkpoint)
        self.draining = asyncio.Event()
        self._in_flight: dict[str, InFlight] = {}
        self._ingress: Ingress | None = None

    async def drain(self, timeout: float) -> None:
        """Stop taking new events and wait (at most ``timeout`` s) until everything
        published is acknowledged and checkpointed, so a graceful stop repeats nothing."""
        self.draining.set()
        waits = [in_flight.idle.wait() for in_flight in self._in_flight.values()]
        if self._ingress is not None:
            waits.append(self._ingress.drain())  # requests in flight get their replies
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    async def _unless_draining(self) -> None:
        if self.draining.is_set():
            await asyncio.Event().wait()  # parked until the bridge is cancelled

    async def run(self) -> None:
        """Publish forever, reconnecting to the broker with backoff."""
        async with contextlib.AsyncExitStack() as stack:
            deliver = await stack.enter_async_context(open_gateway(self.config.deliver))
            ingress = None
            if self.config.ingress is not None:
                gateway = await stack.enter_async_context(open_gateway(self.config.ingress))
                members = None
                if self.config.member_ingress is not None:
                    who = self.config.member_ingress
                    members = MemberGateways(who.connection, who.identity)
                    stack.push_async_callback(members.close)
                ingress = self._ingress = Ingress(
                    self.config.network, self.config.channels, gateway, members
                )
            backoff = Backoff()
            while True:
                try:
                    await self._session(deliver, ingress, backoff)
                except* aiomqtt.MqttError as group:
                    CONNECTED.set(0)
                    delay = backoff.next_delay()
                    log.warning(
                        "broker %s: %s; reconnecting in %.1fs",
                        self.config.broker,
                        group.exceptions[0],
                        delay,
                    )
                    await asyncio.sleep(delay)

    async def _session(
        self, deliver: GatewayClient, ingress: Ingress | None, backoff: Backoff
    ) -> None:
        config = self.config
        client = broker.client(
            config.broker_host,
            config.broker_port,
            config.client_id,
            persistent=ingress is not None,
            login=config.login,
        )
        async with client:
            CONNECTED.set(1)
            backoff.reset()
            log.info(
                "mqtt bridge publishing network %s channels %s to %s",
                config.network,
                ",".join(config.channels),
                config.broker,
            )
            async with asyncio.TaskGroup() as group:
                group.create_task(self._receive(client, ingress))
                for channel in config.channels:
                    group.create_task(self._pump_channel(client, deliver, channel))
                if config.control_plane:
                    group.create_task(self._pump_governance(client))

    @staticmethod
    def _publish(
        client: aiomqtt.Client, messages: Sequence[payloads.Message]
    ) -> asyncio.Future[list[None]]:
        """Start publishing ``messages`` (QoS 1); the result completes when the broker has
        acknowledged all of them, and fails if the connection is lost.

        Each publish is a task created here, in order, and asyncio runs new tasks first
        come first served, so messages reach the MQTT client — and the broker — in this
        order, and after everything started before them."""
        PUBLISHED.add(amount=len(messages))
        return asyncio.gather(
            *(client.publish(m.topic, m.payload, qos=1, timeout=math.inf) for m in messages)
        )

    async def _pump_channel(
        self, client: aiomqtt.Client, deliver: GatewayClient, channel: str
    ) -> None:
        config = self.config
        done = self.checkpoint.get(channel)
        start: int | str = done.number if done is not None else _start_block(config.start)
        in_flight = self._in_flight[channel] = InFlight(self.checkpoint, channel)
        async with asyncio.TaskGroup() as group:
            group.create_task(in_flight.run())
            async for block in follow_blocks(deliver, channel, start):
                await self._unless_draining()
                messages = payloads.block_messages(config.network, channel, block)
                fresh = [m for m in messages if done is None or m.position > done.key]
                if not fresh:
                    continue
                # started now, in order; acknowledged (and checkpointed) in the background
                acknowledged = self._publish(client, fresh)
                last = fresh[-1]
                done = Position(*last.position, tx=last.body.get("tx"))
                await in_flight.add(acknowledged, done)

    async def _pump_governance(self, client: aiomqtt.Client) -> None:
        config = self.config
        after = self.checkpoint.get(GOVERNANCE)
        async for batch in follow_governance(config.control_plane, after, config.network_id):
            await self._unless_draining()
            messages = [
                payloads.governance_message(config.network, p.number, p.index, event)
                for p, event in batch
            ]
            await self._publish(client, messages)
            await self.checkpoint.advance(GOVERNANCE, batch[-1][0])

    async def _receive(self, client: aiomqtt.Client, ingress: Ingress | None) -> None:
        """Ingress requests; also how a lost connection is noticed (the iterator raises)."""

        async def reply(target: ReplyTo, body: dict) -> None:
            properties = reply_properties(target)
            await client.publish(target.topic, payloads.encode(body), qos=1, properties=properties)

        if ingress is not None:
            for topic in ingress.filters():
                await client.subscribe(topic, qos=1)
        async for message in client.messages:
            if ingress is not None:
                await ingress.dispatch(message, reply)


def _start_block(start: str) -> int | str:
    return 0 if start == "oldest" else "newest"


DRAIN_SECONDS = 3.0
PUBLISHED = METRICS.counter(
    "mqtt_bridge_messages_published", "Messages handed to the MQTT broker (ours)."
)
CONNECTED = METRICS.gauge("mqtt_bridge_connected", "1 while connected to the broker (ours).")


async def serve(config: BridgeConfig) -> None:
    """Run the bridge until SIGTERM or SIGINT, then drain what is in flight and stop."""
    bridge = Bridge(config)
    operations = await start_operations(
        f"mqtt bridge {config.network}", config.operations_listen, {"broker": _broker_problem}
    )
    task = asyncio.create_task(bridge.run())
    loop = asyncio.get_running_loop()
    stopping: list[asyncio.Task[None]] = []

    async def stop() -> None:
        await bridge.drain(DRAIN_SECONDS)
        task.cancel()

    def on_signal() -> None:
        if not stopping:
            stopping.append(asyncio.create_task(stop()))

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    if operations is not None:
        await operations.stop()
    log.info("mqtt bridge stopped")


def _broker_problem() -> str | None:
    """Healthy while connected to the broker (it reconnects with backoff otherwise)."""
    values = CONNECTED.values.get(())
    return None if values == 1 else "not connected to the MQTT broker"
