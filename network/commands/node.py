"""``consortium node run <kind>``: run one node of a network in the foreground.

``node`` is a group and ``run`` a group inside it, so each kind of node (control plane,
orderer, peer, CA) is one subcommand added to ``RUN`` from its own module.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from network.output import fail


@click.group("node")
def COMMAND() -> None:
    """Run the processes that make up a network."""


@COMMAND.group("run")
def RUN() -> None:
    """Run one node in the foreground until SIGTERM."""


@RUN.command("control-plane")
@click.option(
    "--data",
    "data",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory for the ledger and secrets (created if missing).",
)
@click.option(
    "--port",
    required=True,
    type=click.IntRange(0, 65535),
    help="TCP port for the AMB-compatible REST API (0: any free port).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML: host, region, strict, credentials_file, reconcile, "
    "clock, rate_limit, burst, sweep_seconds.",
)
def control_plane(data: Path, port: int, config_file: Path | None) -> None:
    """The AMB-style control plane: networks, members, proposals, votes, invitations, nodes."""
    from network.controlplane.errors import StoreError
    from network.controlplane.server import ConfigError, load_config, serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        config = load_config(config_file)
    except ConfigError as exc:
        fail(str(exc))

    def ready(bound: int) -> None:
        click.echo(f"control plane listening on http://{config.host}:{bound}", nl=True)

    try:
        asyncio.run(serve(data, port, config, ready))
    except (StoreError, ValueError, OSError) as exc:
        fail(str(exc))
