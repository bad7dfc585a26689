"""``consortium analytics query --channel C "SELECT …"`` and ``consortium node run
analytics --config FILE`` (issue 22): each channel's committed data in a ledgerdb
database, queryable with PartiQL.

The query reads the database the network's analytics node writes: through the node's
ledgerdb service while it runs (it holds the database), else by opening the database
itself. Either way the statement runs in a transaction that is aborted, never committed:
a query cannot change what the node wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from network.commands.fabric_nodes import CONFIG_OPTION, run_node
from network.commands.node import RUN
from network.nodeopts import LOG_LEVEL_OPTION
from network.output import EXIT_REFUSED, OUTPUT_OPTION, emit_json, emit_table, fail

NODE_CONFIG = Path("analytics") / "analytics.yaml"
"""Where ``up`` writes the analytics node's config, under the network's folder."""


@RUN.command("analytics")
@CONFIG_OPTION
@LOG_LEVEL_OPTION
def analytics_node(config_file: Path, log_level: str | None) -> None:
    """Each channel's committed blocks into a ledgerdb database, one transaction a block."""
    run_node("network.analytics.node", config_file, log_level)


@click.group("analytics")
def COMMAND() -> None:
    """The network's data in ledgerdb: PartiQL over each channel's keys and transactions."""


@COMMAND.command("query")
@click.argument("statement")
@click.option("--channel", required=True, help="Whose database (one per channel).")
@click.option("--param", "params", multiple=True, help="A value for the next ?, as Ion text.")
@click.option("--home", default=".consortium", show_default=True, type=click.Path())
@click.option("--network", default=None, help="Default: the only network under --home.")
@OUTPUT_OPTION
def query(
    statement: str,
    channel: str,
    params: tuple[str, ...],
    home: str,
    network: str | None,
    output: str,
) -> None:
    """Run a PartiQL STATEMENT (read-only) on CHANNEL's analytics database."""
    from amazon.ion import simpleion

    from ledgerdb.export import to_json

    parameters = [simpleion.loads(text) for text in params]
    with open_database(Path(home), network, channel) as database:
        transaction = database.start_transaction()
        try:
            values = [
                to_json(value) for value in transaction.execute(statement, *parameters).values
            ]
        finally:
            transaction.abort()
    if output == "json":
        emit_json(values)
        return
    columns = list(dict.fromkeys(k for v in values if isinstance(v, dict) for k in v))
    if not columns:
        emit_table(["value"], [[_cell(v)] for v in values])
        return
    emit_table(
        columns,
        [[_cell(v.get(c, "")) if isinstance(v, dict) else "" for c in columns] for v in values],
    )


@COMMAND.command("verify")
@click.argument("key")
@click.option("--channel", required=True, help="Whose database (one per channel).")
@click.option("--chaincode", default="basic", show_default=True, help="Whose key.")
@click.option("--home", default=".consortium", show_default=True, type=click.Path())
@click.option("--network", default=None, help="Default: the only network under --home.")
@OUTPUT_OPTION
def verify(
    key: str, channel: str, chaincode: str, home: str, network: str | None, output: str
) -> None:
    """Verify KEY's document both ways: its ledgerdb revision proof against the database's
    digest, and the Fabric block it came from against the peer's chain. Exit 1 if any
    check fails."""
    import asyncio

    from network.analytics import verify as checks
    from network.mqtt.config import open_gateway

    with open_database(Path(home), network, channel) as database:
        revision = checks.latest_revision(database, chaincode, key)
        if revision is None:
            fail(f"{chaincode} has no key {key!r} on {channel} (never written, or deleted)")
        steps = checks.ledger_steps(database, revision)

        async def fetch() -> tuple[list, Any]:
            """The revision's block to the tip, and the config block it names."""
            async with open_gateway(_config(Path(home), network).deliver) as client:
                blocks = await checks.peer_blocks(client, channel, revision.block)
                number = checks.config_block_number(blocks[0]) if blocks else None
                if number is None:
                    return blocks, None
                config = await checks.peer_blocks(client, channel, number, number)
                return blocks, config[0] if config else None

        blocks, config_block = asyncio.run(fetch())
        steps += checks.fabric_steps(database, revision, chaincode, key, blocks, config_block)
    if output == "json":
        emit_json(
            {"key": key, "verified": all(s.ok for s in steps), "steps": [s.__dict__ for s in steps]}
        )
    else:
        for step in steps:
            click.echo(f"{'ok  ' if step.ok else 'FAIL'} {step.name}: {step.detail}")
    if not all(step.ok for step in steps):
        raise SystemExit(EXIT_REFUSED)


def _cell(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value, default=str)


def _config(home: Path, network: str | None) -> Any:
    """The analytics node's config, as ``up`` wrote it for the network."""
    from network.analytics.config import load_config
    from network.locate import network_folder

    config_file = network_folder(home, network) / NODE_CONFIG
    if not config_file.exists():
        fail(
            f"no analytics node in this network ({config_file} is missing): "
            "add analytics: to its spec"
        )
    return load_config(config_file)


@contextmanager
def open_database(home: Path, network: str | None, channel: str) -> Iterator[Any]:
    """``channel``'s analytics database: the node's service, else the database itself."""
    import grpc

    from ledgerdb.client import LedgerClient
    from ledgerdb.database import LedgerDatabase
    from ledgerdb.errors import LedgerUnavailable

    config = _config(home, network)
    if channel not in config.channels:
        fail(f"analytics follows {', '.join(config.channels)}, not channel {channel!r}")
    try:
        database = LedgerDatabase.open(config.database(channel), create=False)
    except LedgerUnavailable:  # the node holds it: ask its service
        with LedgerClient(config.listen(channel), timeout=30.0) as client:
            try:
                yield client
            except grpc.RpcError as exc:
                fail(f"analytics node at {config.listen(channel)}: {exc}")
        return
    try:
        yield database
    finally:
        database.close()
