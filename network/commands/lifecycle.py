"""``consortium up | down | status | logs | connection``: a whole network's life."""

from __future__ import annotations

import json
from pathlib import Path

import click

from network.output import OUTPUT_OPTION, emit_json, emit_table, fail

HOME_OPTION = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".consortium"),
    show_default=True,
    help="Folder holding every network's files.",
)


def _supervisor(spec_file: Path, home: Path, quiet: bool = False):
    from network.spec import SpecError, load_spec
    from network.supervisor import Home, Supervisor

    try:
        spec = load_spec(spec_file)
    except SpecError as exc:
        fail(str(exc))
    progress = (lambda _: None) if quiet else (lambda line: click.echo(line, err=True))
    return Supervisor(spec, Home(home / spec.name), progress)


@click.command("up")
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@HOME_OPTION
@OUTPUT_OPTION
def up(spec_file: Path, home: Path, output: str) -> None:
    """Start the network SPEC describes (or resume it with its data) and print where each
    node listens."""
    from network.errors import SupervisorError
    from network.spec import ports_in_use

    supervisor = _supervisor(spec_file, home, quiet=output == "json")
    if not supervisor.home.state_file().exists():
        busy = ports_in_use(supervisor.spec)
        if busy:
            what, host, port, line = busy[0]
            fail(f"{spec_file}:{line}: {what}: port {host}:{port} is already in use")
    try:
        nodes = supervisor.up()
    except SupervisorError as exc:
        fail(str(exc))
    rows = [(name, f"{host}:{port}") for name, host, port in nodes]
    if output == "json":
        emit_json({"network": supervisor.spec.name, "nodes": dict(rows)})
    else:
        emit_table(["node", "listens on"], rows, title=f"network {supervisor.spec.name} is up")


@click.command("down")
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@HOME_OPTION
@click.option("--purge", is_flag=True, help="Also delete the network's folder (all its data).")
def down(spec_file: Path, home: Path, purge: bool) -> None:
    """Stop every node of the network (gracefully); --purge deletes its data too."""
    supervisor = _supervisor(spec_file, home, quiet=True)
    stopped = supervisor.down(purge=purge)
    click.echo(f"stopped {len(stopped)} node(s)" + (", data deleted" if purge else ""))


@click.command("status")
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@HOME_OPTION
@OUTPUT_OPTION
def status(spec_file: Path, home: Path, output: str) -> None:
    """Which nodes run (pid) and the network's ids."""
    supervisor = _supervisor(spec_file, home, quiet=True)
    rows = [(p.name, p.pid or "stopped") for p in supervisor.all_processes()]
    state = supervisor.home.load_state()
    if output == "json":
        emit_json({"network_id": state.get("network_id"), "nodes": dict(rows)})
    else:
        emit_table(["node", "pid"], rows, title=f"network {supervisor.spec.name}")


@click.command("connection")
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("member")
@HOME_OPTION
def connection(spec_file: Path, member: str, home: Path) -> None:
    """Print MEMBER's connection file (gateway endpoint, TLS root, identities)."""
    supervisor = _supervisor(spec_file, home, quiet=True)
    path = supervisor.home.root / "connection" / f"{member}.json"
    if not path.exists():
        fail(f"no connection file for member {member!r}; is the network up?")
    click.echo(json.dumps(json.loads(path.read_text()), indent=2))


@click.command("logs")
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("node", required=False)
@HOME_OPTION
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option("-n", "--lines", default=40, show_default=True, help="How many last lines.")
def logs(spec_file: Path, node: str | None, home: Path, follow: bool, lines: int) -> None:
    """The last lines of NODE's log (or of every node's, each prefixed with its name)."""
    import time

    supervisor = _supervisor(spec_file, home, quiet=True)
    folder = supervisor.home.root / "logs"
    files = sorted(folder.glob("*.log")) if folder.exists() else []
    if node is not None:
        files = [f for f in files if f.stem == node]
        if not files:
            known = ", ".join(f.stem for f in sorted(folder.glob("*.log"))) or "none"
            fail(f"no log for node {node!r}; nodes with logs: {known}")
    positions = {}
    for file in files:
        text = file.read_text(errors="replace").splitlines()[-lines:]
        for line in text:
            click.echo(line if node else f"{file.stem}: {line}")
        positions[file] = file.stat().st_size
    while follow:
        time.sleep(0.5)
        for file in files:
            with open(file, errors="replace") as handle:
                handle.seek(positions[file])
                for line in handle.read().splitlines():
                    click.echo(line if node else f"{file.stem}: {line}")
                positions[file] = handle.tell()


@click.command("reconcile")
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@HOME_OPTION
@click.option("--watch", is_flag=True, help="Keep reconciling until Ctrl-C.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between passes.")
def reconcile(spec_file: Path, home: Path, watch: bool, interval: float) -> None:
    """Make the network run what the control plane has: a member voted in after `up` gets
    its CA and peer and joins every channel, a member voted out leaves, a node that died
    is restarted."""
    import time

    from network.errors import SupervisorError

    supervisor = _supervisor(spec_file, home)
    while True:
        try:
            joined = supervisor.reconcile()
        except SupervisorError as exc:
            if not watch:
                fail(str(exc))
            click.echo(f"error: {exc}", err=True)
            joined = None
        if joined:
            click.echo(f"running the members voted in after up: {', '.join(joined)}")
        elif joined is not None and not watch:
            click.echo("the network runs what the control plane has")
        if not watch:
            return
        time.sleep(interval)


COMMANDS = [up, down, status, connection, logs, reconcile]
