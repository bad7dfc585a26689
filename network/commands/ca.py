"""``consortium ca``: run a member's CA, export its MSP, and act as a Fabric CA client.

``enroll``/``register``/``revoke``/``gencrl`` follow ``fabric-ca-client`` habits: the URL
may carry ``user:secret@`` for enroll, attributes use ``name=value[:ecert]``, and the
caller of token-authenticated requests is a local MSP folder (``--msp``).
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click

from ca.authority import CertificateAuthority
from ca.client import (
    FabricCaClient,
    parse_attribute_requests,
    parse_attributes,
    save_enrollment,
)
from ca.errors import CaRequestError
from ca.keystore import master_key_from_environment
from ca.msp import load_signing_identity, write_msp
from ca.server import serve, tls_context
from ca.settings import CaSettings
from network.nodeopts import LOG_LEVEL_OPTION, OPERATIONS_OPTION, check_listen, setup_logging
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
    master = master_key_from_environment(key_file) if key_file else None
    return CertificateAuthority.open(home, settings=settings, boot=_boot(boot), master_key=master)


@COMMAND.command("serve")
@click.option("--home", required=True, type=click.Path(file_okay=False), help="CA home folder.")
@click.option("--port", default=7054, show_default=True, type=click.IntRange(0, 65535))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--boot", help="Bootstrap identity NAME:PASSWORD (registered once).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False))
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--tls-hosts",
    default="",
    help="Serve TLS with a certificate from this CA's own TLS CA for these comma-separated "
    "hosts (clients trust HOME/tlsca-cert.pem).",
)
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
@LOG_LEVEL_OPTION
@OPERATIONS_OPTION
def serve_command(
    home: str,
    port: int,
    host: str,
    boot: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    tls_hosts: str,
    master_key_file: str | None,
    name: str,
    mspid: str,
    organization: str,
    max_enrollments: int,
    log_level: str | None,
    operations_listen: str,
) -> None:
    """Serve the Fabric CA REST API (cainfo, enroll, reenroll, register, revoke, gencrl)."""
    setup_logging(log_level)
    check_listen(operations_listen)
    if bool(tls_cert) != bool(tls_key):
        fail("--tls-cert and --tls-key go together")
    if tls_hosts and tls_cert:
        fail("--tls-hosts and --tls-cert/--tls-key exclude each other")
    settings = CaSettings(
        name=name, mspid=mspid, organization=organization, max_enrollments=max_enrollments
    )
    authority = _open(home, settings, boot, master_key_file)
    context = None
    try:
        if tls_cert and tls_key:
            context = tls_context(tls_cert, tls_key)
        elif tls_hosts:
            hosts = [h for h in tls_hosts.split(",") if h]
            context = tls_context(*authority.server_tls_files(hosts))
    except OSError as exc:  # ssl.SSLError included: unusable certificate or key file
        fail(f"cannot use the TLS certificate and key: {exc}")

    def ready(url: str) -> None:
        click.echo(f"consortium ca: {authority.settings.name} listening on {url}", nl=True)

    try:
        asyncio.run(serve(authority, host, port, context, ready, operations_listen))
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


# -- client side -----------------------------------------------------------------------

_URL = click.option("--url", required=True, help="CA URL, e.g. http://admin:adminpw@127.0.0.1:7054")
_MSPID = click.option("--mspid", default="Org1MSP", show_default=True)
_TLS_CA = click.option(
    "--tls-ca-cert",
    type=click.Path(exists=True, dir_okay=False),
    help="Trust this CA certificate for an https URL.",
)
_CALLER = click.option(
    "--msp",
    "caller_msp",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="The caller's local MSP folder (signcerts, keystore).",
)


def _client(url: str, mspid: str, tls_ca_cert: str | None) -> tuple[FabricCaClient, str, str]:
    """A client for the URL without credentials, and the credentials it carried."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        fail(f"--url {url!r} is not http(s)://[user:secret@]host:port")
    netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
    bare = urlunsplit((parts.scheme, netloc, "", "", ""))
    context = ssl.create_default_context(cafile=tls_ca_cert) if tls_ca_cert else None
    return FabricCaClient(bare, mspid, context), parts.username or "", parts.password or ""


