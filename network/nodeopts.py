"""Options every ``consortium`` process that serves takes: its log level and its
operations service (``/metrics``, ``/healthz``, ``/logspec``)."""

from __future__ import annotations

import click

from network.output import fail
from proto import logspec

LOG_LEVEL_OPTION = click.option(
    "--log-level",
    "log_level",
    default=None,
    metavar="SPEC",
    help="Fabric logging spec: a level (debug, info, warning, error) or "
    "'peers.gateway=debug:info' (else $CONSORTIUM_LOGGING_SPEC, $FABRIC_LOGGING_SPEC, info).",
)
OPERATIONS_OPTION = click.option(
    "--operations-listen",
    "operations_listen",
    default="",
    metavar="HOST:PORT",
    help="Serve /metrics, /healthz and /logspec there (Fabric's operations service).",
)


def setup_logging(log_level: str | None) -> None:
    """Configure the process's logging from ``--log-level`` or the environment; a bad
    spec is one line and exit 2, before anything starts."""
    try:
        logspec.configure(log_level)
    except logspec.LogSpecError as exc:
        fail(f"--log-level: {exc}")


def check_listen(operations_listen: str) -> None:
    from proto.operations import split_listen

    if not operations_listen:
        return
    try:
        split_listen(operations_listen)
    except ValueError as exc:
        fail(f"--operations-listen: {exc}")
