"""``consortium chaincode``: package a contract for Fabric CCaaS, run it in dev mode."""

from __future__ import annotations

from pathlib import Path

import click

from chaincode.errors import ChaincodeError
from chaincode.packaging import Connection, write_package
from network.output import OUTPUT_OPTION, emit_record


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


@COMMAND.command("dev")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--address", default="127.0.0.1:9999", show_default=True)
@click.option("--id", "chaincode_id", help="Chaincode id to register (default: directory name).")
@click.option("--interval", default=0.5, show_default=True, help="Seconds between file checks.")
def dev(directory: Path, address: str, chaincode_id: str | None, interval: float) -> None:
    """Serve the contract in DIRECTORY as CCaaS and restart it when its files change."""
    from chaincode.devmode import DevServer

    server = DevServer(
        directory.resolve(), chaincode_id or directory.resolve().name, address, click.echo
    )
    click.echo(f"dev mode: watching {directory} (Ctrl-C to stop)")
    server.run(interval)
