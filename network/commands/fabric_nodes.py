"""``consortium node run orderer|peer --config FILE``: the Fabric nodes of a network.

Both read one YAML file and serve until SIGTERM; they differ only in which part runs
them, so one function starts either.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

import click

from network.commands.node import RUN
from network.nodeopts import LOG_LEVEL_OPTION, setup_logging
from network.output import fail

CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node's YAML config (see its module's docstring for the settings).",
)


def run_node(
    module: str, errors: str, error_class: str, config_file: Path, log_level: str | None
) -> None:
    """Load ``module``'s config and run its ``serve`` until SIGTERM; a config or start-up
    error prints one line and exits 2."""
    setup_logging(log_level)
    node = importlib.import_module(module)
    error = getattr(importlib.import_module(errors), error_class)
    try:
        asyncio.run(node.serve(node.load_config(config_file)))
    except error as exc:
        fail(str(exc))


@RUN.command("orderer")
@CONFIG_OPTION
@LOG_LEVEL_OPTION
def orderer(config_file: Path, log_level: str | None) -> None:
    """The ordering service node: Broadcast, Deliver, channel participation."""
    run_node("ordering.node", "ordering.errors", "OrderingError", config_file, log_level)


@RUN.command("peer")
@CONFIG_OPTION
@LOG_LEVEL_OPTION
def peer(config_file: Path, log_level: str | None) -> None:
    """The peer node: Gateway, Endorser, Deliver, validation and commit."""
    run_node("peers.node", "peers.errors", "PeerError", config_file, log_level)
