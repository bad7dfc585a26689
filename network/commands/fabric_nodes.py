"""``consortium node run orderer|peer --config FILE``: the Fabric nodes of a network.

Both read one YAML file and serve until SIGTERM; they differ only in which part runs
them, so one function starts either.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click
import uvloop

from network.commands.node import RUN
from network.nodeopts import LOG_LEVEL_OPTION, setup_logging

CONFIG_OPTION = click.option(
    "--config",
    "config_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The node's YAML config (see its module's docstring for the settings).",
)


def run_node(module: str, config_file: Path, log_level: str | None) -> None:
    """Load ``module``'s config and run its ``serve`` until SIGTERM; a config or start-up
    error (its part's root) prints one line and exits 2, in ``network.cli``."""
    setup_logging(log_level)
    node = importlib.import_module(module)
    uvloop.run(node.serve(node.load_config(config_file)))


@RUN.command("orderer")
@CONFIG_OPTION
@LOG_LEVEL_OPTION
def orderer(config_file: Path, log_level: str | None) -> None:
    """The ordering service node: Broadcast, Deliver, channel participation."""
    run_node("ordering.node", config_file, log_level)


@RUN.command("peer")
@CONFIG_OPTION
@LOG_LEVEL_OPTION
def peer(config_file: Path, log_level: str | None) -> None:
    """The peer node: Gateway, Endorser, Deliver, validation and commit."""
    run_node("peers.node", config_file, log_level)
