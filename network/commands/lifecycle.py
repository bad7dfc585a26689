"""``consortium up | down | status | logs | connection``: a whole network's life."""

from __future__ import annotations

import fcntl
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import click

from network.output import OUTPUT_OPTION, emit_json, emit_record, emit_table, fail

HOME_OPTION = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".consortium"),
    show_default=True,
    help="Folder holding every network's files.",
)


SPEC_ARGUMENT = click.argument(
    "spec_file",
    metavar="[SPEC]",
    required=False,
    type=click.Path(dir_okay=False, path_type=Path),
)
NETWORK_OPTION = click.option(
    "--network", default=None, help="Which network under --home (default: the only one)."
)
RECONCILER = "reconciler"


def open_supervisor(spec_file: Path, home: Path, quiet: bool = False):
    from network.spec import load_spec
    from network.supervisor import Home, Supervisor

    spec = load_spec(spec_file)
    progress = (lambda _: None) if quiet else (lambda line: click.echo(line, err=True))
    return Supervisor(spec, Home(home / spec.name), progress)


def spec_path(spec_file: Path | None, home: Path, network: str | None) -> Path:
    """SPEC as given, else the one ``up`` recorded for the network (``consortium status``
    works without naming a file, as on Fabric's test network)."""
    from network.locate import recorded_spec

    if spec_file is not None:
        return spec_file
    return recorded_spec(home, network)


def open_running(home: Path, network: str | None, quiet: bool = True):
    """The supervisor of a network that runs, on the spec ``up`` last applied (the copy in
    its folder), with its state loaded: what commands acting on a live network use."""
    from network.locate import NetworkNotFound, network_folder

    try:
        folder = network_folder(home, network)
    except NetworkNotFound as exc:
        fail(str(exc))
    applied = folder / "applied-spec.yaml"
    spec = applied if applied.is_file() else spec_path(None, home, folder.name)
    supervisor = open_supervisor(spec, home, quiet)
    supervisor.state = supervisor.home.load_state()
    return supervisor


def split_spec(arguments: tuple[str, ...]) -> tuple[Path | None, tuple[str, ...]]:
    """A leading argument that is a file is the SPEC; the rest are the command's own."""
    if arguments and Path(arguments[0]).is_file():
        return Path(arguments[0]), arguments[1:]
    return None, arguments


@contextmanager
def reconcile_lock(supervisor) -> Iterator[None]:
    """One reconcile (or ``up``) at a time per network: the watcher ``up`` starts and a
    ``consortium reconcile`` typed by hand must not both add the same member."""
    folder = supervisor.home.root
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "reconcile.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _start_reconciler(supervisor, spec_file: Path, home: Path) -> None:
    """``reconcile --watch`` as a node of the network: members voted in later get their
    nodes, members voted out lose them, and dead nodes come back, with nobody typing."""
    from network.processes import CONSORTIUM

    watcher = supervisor.home.process(
        RECONCILER,
        [
            *CONSORTIUM,
            "reconcile",
            str(spec_file.resolve()),
            "--home",
            str(home.resolve()),
            "--watch",
        ],
        "",
        0,
    )
    if watcher.pid is None:
        watcher.start()


def _stop_reconciler(supervisor) -> None:
    for process in supervisor.all_processes():
        if process.name == RECONCILER:
            process.stop()


