"""``consortium ca``: run a member's certificate authority, export its MSP."""

from __future__ import annotations

import asyncio
import logging

import click

from ca.authority import CertificateAuthority
from ca.errors import CaError
from ca.keystore import master_key_from_environment
from ca.msp import write_msp
from ca.server import serve, tls_context
from ca.settings import CaSettings
from network.output import OUTPUT_OPTION, emit_record, fail


@click.group("ca")
def COMMAND() -> None:
    """Member certificate authorities speaking the Fabric CA REST protocol."""


def _boot(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    name, sep, secret = value.partition(":")
    if not sep or not name or not secret:
        fail("--boot must be NAME:PASSWORD, e.g. admin:adminpw")
    return name, secret


def _open(home: str, settings: CaSettings | None, boot: str | None, key_file: str | None):
    try:
        master = master_key_from_environment(key_file) if key_file else None
        return CertificateAuthority.open(
            home, settings=settings, boot=_boot(boot), master_key=master
        )
    except CaError as exc:
        fail(str(exc))


@COMMAND.command("serve")
@click.option("--home", required=True, type=click.Path(file_okay=False), help="CA home folder.")
@click.option("--port", default=7054, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--boot", help="Bootstrap identity NAME:PASSWORD (registered once).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--master-key-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Master key for the CA key store (else $CONSORTIUM_CA_MASTER_KEY[_FILE], "
    "else HOME/master.key).",
)
@click.option("--name", default="ca", show_default=True, help="CA name (new homes only).")
@click.option("--mspid", default="Org1MSP", show_default=True, help="MSP ID (new homes only).")
@click.option("--organization", default="Org1", show_default=True, help="(new homes only)")
@click.option(
    "--max-enrollments",
    default=-1,
    show_default=True,
    type=int,
    help="Registry max enrollments, -1 unlimited (new homes only).",
)
def serve_command(
    home: str,
    port: int,
    host: str,
    boot: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    master_key_file: str | None,
    name: str,
    mspid: str,
    organization: str,
    max_enrollments: int,
) -> None:
    """Serve the Fabric CA REST API (cainfo, enroll, reenroll, register, revoke, gencrl)."""
    if bool(tls_cert) != bool(tls_key):
        fail("--tls-cert and --tls-key go together")
    try:
        settings = CaSettings(
            name=name, mspid=mspid, organization=organization, max_enrollments=max_enrollments
        )
    except CaError as exc:
        fail(str(exc))
    authority = _open(home, settings, boot, master_key_file)
    context = tls_context(tls_cert, tls_key) if tls_cert and tls_key else None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    def ready(url: str) -> None:
        click.echo(f"consortium ca: {authority.settings.name} listening on {url}", nl=True)

    try:
        asyncio.run(serve(authority, host, port, context, ready))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


@COMMAND.command("msp")
@click.option("--home", required=True, type=click.Path(file_okay=False, exists=True))
@click.option("--out", required=True, type=click.Path(file_okay=False), help="MSP folder to write.")
@click.option("--master-key-file", type=click.Path(exists=True, dir_okay=False))
@OUTPUT_OPTION
def msp_command(home: str, out: str, master_key_file: str | None, output: str) -> None:
    """Write the member's MSP folder (cacerts, tlscacerts, crls, config.yaml)."""
    authority = _open(home, None, None, master_key_file)
    try:
        config = authority.msp_config()
        folder = write_msp(out, config)
    finally:
        authority.close()
    emit_record({"mspid": config.mspid, "folder": str(folder)}, output, "MSP")