def _request(call):
    try:
        return call()
    except CaRequestError as exc:
        fail(f"CA answered {exc.status} (code {exc.code}): {exc.message}")
    except ValueError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot reach the CA: {exc}")


@COMMAND.command("enroll")
@_URL
@_MSPID
@_TLS_CA
@click.option("--out", required=True, type=click.Path(file_okay=False))
@click.option("--profile", type=click.Choice(["tls"]), help="tls: a TLS certificate.")
@click.option("--caname", help="Target CA name (e.g. tlsca).")
@click.option("--hosts", default="", help="Comma-separated host names for a TLS certificate.")
@click.option("--attrs", default="", help="Attribute requests: name[:opt],...")
@OUTPUT_OPTION
def enroll_command(
    url: str,
    mspid: str,
    tls_ca_cert: str | None,
    out: str,
    profile: str | None,
    caname: str | None,
    hosts: str,
    attrs: str,
    output: str,
) -> None:
    """Enroll and write a local MSP folder (or ca.crt/server.crt/server.key for TLS)."""
    client, user, secret = _client(url, mspid, tls_ca_cert)
    if not user or not secret:
        fail("--url must carry the enrollment ID and secret: http://ID:SECRET@host:port")
    enrollment = _request(
        lambda: client.enroll(
            user,
            secret,
            profile=profile,
            caname=caname,
            hosts=[h for h in hosts.split(",") if h] or None,
            attr_reqs=parse_attribute_requests(attrs) if attrs else None,
        )
    )
    tls = profile == "tls" or (caname is not None and caname.startswith("tls"))
    folder = save_enrollment(enrollment, out, tls=tls)
    emit_record({"id": user, "folder": str(folder), "tls": tls}, output, "enrollment")


@COMMAND.command("register")
@_URL
@_MSPID
@_TLS_CA
@_CALLER
@click.option("--id", "identity_id", required=True)
@click.option("--secret", default=None, help="Generated by the CA if omitted.")
@click.option("--type", "identity_type", type=click.Choice(["client", "peer", "admin", "orderer"]))
@click.option("--affiliation", default=None)
@click.option("--max-enrollments", type=int, default=None)
@click.option("--attrs", default="", help="name=value[:ecert],...")
@OUTPUT_OPTION
def register_command(
    url: str,
    mspid: str,
    tls_ca_cert: str | None,
    caller_msp: str,
    identity_id: str,
    secret: str | None,
    identity_type: str | None,
    affiliation: str | None,
    max_enrollments: int | None,
    attrs: str,
    output: str,
) -> None:
    """Register an identity (needs hf.Registrar.Roles); prints its secret."""
    client, _, _ = _client(url, mspid, tls_ca_cert)
    caller = load_signing_identity(caller_msp, mspid)
    fields = {
        "secret": secret,
        "type": identity_type,
        "affiliation": affiliation,
        "max_enrollments": max_enrollments,
        "attrs": _request(lambda: parse_attributes(attrs)) if attrs else None,
    }
    given = {k: v for k, v in fields.items() if v is not None}
    new_secret = _request(lambda: client.register(caller, identity_id, **given))
    emit_record({"id": identity_id, "secret": new_secret}, output, "registered")