@click.command("up")
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@HOME_OPTION
@OUTPUT_OPTION
@click.option(
    "--no-reconcile",
    is_flag=True,
    help="Do not start the reconciler (run `consortium reconcile` by hand instead).",
)
@click.option(
    "--no-explorer",
    is_flag=True,
    help="Do not run the explorer (web view); `up` without it starts it again.",
)
def up(spec_file: Path, home: Path, output: str, no_reconcile: bool, no_explorer: bool) -> None:
    """Start the network SPEC describes (or resume it with its data) and print where each
    node listens; a reconciler keeps it matching the control plane afterwards."""
    from network.errors import SupervisorError
    from network.locate import SPEC_KEY
    from network.spec import ports_in_use

    supervisor = open_supervisor(spec_file, home, quiet=output == "json")
    supervisor.explorer_choice = "off" if no_explorer else "on"
    running = supervisor.home.state_file().exists()
    if not running:
        busy = ports_in_use(supervisor.spec)
        if busy:
            what, host, port, line = busy[0]
            fail(f"{spec_file}:{line}: {what}: port {host}:{port} is already in use")
    # The reconciler works from the last spec `up` applied (a copy in the network's
    # folder): stopped now, it is started again on the edited spec if `up` succeeds, and
    # on the previous one if it fails (what runs is still that network).
    applied = supervisor.home.applied_spec()
    if running and applied.exists():
        _show_plan(applied, supervisor.spec, quiet=output == "json")
    _stop_reconciler(supervisor)
    try:
        with reconcile_lock(supervisor):
            nodes = supervisor.up()
    except SupervisorError as exc:
        if running and applied.exists() and not no_reconcile:
            _start_reconciler(supervisor, applied, home)
        fail(str(exc))
    state = supervisor.home.load_state()
    state[SPEC_KEY] = str(spec_file.resolve())
    supervisor.home.save_state(state)
    supervisor.home.record_applied_spec(spec_file)
    if not running:
        _bootstrap_snapshot(supervisor, quiet=output == "json")
    if not no_reconcile:
        _start_reconciler(supervisor, applied, home)
    rows = [(name, f"{host}:{port}", ops or "-") for name, host, port, ops in nodes]
    if output == "json":
        emit_json(
            {
                "network": supervisor.spec.name,
                "nodes": {name: address for name, address, _ in rows},
                "operations": {name: ops for name, _, ops in rows if ops != "-"},
            }
        )
    else:
        emit_table(
            ["node", "listens on", "operations (/metrics /healthz /logspec)"],
            rows,
            title=f"network {supervisor.spec.name} is up",
        )


def _bootstrap_snapshot(supervisor, quiet: bool) -> None:
    """The network as `up` first made it, kept so `consortium reset` can go back to it."""
    from network.snapshot import BOOTSTRAP, SnapshotError, create

    running = {p.name for p in supervisor.all_processes() if p.pid is not None}
    try:
        create(supervisor.home.root, running, BOOTSTRAP)
    except SnapshotError as exc:
        if not quiet:
            click.echo(f"no bootstrap snapshot (consortium reset will not work): {exc}", err=True)


def _show_plan(applied: Path, spec, quiet: bool) -> None:
    """Print what `up` will change in the running network; refuse, touching nothing, if
    the edit holds anything it cannot apply."""
    from network.spec import SpecError, load_spec
    from network.supervisor.plan import plan_changes

    try:
        plan = plan_changes(load_spec(applied), spec)
    except SpecError:
        return  # an applied copy from an older consortium: nothing to compare with
    if plan.refusals:
        fail(
            "up refused, nothing was changed:\n"
            + "\n".join(f"  - {reason}" for reason in plan.refusals)
        )
    if not quiet:
        click.echo("plan: " + ("; ".join(plan.changes) or "nothing to change"), err=True)


@click.command("down")
@SPEC_ARGUMENT
@HOME_OPTION
@NETWORK_OPTION
@click.option("--purge", is_flag=True, help="Also delete the network's folder (all its data).")
def down(spec_file: Path | None, home: Path, network: str | None, purge: bool) -> None:
    """Stop every node of the network (gracefully); --purge deletes its data too."""
    supervisor = open_supervisor(spec_path(spec_file, home, network), home, quiet=True)
    _stop_reconciler(supervisor)  # first, or it would restart what down stops
    stopped = supervisor.down(purge=purge)
    click.echo(f"stopped {len(stopped)} node(s)" + (", data deleted" if purge else ""))


