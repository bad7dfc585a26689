"""``consortium certs rotate``: renew identities and node TLS certificates of a running
network, node by node, with no restart (``network/supervisor/certs.py``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from network.commands.lifecycle import HOME_OPTION, NETWORK_OPTION, open_running, reconcile_lock
from network.output import OUTPUT_OPTION, emit_json, emit_table


@click.group("certs")
def COMMAND() -> None:
    """Certificates of the running network."""


@COMMAND.command("rotate")
@click.option("--member", default=None, help="Only this member's peers and users.")
@click.option(
    "--node",
    default=None,
    help="Only this node, as status names it (peer-org1-peer0, chaincode-basic).",
)
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def rotate(
    member: str | None, node: str | None, home: Path, network: str | None, output: str
) -> None:
    """Re-enroll identities and TLS certificates with their CA and have each node use the
    new ones, one node at a time, without a restart; `status` warns 30 days before any
    certificate expires."""
    supervisor = open_running(home, network, quiet=output == "json")
    with reconcile_lock(supervisor):
        rotated = supervisor.rotate_certificates(member, node)
    rows = [dataclasses.asdict(r) for r in rotated]
    if output == "json":
        emit_json({"rotated": rows})
        return
    emit_table(
        ["owner", "certificate", "serial", "valid until"],
        [(r["owner"], r["kind"], r["serial"], r["not_after"]) for r in rows],
        f"{len(rows)} certificates renewed",
    )
