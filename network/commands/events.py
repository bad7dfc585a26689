"""``consortium events tail``: a network's events, live, one line each.

From the MQTT broker the events bridge publishes to (``--broker``, or the one the
network's spec names), or straight from a member's peer (``--from-deliver``), which shows
the same block, transaction and chaincode messages without a broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from network.errors import NetworkError
from network.output import OUTPUT_OPTION, fail

HOME_OPTION = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".consortium"),
    show_default=True,
)


@click.group("events")
def COMMAND() -> None:
    """Watch blocks, transactions, chaincode and governance events (MQTT or Deliver)."""


@COMMAND.command("tail")
@click.option("--network", default=None, help="Default: the only network under --home.")
@click.option("--channel", default=None, help="Default: every channel (MQTT) / the member's.")
@click.option("--broker", "broker_address", default=None, help="host:port of the MQTT broker.")
@click.option("--from-deliver", is_flag=True, help="Read the member's peer, not the broker.")
@click.option(
    "--member",
    default=None,
    help="Whose peer and user (--from-deliver), or whose broker login (default: the first).",
)
@click.option("--from-block", type=click.IntRange(0), default=None, help="Default: live.")
@click.option("--count", type=click.IntRange(1), default=None, help="Stop after N events.")
@HOME_OPTION
@OUTPUT_OPTION
def tail(
    network: str | None,
    channel: str | None,
    broker_address: str | None,
    from_deliver: bool,
    member: str | None,
    from_block: int | None,
    count: int | None,
    home: Path,
    output: str,
) -> None:
    """Print events as they happen: a line each, or one JSON object per line."""
    if broker_address and from_deliver:
        fail("give --broker or --from-deliver, not both")
    printer = _Printer(output, count)
    if from_deliver:
        source = _from_deliver(home, network, member, channel, from_block, printer)
    else:
        name, host, port = _broker(home, network, broker_address)
        login = None if broker_address else _login(home, name, member)
        source = _from_broker(name, channel, host, port, printer, login)
    with contextlib.suppress(KeyboardInterrupt, _Done):
        asyncio.run(source)


class _Done(NetworkError):
    """``--count`` events were printed."""


class _Printer:
    def __init__(self, output: str, count: int | None) -> None:
        self.output = output
        self.left = count

    def __call__(self, body: Mapping[str, Any]) -> None:
        from network.mqtt.payloads import describe

        if self.output == "json":
            click.echo(json.dumps(body, sort_keys=True))
        else:
            click.echo(describe(body))
        if self.left is not None:
            self.left -= 1
            if self.left == 0:
                raise _Done


def _network_name(home: Path, network: str | None) -> str:
    from network.locate import network_folder

    return network_folder(home, network).name


def _broker(home: Path, network: str | None, address: str | None) -> tuple[str, str, int]:
    """(network name, broker host, port): as given, or from the network's recorded spec."""
    from network.locate import recorded_spec
    from network.mqtt.address import parse_address
    from network.spec import load_spec

    if address:
        try:
            host, port = parse_address(address)
        except ValueError as exc:
            fail(f"--broker: {exc}")
        return network or _network_name(home, None), host, port
    name = _network_name(home, network)
    spec = load_spec(recorded_spec(home, name))
    if spec.events is None:
        fail(
            f"network {name!r} names no events broker in its spec; pass --broker or --from-deliver"
        )
    return name, spec.events.broker_host, spec.events.broker_port


def _login(home: Path, network: str, member: str | None) -> Any:
    """The member's login on the broker ``up`` runs, from its connection file's ``mqtt``
    section (None: that broker takes anonymous clients)."""
    from network.mqtt.access import Login

    folder = home / network / "connection"
    names = [member] if member else sorted(p.stem for p in folder.glob("*.json"))
    for name in names:
        try:
            mqtt = json.loads((folder / f"{name}.json").read_text()).get("mqtt")
        except (OSError, ValueError):
            if member:
                fail(f"--member: no connection file for {member!r} in {folder}")
            continue
        if mqtt:
            return Login(mqtt["username"], mqtt["password"], mqtt["tlsRootCert"])
    return None


async def _from_broker(
    network: str,
    channel: str | None,
    host: str,
    port: int,
    show: _Printer,
    login: Any = None,
) -> None:
    import aiomqtt

    from network.mqtt import broker, topics
    from network.mqtt.retry import Backoff

    backoff = Backoff()
    while True:
        try:
            async with broker.client(host, port, login=login) as client:
                filters = topics.event_filters(network, channel)
                for topic in filters:
                    await client.subscribe(topic, qos=1)
                backoff.reset()
                click.echo(f"subscribed at {host}:{port} to {' '.join(filters)}", err=True)
                async for message in client.messages:
                    try:
                        body = json.loads(message.payload)  # type: ignore[arg-type]
                    except (TypeError, ValueError):
                        body = {"topic": message.topic.value, "payload": repr(message.payload)}
                    show(body)
        except aiomqtt.MqttError as exc:
            delay = backoff.next_delay()
            click.echo(f"broker {host}:{port}: {exc}; again in {delay:.1f}s", err=True)
            await asyncio.sleep(delay)


async def _from_deliver(
    home: Path,
    network: str | None,
    member: str | None,
    channel: str | None,
    from_block: int | None,
    show: _Printer,
) -> None:
    from network.gateway_client import GatewayClient
    from network.locate import connection_file, network_folder
    from network.mqtt.deliver import follow_blocks
    from network.mqtt.payloads import block_messages

    folder = network_folder(home, network)
    if member is None:
        files = sorted((folder / "connection").glob("*.json"))
        if not files:
            fail(f"network {folder.name!r} has no connection files; is it up?")
        member = files[0].stem
    connection = connection_file(home, folder.name, member)
    channel = channel or connection["channel"]
    live = from_block is None
    async with GatewayClient.from_connection(connection, "user1") as client:
        async for block in follow_blocks(client, channel, "newest" if live else from_block):
            if live:  # "newest" starts with the block committed before we asked
                live = False
                continue
            for message in block_messages(folder.name, channel, block):
                show(message.body)