@click.command("status")
@SPEC_ARGUMENT
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def status(spec_file: Path | None, home: Path, network: str | None, output: str) -> None:
    """Nodes (alive, listening), block heights per channel, members and open proposals."""
    from network.status import network_status

    supervisor = open_supervisor(spec_path(spec_file, home, network), home, quiet=True)
    report = network_status(supervisor)
    nodes = report.pop("nodes")
    if output == "json":
        emit_json({**report, "nodes": {n.name: asdict(n) for n in nodes}})
        return
    emit_table(
        ["node", "state", "pid", "listens on", "listening", "operations", "health", "figures"],
        [
            (
                n.name,
                n.state,
                n.pid or "-",
                n.address or "-",
                _yes_no(n),
                n.operations or "-",
                n.health,
                n.figures or "-",
            )
            for n in nodes
        ],
        title=f"network {report['network']} ({report['network_id'] or 'not created'})",
    )
    for channel, heights in report["channels"].items():
        roles = report["roles"].get(channel, {})
        emit_table(
            ["node", "height", "role"],
            [(node, "?" if h is None else h, _role(node, roles)) for node, h in heights.items()],
            title=f"channel {channel}",
        )
    if servers := list(report["nats"].items()):
        emit_table(
            ["NATS server", "state", "listens on", "jetstream"],
            [(name, *(s[k] for k in ("state", "address", "jetstream"))) for name, s in servers],
            title="replicated ordering service",
        )
    if databases := list(report["analytics"].items()):
        emit_table(
            ["channel", "ledgerdb gRPC", "QLDB session API (ledger)", "listening"],
            [
                (c, a["ledgerdb"], f"{a['qldb']} ({a['qldb_ledger']})", _yes(a["qldb_listening"]))
                for c, a in databases
            ],
            title="analytics databases",
        )
    emit_table(
        ["member", "id", "status"],
        [(m["name"], m["id"], m["status"]) for m in report["members"]],
        title="members",
    )
    for certificate in report["expiring_certificates"]:
        left = certificate["days_left"]
        when = f"expired {-left} day(s) ago" if left < 0 else f"expires in {left} day(s)"
        click.echo(f"warning: certificate {certificate['file']} ({certificate['subject']}) {when}")
    if report["open_proposals"]:
        emit_table(
            ["open proposal", "proposed by"],
            [(p["id"], p["proposed_by"]) for p in report["open_proposals"]],
        )
    else:
        click.echo("no open proposals")


def _role(node: str, roles: dict[str, str]) -> str:
    """A node's role: a cluster orderer's as it reported it (``status.orderer_roles``)."""
    if not node.startswith("orderer-"):
        return "peer"
    return roles.get(node, "orderer")


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _yes_no(node) -> str:
    if not node.address:
        return "-"  # the reconciler listens nowhere
    return _yes(node.listening)


@click.command("connection")
@click.argument("arguments", metavar="[SPEC] MEMBER", nargs=-1, required=True)
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
@click.option(
    "--format",
    "shape",
    type=click.Choice(["gateway", "ccp", "caliper"]),
    default="gateway",
    show_default=True,
    help="gateway: our connection file; ccp: MEMBER's Fabric common connection profile "
    "(fabric-network, Caliper); caliper: a Caliper network configuration of every member, "
    "MEMBER first (the one Caliper uses by default). ccp and caliper print JSON.",
)
def connection(
    arguments: tuple[str, ...], home: Path, network: str | None, output: str, shape: str
) -> None:
    """Print MEMBER's connection file (gateway endpoint, TLS root, identities), its
    common connection profile, or a Caliper network configuration."""
    spec_file, rest = split_spec(arguments)
    if len(rest) != 1:
        fail("name one MEMBER (and optionally the SPEC before it)")
    supervisor = open_supervisor(spec_path(spec_file, home, network), home, quiet=True)
    folder = supervisor.home.root / "connection"
    path = folder / f"{rest[0]}.json"
    if not path.exists():
        fail(f"no connection file for member {rest[0]!r}; is the network up?")
    if shape == "ccp":
        emit_json(json.loads(_profile_path(path).read_text()))
        return
    if shape == "caliper":
        emit_json(_caliper_config(supervisor.spec.name, path))
        return
    document = json.loads(path.read_text())
    if output == "json":
        emit_json(document)
        return
    gateway = document["gateway"]
    emit_record(
        {
            "network": document["network"],
            "channel": document["channel"],
            "mspId": document["mspId"],
            "gateway endpoint": gateway["endpoint"],
            "TLS root certificate": gateway["tlsRootCert"],
            "identities": ", ".join(document["identities"]),
            "file": str(path),
        },
        "table",
        f"member {rest[0]}",
    )


