"""``consortium node run peer --config FILE``: one peer node."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from network.commands.node import RUN
from network.output import fail


@RUN.command("peer")
@click.option(
    "--config",
    "config_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Peer YAML: listen, mspid, msp_dir, data_dir, tls, orderers, peers, chaincodes.",
)
def peer(config_file: Path) -> None:
    """The peer node: Gateway, Endorser, Deliver, validation and commit."""
    from peers.errors import PeerError
    from peers.node import load_config, serve

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        asyncio.run(serve(load_config(config_file)))
    except PeerError as exc:
        fail(str(exc))
