"""The ``consortium`` command line.

Each part's commands live in their own module under ``network/commands/`` and are
attached here, so this file only says which groups exist. Errors that a user caused
print one line on stderr and exit with status 2; nothing prints a traceback.
"""

from __future__ import annotations

from importlib.metadata import version

import click

from network.commands import discover


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version("consortium"), prog_name="consortium")
def cli() -> None:
    """Run a multi-member Hyperledger Fabric network the way Amazon Managed Blockchain does.

    Members join and leave by vote, each member has its own certificate authority and
    peers, and the ordering service keeps its log in ledgerdb, a verifiable ledger.
    """


for command in discover():
    cli.add_command(command)


def main() -> None:
    cli(prog_name="consortium")
