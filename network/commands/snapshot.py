"""``consortium snapshot create | list | restore`` and ``consortium reset``.

Snapshots are taken from the running network (``network.snapshot``): nothing stops.
``reset`` puts the network back where ``up`` left it the first time (the ``bootstrap``
snapshot ``up`` takes), the local network's "start again with a clean ledger".
"""

from __future__ import annotations

from pathlib import Path

import click

from network.commands.lifecycle import (
    HOME_OPTION,
    NETWORK_OPTION,
    SPEC_ARGUMENT,
    open_supervisor,
    spec_path,
    split_spec,
)
from network.output import OUTPUT_OPTION, emit_json, emit_table, fail


def _running(supervisor) -> set[str]:
    return {p.name for p in supervisor.all_processes() if p.pid is not None}


def _supervisor(spec_file: Path | None, home: Path, network: str | None):
    return open_supervisor(spec_path(spec_file, home, network), home, quiet=True)


@click.group("snapshot")
def COMMAND() -> None:
    """Consistent copies of a running network, and restoring them."""


@COMMAND.command("create")
@click.argument("arguments", metavar="[SPEC] [NAME]", nargs=-1)
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def create(arguments: tuple[str, ...], home: Path, network: str | None, output: str) -> None:
    """Copy the running network (journals, CAs, control plane, keys) at one height per
    channel, verified as written, without stopping it. NAME defaults to the time."""
    from network.snapshot import SnapshotError, create

    spec_file, rest = split_spec(arguments)
    if len(rest) > 1:
        fail("name at most one snapshot NAME (and optionally the SPEC before it)")
    supervisor = _supervisor(spec_file, home, network)
    try:
        manifest = create(supervisor.home.root, _running(supervisor), rest[0] if rest else None)
    except SnapshotError as exc:
        fail(str(exc))
    if output == "json":
        emit_json(manifest)
        return
    heights = ", ".join(f"{c} at {h}" for c, h in manifest["heights"].items()) or "no channel"
    click.echo(
        f"snapshot {manifest['name']}: {heights}; {len(manifest['journals'])} journals "
        f"verified, {manifest['bytes'] / 1e6:.1f} MB in {manifest['seconds']:.1f}s"
    )


@COMMAND.command("list")
@SPEC_ARGUMENT
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def list_(spec_file: Path | None, home: Path, network: str | None, output: str) -> None:
    """The network's snapshots, oldest first."""
    from network.snapshot import list_snapshots

    snapshots = list_snapshots(_supervisor(spec_file, home, network).home.root)
    if output == "json":
        emit_json(snapshots)
        return
    emit_table(
        ["snapshot", "created", "heights", "size"],
        [
            (
                s["name"],
                s["created"],
                ", ".join(f"{c}: {h}" for c, h in s["heights"].items()),
                f"{s['bytes'] / 1e6:.1f} MB",
            )
            for s in snapshots
        ],
        title="snapshots",
    )


@COMMAND.command("restore")
@click.argument("arguments", metavar="[SPEC] NAME", nargs=-1, required=True)
@HOME_OPTION
@NETWORK_OPTION
@click.option(
    "--into",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Restore into this new home folder instead (the network itself is left alone).",
)
def restore(arguments: tuple[str, ...], home: Path, network: str | None, into: Path | None) -> None:
    """Put snapshot NAME back: over the stopped network (`consortium down` first), or
    into a new home folder; then `consortium up` starts it from there."""
    from network.snapshot import SnapshotError, restore

    spec_file, rest = split_spec(arguments)
    if len(rest) != 1:
        fail("name one snapshot NAME (and optionally the SPEC before it)")
    supervisor = _supervisor(spec_file, home, network)
    running = _running(supervisor) if into is None else set()
    try:
        folder = restore(supervisor.home.root, rest[0], into, running)
    except SnapshotError as exc:
        fail(str(exc))
    where = "" if into is None else f" --home {into}"
    click.echo(f"restored {rest[0]} into {folder}; start it with `consortium up{where} SPEC`")


@click.command("reset")
@SPEC_ARGUMENT
@HOME_OPTION
@NETWORK_OPTION
@click.pass_context
def reset(ctx: click.Context, spec_file: Path | None, home: Path, network: str | None) -> None:
    """Back to the state right after `up`'s first bootstrap: stop the network, restore
    the `bootstrap` snapshot, start it again. Every transaction since is gone."""
    from network.commands.lifecycle import down, up
    from network.snapshot import BOOTSTRAP, SnapshotError, restore

    spec = spec_path(spec_file, home, network)
    supervisor = _supervisor(spec, home, network)
    if not (supervisor.home.root / "snapshots" / BOOTSTRAP).is_dir():
        fail(f"{supervisor.spec.name} has no {BOOTSTRAP} snapshot (networks first started by "
             "an older consortium have none)")  # fmt: skip
    ctx.invoke(down, spec_file=spec, home=home, network=network, purge=False)
    try:
        restore(supervisor.home.root, BOOTSTRAP, None, _running(supervisor))
    except SnapshotError as exc:
        fail(str(exc))
    ctx.invoke(up, spec_file=spec, home=home, output="table", no_reconcile=False)


COMMANDS = [reset]
