"""``consortium node run orderer --config FILE``: one ordering service node."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from network.commands.node import RUN
from network.output import fail


@RUN.command("orderer")
@click.option(
    "--config",
    "config_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Orderer YAML: listen, admin_listen, mspid, msp_dir, data_dir, tls.",
)
def orderer(config_file: Path) -> None:
    """The ordering service node: Broadcast, Deliver, channel participation."""
    from ordering.errors import OrderingError
    from ordering.node import load_config, serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(load_config(config_file)))
    except OrderingError as exc:
        fail(str(exc))