@COMMAND.command("revoke")
@click.argument("name", required=False)
@click.option(
    "--member",
    default=None,
    help="A running network's member: revoke NAME at its CA and put the new CRL in "
    "every channel it is in (a config update signed by its admin).",
)
@click.option("--url", default=None, help="CA URL (without --member), e.g. https://host:7054")
@_MSPID
@_TLS_CA
@click.option(
    "--msp",
    "caller_msp",
    default=None,
    type=click.Path(exists=True, file_okay=False),
    help="The caller's local MSP folder (without --member).",
)
@click.option("--id", "identity_id", default=None, help="Revoke every certificate of an ID.")
@click.option("--serial", default=None)
@click.option("--aki", default=None)
@click.option("--reason", default=None, help="e.g. keycompromise, superseded")
@click.option("--crl-out", type=click.Path(dir_okay=False), help="Also write the new CRL.")
@click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".consortium")
)
@click.option("--network", default=None, help="With --member; default: the only network.")
@OUTPUT_OPTION
def revoke_command(
    name: str | None,
    member: str | None,
    url: str | None,
    mspid: str,
    tls_ca_cert: str | None,
    caller_msp: str | None,
    identity_id: str | None,
    serial: str | None,
    aki: str | None,
    reason: str | None,
    crl_out: str | None,
    home: Path,
    network: str | None,
    output: str,
) -> None:
    """Revoke an identity or one certificate (needs hf.Revoker). With --member M NAME, on
    a running network: M's CA revokes NAME and every channel M is in gets the new CRL, so
    NAME's proposals and transactions are refused on every peer."""
    if member is not None:
        if not name or url or caller_msp or identity_id or serial or aki:
            fail("--member takes one NAME and none of --url, --msp, --id, --serial, --aki")
        _revoke_in_network(home, network, member, name, reason or "", output)
        return
    if name or not url or not caller_msp:
        fail("without --member, give --url and --msp (and --id or --serial/--aki), not NAME")
    client, _, _ = _client(url, mspid, tls_ca_cert)
    caller = load_signing_identity(caller_msp, mspid)
    fields = {"id": identity_id, "serial": serial, "aki": aki, "reason": reason}
    given = {k: v for k, v in fields.items() if v is not None}
    result = _request(lambda: client.revoke(caller, gencrl=crl_out is not None, **given))
    if crl_out:
        Path(crl_out).write_bytes(base64.b64decode(result["CRL"]))
    revoked = [f"{c['Serial']} (AKI {c['AKI']})" for c in result["RevokedCerts"]]
    emit_record({"revoked": ", ".join(revoked) or "none"}, output, "revoked")


def _revoke_in_network(
    home: Path, network: str | None, member: str, name: str, reason: str, output: str
) -> None:
    from network.commands.lifecycle import open_running
    from network.errors import SupervisorError

    supervisor = open_running(home, network)
    try:
        done = supervisor.revoke_identity(member, name, reason)
    except SupervisorError as exc:
        fail(str(exc))
    emit_record(
        {
            "identity": name,
            "member": member,
            "revoked": ", ".join(done.serials) or "none",
            "channels updated": ", ".join(done.channels) or "none",
        },
        output,
        "revoked",
    )


@COMMAND.command("gencrl")
@_URL
@_MSPID
@_TLS_CA
@_CALLER
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="CRL PEM file.")
@OUTPUT_OPTION
def gencrl_command(
    url: str, mspid: str, tls_ca_cert: str | None, caller_msp: str, out: str, output: str
) -> None:
    """Write the CA's current CRL (needs hf.GenCRL); put it in an MSP's crls/."""
    client, _, _ = _client(url, mspid, tls_ca_cert)
    caller = load_signing_identity(caller_msp, mspid)
    crl = _request(lambda: client.gencrl(caller))
    Path(out).write_bytes(crl)
    emit_record({"crl": out, "bytes": len(crl)}, output, "CRL")


@COMMAND.command("adduser")
@click.argument("name")
@click.option("--member", required=True, help="Whose CA registers and enrolls it.")
@click.option("--attrs", default="", help="name=value[:ecert],... (ecert: in the certificate)")
@click.option("--type", "identity_type", type=click.Choice(["client", "admin"]), default="client")
@click.option(
    "--home", type=click.Path(file_okay=False, path_type=Path), default=Path(".consortium")
)
@click.option("--network", default=None, help="Default: the only network.")
@OUTPUT_OPTION
def adduser_command(
    name: str,
    member: str,
    attrs: str,
    identity_type: str,
    home: Path,
    network: str | None,
    output: str,
) -> None:
    """Register NAME with a running network's member CA and enroll it, so
    `consortium invoke … --identity NAME` signs as it (attributes included)."""
    from network.commands.lifecycle import open_running
    from network.errors import SupervisorError

    attributes = _request(lambda: parse_attributes(attrs)) if attrs else []
    supervisor = open_running(home, network)
    try:
        folder = _request(lambda: supervisor.enroll_user(member, name, attributes, identity_type))
    except SupervisorError as exc:
        fail(str(exc))
    shown = ", ".join(f"{a['name']}={a['value']}" for a in attributes) or "none"
    emit_record(
        {"identity": name, "member": member, "attributes": shown, "msp": str(folder)},
        output,
        "identity enrolled",
    )
