"""The ``consortium`` command line.

Each part's commands live in their own module under ``network/commands/`` and are
attached here, so this file only says which groups exist, and how an error that
reaches it ends the command: each part's error root maps to an exit status in
``EXIT_CODES`` (the most specific class listed wins), and the error prints one line
on stderr. Nothing prints a traceback for an error a user or the network caused.
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import click

from ca.errors import CaError
from chaincode.errors import ChaincodeError
from ledgerdb.errors import LedgerError
from network.commands import discover
from network.controlplane.errors import ControlPlaneError
from network.errors import NetworkError
from network.gateway_client import GatewayClientError
from network.output import EXIT_BAD_INPUT, EXIT_REFUSED, fail
from ordering.errors import OrderingError
from peers.errors import PeerError
from proto.errors import ProtoError

EXIT_CODES: dict[type[Exception], int] = {
    CaError: EXIT_BAD_INPUT,
    ChaincodeError: EXIT_BAD_INPUT,
    LedgerError: EXIT_BAD_INPUT,
    NetworkError: EXIT_BAD_INPUT,
    OrderingError: EXIT_BAD_INPUT,
    PeerError: EXIT_BAD_INPUT,
    ProtoError: EXIT_BAD_INPUT,
    GatewayClientError: EXIT_REFUSED,  # the network answered: not endorsed, not VALID
}


def exit_code(exc: Exception) -> int:
    """The status for ``exc``: that of the nearest class of its MRO in ``EXIT_CODES``."""
    return next(EXIT_CODES[cls] for cls in type(exc).__mro__ if cls in EXIT_CODES)


def one_line(exc: Exception) -> str:
    """What the user reads: AMB's error type for the control plane (as the AWS CLI
    prints it), each refusing peer's reason for a gateway call."""
    if isinstance(exc, ControlPlaneError):
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, GatewayClientError) and exc.details:
        return f"{exc} ({'; '.join(f'{d.msp_id}: {d.message}' for d in exc.details)})"
    return str(exc)


class _Consortium(click.Group):
    """The top-level group: the one place an error of any part becomes an exit status."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except tuple(EXIT_CODES) as exc:
            fail(one_line(exc), exit_code(exc))


@click.group(cls=_Consortium, context_settings={"help_option_names": ["-h", "--help"]})
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
