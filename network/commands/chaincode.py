"""``consortium chaincode``: package a contract for Fabric CCaaS, deploy or upgrade it on
the running network in one command, run it in dev mode (taking a deployed one over)."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from chaincode.errors import ChaincodeError
from chaincode.packaging import Connection, write_package
from network.commands.lifecycle import HOME_OPTION, NETWORK_OPTION, open_running, reconcile_lock
from network.output import OUTPUT_OPTION, emit_record, fail

if TYPE_CHECKING:
    from network.supervisor import Supervisor
    from network.supervisor.chaincodes import Wanted


@click.group("chaincode")
def COMMAND() -> None:
    """Package and run chaincode (contracts served as chaincode-as-a-service)."""


@COMMAND.command("package")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--label", required=True, help="Package label, e.g. basic_1.0.")
@click.option(
    "--address",
    default="127.0.0.1:9999",
    show_default=True,
    help="host:port where peers dial the contract (connection.json).",
)
@click.option("--dial-timeout", default="10s", show_default=True)
@click.option("--tls", "tls_required", is_flag=True, help="Peers must dial with TLS.")
@click.option("--root-cert", type=click.Path(path_type=Path), help="PEM that signed the server.")
@click.option("--client-cert", type=click.Path(path_type=Path), help="Peer's TLS cert (mTLS).")
@click.option("--client-key", type=click.Path(path_type=Path), help="Peer's TLS key (mTLS).")
@click.option(
    "--file", "output_file", type=click.Path(path_type=Path), help="Default: ./<label>.tar.gz"
)
@OUTPUT_OPTION
def package(
    directory: Path,
    label: str,
    address: str,
    dial_timeout: str,
    tls_required: bool,
    root_cert: Path | None,
    client_cert: Path | None,
    client_key: Path | None,
    output_file: Path | None,
    output: str,
) -> None:
    """Write a Fabric chaincode-as-a-service package for the contract in DIRECTORY."""
    connection = Connection(
        address,
        dial_timeout=dial_timeout,
        tls_required=tls_required,
        client_auth_required=bool(client_cert or client_key),
        root_cert=_pem(root_cert, "--root-cert"),
        client_cert=_pem(client_cert, "--client-cert"),
        client_key=_pem(client_key, "--client-key"),
    )
    built = write_package(directory, label, connection, output_file)
    emit_record(
        {"package_id": built.package_id, "file": str(built.path), "address": address},
        output,
        "chaincode package",
    )


def _pem(path: Path | None, option: str) -> str:
    if path is None:
        return ""
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ChaincodeError(f"{option} {path}: cannot read ({exc})") from None


_NAME = re.compile(r"^[a-zA-Z0-9]+([-_][a-zA-Z0-9]+)*$")  # Fabric's chaincode name rule
_VERSION = re.compile(r"^[A-Za-z0-9_.+-]+$")


def _contract_folder(directory: Path) -> Path:
    if not (directory / "__init__.py").is_file():
        fail(f"DIR {directory}: not a contract folder (a Python package with __init__.py)")
    return directory.resolve()


def _checked_options(
    name: str, version: str | None, policy: str | None, collections: Path | None
) -> None:
    """Every option checked before anything is touched; one sentence naming the field."""
    from ca.errors import CaError
    from network.chaincode_deploy import application_policy, collections_from_file

    if not _NAME.match(name):
        fail(f"--name {name!r}: letters and digits, separated by single - or _ (Fabric's rule)")
    if version is not None and not _VERSION.match(version):
        fail(f"--version {version!r}: letters, digits and . _ + - only")
    try:
        if policy is not None:
            application_policy(policy)
        if collections is not None:
            collections_from_file(collections)
    except CaError as exc:
        fail(f"--{'policy' if collections is None else 'collections'}: {exc}")


@COMMAND.command("deploy")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="The chaincode's name on the channel.")
@click.option("--channel", default=None, help="Default: its channel, or the only one.")
@click.option("--policy", default=None, help="Endorsement policy (default: kept, or MAJORITY).")
@click.option(
    "--collections",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Private data collections: a Fabric collections_config.json.",
)
@click.option("--version", default=None, help="Default: kept, or 1.0.")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Default: a free one.")
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def deploy_command(
    directory: Path,
    name: str,
    channel: str | None,
    policy: str | None,
    collections: Path | None,
    version: str | None,
    port: int | None,
    home: Path,
    network: str | None,
    output: str,
) -> None:
    """Package the contract in DIRECTORY, install it on every member peer of the channel,
    approve it for each member, commit it and run it; again with changed code or settings,
    upgrade it (sequence + 1)."""
    folder = _contract_folder(directory)
    _checked_options(name, version, policy, collections)
    supervisor = open_running(home, network, quiet=output == "json")
    started = time.monotonic()
    with reconcile_lock(supervisor):
        supervisor.state = supervisor.home.load_state()
        supervisor._start_existing()
        wanted = _wanted(supervisor, folder, name, channel, policy, collections, version, port)
        try:
            done = supervisor.deploy_chaincode(wanted)
            supervisor.write_connection_files()
        except Exception as exc:  # a runner or lifecycle call failed: the old one still runs
            fail(f"chaincode {name}: {exc}")
    record = {**dataclasses.asdict(done), "seconds": round(time.monotonic() - started, 2)}
    emit_record(record, output, f"chaincode {name} {done.action}")


def _wanted(
    supervisor: Supervisor,
    folder: Path,
    name: str,
    channel: str | None,
    policy: str | None,
    collections: Path | None,
    version: str | None,
    port: int | None,
) -> Wanted:
    """The settings to deploy: the options given, else what the chaincode has, else the
    defaults; without ``--port`` an unchanged chaincode keeps its address and a changed
    one gets a new free port (served before the old one stops)."""
    from chaincode.devmode import require_free
    from network.errors import SupervisorError
    from network.supervisor.chaincodes import Wanted

    old: dict[str, Any] = supervisor.chaincode_records.get(name, {})
    channels = [c.name for c in supervisor.spec.channels]
    channel = channel or old.get("channel") or (channels[0] if len(channels) == 1 else None)
    if channel is None:
        fail(f"--channel: the network has {len(channels)} channels ({', '.join(channels)})")
    try:
        supervisor.spec_channel(channel)
    except SupervisorError as exc:
        fail(f"--channel: {exc}")
    wanted = Wanted(
        name,
        channel,
        str(folder),
        version or old.get("version") or "1.0",
        policy if policy is not None else old.get("policy", ""),
        port or old.get("port") or supervisor.free_chaincode_port(),
        str(collections.resolve()) if collections else old.get("collections", ""),
    )
    if port is None and old and not supervisor.runs_as(wanted):
        wanted = dataclasses.replace(wanted, port=supervisor.free_chaincode_port())
    if port is not None and port != old.get("port"):
        try:
            require_free(f"127.0.0.1:{port}", f"--port {port}")
        except ChaincodeError as exc:
            fail(str(exc))
    return wanted


@COMMAND.command("dev")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option(
    "--name",
    default=None,
    help="Take over this deployed chaincode: its runner stops, dev mode serves at its "
    "address until Ctrl-C, then the network runs it again.",
)
@click.option("--address", default=None, help="Default: the chaincode's, or a free port.")
@click.option("--id", "chaincode_id", help="Chaincode id to register (default: directory name).")
@click.option("--interval", default=0.5, show_default=True, help="Seconds between file checks.")
@HOME_OPTION
@NETWORK_OPTION
def dev(
    directory: Path,
    name: str | None,
    address: str | None,
    chaincode_id: str | None,
    interval: float,
    home: Path,
    network: str | None,
) -> None:
    """Serve the contract in DIRECTORY as CCaaS and restart it when its files change."""
    from chaincode.devmode import DevServer, free_address

    folder = _contract_folder(directory)
    taken = _take_over(name, home, network) if name else None
    options: list[str] = []
    if taken is not None:
        supervisor, record = taken
        address = address or f"127.0.0.1:{record['port']}"
        chaincode_id = chaincode_id or record["package_id"]
        options = supervisor.runner_tls_options(record)  # peers dial it as its package says
    try:
        server = DevServer(
            folder,
            chaincode_id or name or folder.name,
            address or free_address(),
            click.echo,
            options,
        )
    except ChaincodeError as exc:
        if taken is not None:
            _hand_back(supervisor, name)
        fail(str(exc))
    click.echo(f"dev mode: watching {directory}, serving at {server.address} (Ctrl-C to stop)")
    try:
        server.run(interval)
    finally:
        if taken is not None:
            _hand_back(supervisor, name)


def _take_over(
    name: str, home: Path, network: str | None
) -> tuple[Supervisor, dict[str, Any]] | None:
    """Stop the network's runner of chaincode ``name`` and mark it held by this process
    (the reconciler leaves it alone while this process lives); None when no running
    network has a chaincode by that name (plain dev mode)."""
    from network.locate import NetworkNotFound, network_folder
    from network.supervisor.chaincodes import dev_pid

    try:
        network_folder(home, network)
    except NetworkNotFound:
        return None
    supervisor = open_running(home, network)
    with reconcile_lock(supervisor):
        supervisor.state = supervisor.home.load_state()
        record = supervisor.chaincode_records.get(name)
        if record is None:
            return None
        holder = dev_pid(record)
        if holder is not None:
            fail(f"--name {name}: already in dev mode (pid {holder}); stop that one first")
        record["dev"] = os.getpid()
        supervisor.home.save_state(supervisor.state)
        supervisor.stop_runner(name)
    click.echo(f"dev mode: took chaincode {name} over from network {supervisor.spec.name}")
    return supervisor, record


def _hand_back(supervisor: Supervisor, name: str) -> None:
    """Give the chaincode back: its recorded package runs again at its address (if it
    cannot start now, the reconciler keeps trying; the record no longer names us)."""
    from network.errors import SupervisorError

    with reconcile_lock(supervisor):
        supervisor.state = supervisor.home.load_state()
        record = supervisor.chaincode_records[name]
        record.pop("dev", None)
        supervisor.home.save_state(supervisor.state)
        try:
            supervisor.start_runner(name)
        except SupervisorError as exc:
            click.echo(f"error: chaincode {name} handed back but did not start: {exc}", err=True)
            return
    click.echo(f"dev mode: chaincode {name} handed back to network {supervisor.spec.name}")