def _profile_path(connection_file: Path) -> Path:
    """The common connection profile `up` writes for a member (``connection/ccp/``)."""
    from network.supervisor.connections import PROFILES

    profile = connection_file.parent / PROFILES / connection_file.name
    if not profile.exists():
        fail(f"no connection profile {profile}; run `consortium up` again to write it")
    return profile


def _caliper_config(network: str, first: Path) -> dict:
    """A Caliper network configuration naming every member with a connection file,
    the member of ``first`` leading."""
    from network.connection_profiles import caliper_network_config

    files = [first, *sorted(p for p in first.parent.glob("*.json") if p != first)]
    members = [(json.loads(p.read_text()), _profile_path(p).resolve()) for p in files]
    return caliper_network_config(network, members)


@click.command("logs")
@click.argument("arguments", metavar="[SPEC] [NODE]", nargs=-1)
@HOME_OPTION
@NETWORK_OPTION
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option("-n", "--lines", default=40, show_default=True, help="How many last lines.")
def logs(
    arguments: tuple[str, ...], home: Path, network: str | None, follow: bool, lines: int
) -> None:
    """The last lines of NODE's log (or of every node's, each prefixed with its name)."""

    spec_file, rest = split_spec(arguments)
    if len(rest) > 1:
        fail("name at most one NODE (and optionally the SPEC before it)")
    node = rest[0] if rest else None
    supervisor = open_supervisor(spec_path(spec_file, home, network), home, quiet=True)
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
@SPEC_ARGUMENT
@HOME_OPTION
@NETWORK_OPTION
@click.option("--watch", is_flag=True, help="Keep reconciling until Ctrl-C.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between passes.")
def reconcile(
    spec_file: Path | None, home: Path, network: str | None, watch: bool, interval: float
) -> None:
    """Make the network run what the control plane has: a member voted in after `up` gets
    its CA and peer (it joins no channel until `channel add-member`), a member voted out
    leaves, a node that died is restarted."""
    supervisor = open_supervisor(spec_path(spec_file, home, network), home)
    if watch:
        _watch(supervisor, interval)
    with reconcile_lock(supervisor):
        joined = supervisor.reconcile()
    if joined:
        click.echo(f"running the members voted in after up: {', '.join(joined)}")
    else:
        click.echo("the network runs what the control plane has")


def _pids(supervisor) -> dict[str, int | None]:
    return {process.name: process.pid for process in supervisor.all_processes()}


def _follow_spec(supervisor) -> None:
    """Reload the spec file when it changed (``up`` rewrites the applied copy), so the
    reconciler always works from the latest spec ``up`` applied."""
    from network.spec import SpecError, load_spec

    try:
        stamp = supervisor.spec.file.stat().st_mtime_ns
    except OSError:
        return
    if stamp == getattr(supervisor, "spec_stamp", stamp):
        supervisor.spec_stamp = stamp
        return
    try:
        supervisor.spec = load_spec(supervisor.spec.file)
    except SpecError as exc:
        click.echo(f"{time.strftime('%H:%M:%S')} keeping the previous spec: {exc}", err=True)
    supervisor.spec_stamp = stamp


def _watch(supervisor, interval: float) -> None:
    """Reconcile every ``interval`` seconds, forever; a pass that changed nothing (no node
    started or stopped, no member joined or left) prints nothing, so the log shows events."""
    from network.errors import SupervisorError

    lines: list[str] = []
    supervisor.progress = lines.append
    reported: list[str] | None = None
    last_error = ""
    while True:
        lines.clear()
        _follow_spec(supervisor)
        before = _pids(supervisor)
        try:
            with reconcile_lock(supervisor):
                joined = supervisor.reconcile()
            last_error = ""
        except SupervisorError as exc:
            # the whole report once; while the same failure repeats, its first line only
            text = str(exc) if str(exc) != last_error else str(exc).splitlines()[0] + " (again)"
            click.echo(f"{time.strftime('%H:%M:%S')} error: {text}", err=True)
            last_error = str(exc)
            joined = reported
        if _pids(supervisor) != before or joined != reported:
            for line in lines:
                click.echo(f"{time.strftime('%H:%M:%S')} {line}", err=True)
            click.echo(f"members voted in after up: {', '.join(joined or []) or 'none'}")
        reported = joined
        time.sleep(interval)


COMMANDS = [up, down, status, connection, logs, reconcile]
