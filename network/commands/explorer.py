"""``consortium explorer`` (where the local network's web view is) and ``consortium node run
explorer --config FILE`` (the web view itself, a node ``up`` starts; see
``network.explorer``)."""

from __future__ import annotations

from pathlib import Path

import click

from network.commands.fabric_nodes import CONFIG_OPTION, run_node
from network.commands.lifecycle import HOME_OPTION, NETWORK_OPTION, open_running
from network.commands.node import RUN
from network.nodeopts import LOG_LEVEL_OPTION
from network.output import OUTPUT_OPTION, emit_json, fail


@RUN.command("explorer")
@CONFIG_OPTION
@LOG_LEVEL_OPTION
def explorer_node(config_file: Path, log_level: str | None) -> None:
    """The explorer: the network, its blocks and each transaction's flow, in a browser."""
    run_node("network.explorer.server", config_file, log_level)


@click.command("explorer")
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def COMMAND(home: Path, network: str | None, output: str) -> None:
    """Print the URL of the local network's explorer (``up`` starts it)."""
    from network.supervisor.explorer import EXPLORER

    supervisor = open_running(home, network)
    running = [p for p in supervisor.all_processes() if p.name == EXPLORER and p.pid is not None]
    if not running:
        fail(
            f"the explorer of {supervisor.spec.name} is not running (`consortium up` starts "
            "it unless --no-explorer or `explorer: off`)"
        )
    url = f"http://{running[0].address()}/"
    if output == "json":
        emit_json({"network": supervisor.spec.name, "url": url})
    else:
        click.echo(url)
