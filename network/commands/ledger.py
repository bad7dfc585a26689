"""``consortium ledger``: append to, inspect, prove and verify a ledgerdb journal.

Thin on purpose: the journal, its proofs and its verification live in ``ledgerdb``.
Every command that reads opens the journal read-only; each answer it prints is checked
with ``ledgerdb.verify`` before it is printed, so what you see has been verified.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from amazon.ion import simpleion

from ledgerdb.audit import audit
from ledgerdb.block import Revision, new_id
from ledgerdb.errors import LedgerError
from ledgerdb.export import b64, block_ion_text, block_json, digest_json, to_json
from ledgerdb.ion_input import load_untrusted
from ledgerdb.journal import META as JOURNAL_META
from ledgerdb.journal import Journal
from ledgerdb.verify import verify_block, verify_consistency, verify_inclusion
from network.output import EXIT_REFUSED, OUTPUT_OPTION, emit_json, emit_record, emit_table, fail

DATABASE_JOURNAL = "journal"
ION_BINARY_MARKER = b"\xe0\x01\x00\xea"


def LEDGER_OPTION(command):
    """``--ledger DIR``, or ``--node NAME [--channel ID]`` for the journal of a running
    network's node (an orderer's block journal; a peer's block store), found under
    ``--home`` like ``consortium status`` finds the network. Either way the command gets
    one ``ledger`` path; reading takes no lock, so the node keeps running."""

    @functools.wraps(command)
    def located(*args, node=None, channel=None, home=None, network=None, **kwargs):
        if (kwargs.get("ledger") is None) == (node is None):
            fail("give --ledger DIR or --node NAME (a node of the local network)")
        if node is not None:
            kwargs["ledger"] = str(_node_journal(node, channel, Path(home), network))
        return command(*args, **kwargs)

    for option in reversed(
        [
            click.option(
                "--ledger",
                "ledger",
                type=click.Path(),
                help="The journal's directory (or a database directory: its journal/ is used).",
            ),
            click.option(
                "--node",
                help="A node of the local network, e.g. orderer0 or "
                "peer-org1-peer0: its channel's block journal.",
            ),
            click.option("--channel", help="With --node: which channel (default: the only one)."),
            click.option(
                "--home",
                default=".consortium",
                show_default=True,
                help="With --node: the folder holding the networks.",
            ),
            click.option("--network", help="With --node: which network (default: the only one)."),
        ]
    ):
        located = option(located)
    return located


def _form_option(help_text: str):
    """``--output/-o ion|json`` where Ion text is the default: it is the exact form."""
    return click.option(
        "--output",
        "-o",
        "form",
        type=click.Choice(["ion", "json"]),
        default="ion",
        show_default=True,
        help=help_text,
    )


def _node_journal(node: str, channel: str | None, home: Path, network: str | None) -> Path:
    """Where a node of the local network keeps a channel's blocks."""
    from network.locate import network_folder

    folder = network_folder(home, network)
    name = node.removeprefix("orderer-")
    candidates = {
        "orderer": folder / "ordering" / name / "data" / "channels",
    }
    if node.startswith("peer-"):
        _, member, peer = node.split("-", 2)
        candidates = {"peer": folder / "members" / member / "peers" / peer / "data" / "channels"}
    channels_dir = next(iter(candidates.values()))
    if not channels_dir.is_dir():
        fail(f"no node {node!r} with channels in {folder} (try an orderer's or a peer's name)")
    channels = sorted(d.name for d in channels_dir.iterdir() if (d / "blocks").is_dir())
    if channel is None:
        if len(channels) != 1:
            fail(f"node {node} has channels {', '.join(channels) or 'none'}: pass --channel")
        channel = channels[0]
    if channel not in channels:
        fail(f"node {node} has no channel {channel!r} (it has {', '.join(channels) or 'none'})")
    return channels_dir / channel / "blocks"


@click.group("ledger")
def COMMAND() -> None:
    """A ledgerdb journal: durable, hash-chained blocks with Merkle digests and proofs."""


def journal_dir(path: str) -> Path:
    """The journal directory ``path`` names: itself, or a database directory's ``journal/``.

    The journal commands predate the database; a database keeps its journal in
    ``DIR/journal``, so pointing them at the database directory works too.
    """
    directory = Path(path)
    inner = directory / DATABASE_JOURNAL
    if inner.is_dir() and not (directory / JOURNAL_META).exists():
        return inner
    return directory


@contextmanager
def _journal(path: str, writable: bool = False) -> Iterator[Journal]:
    """The journal at ``path``; any ledger error becomes one line and exit code 2."""
    with Journal.open(journal_dir(path), create=writable, read_only=not writable) as journal:
        yield journal


def _stdin_values() -> list[Any]:
    data = sys.stdin.buffer.read()
    try:
        if data.startswith(ION_BINARY_MARKER):
            values = load_untrusted(data, single_value=False)
        else:
            values = load_untrusted(data.decode("utf-8"), single_value=False)
    except Exception as exc:  # amazon.ion raises several unrelated types on bad text
        fail(f"stdin is not JSON or Ion: {exc}")
    if not values:
        fail("stdin holds no JSON or Ion values to append")
    return list(values)


@COMMAND.command("append")
@LEDGER_OPTION
@OUTPUT_OPTION
def append(ledger: str, output: str) -> None:
    """Append each JSON or Ion value read from stdin as one block (a new document revision).

    Each value becomes revision 0 of a new document, in its own block; the command returns
    once every block is durable and prints their addresses.
    """
    values = _stdin_values()
    transactions = []
    for value in values:
        transaction_id = new_id()
        metadata = {"id": new_id(), "version": 0, "txId": transaction_id}
        info = {"statements": [{"statement": "consortium ledger append"}]}
        transactions.append(([Revision(metadata, value)], info, transaction_id))
    with _journal(ledger, writable=True) as journal:
        addresses = journal.append_many(transactions)
    rows = [
        {"blockAddress": address.to_dict(), "transactionId": transaction[2]}
        for address, transaction in zip(addresses, transactions, strict=True)
    ]
    if output == "json":
        emit_json(rows)
    else:
        emit_table(
            ["sequenceNo", "strandId", "transactionId"],
            [
                (
                    row["blockAddress"]["sequenceNo"],
                    row["blockAddress"]["strandId"],
                    row["transactionId"],
                )
                for row in rows
            ],
            title=f"appended {len(rows)} block(s)",
        )


@COMMAND.command("digest")
@LEDGER_OPTION
@click.option("--tip", type=int, help="Digest at this block instead of the newest one.")
@OUTPUT_OPTION
def digest(ledger: str, tip: int | None, output: str) -> None:
    """The journal's digest: the Merkle root over every block up to the tip."""
    with _journal(ledger) as journal:
        answer = journal.digest(tip)
    record = digest_json(answer)
    if output == "json":
        emit_json(record)
    else:
        emit_record(
            {"digest": record["digest"], "digestTipAddress": answer.tip.to_dict()}, output, "digest"
        )


@COMMAND.command("block")
@LEDGER_OPTION
@click.option("--seq", "sequence_no", required=True, type=int, help="The block's sequenceNo.")
@click.option("--digest-tip", type=int, help="Prove against the digest at this tip (default: now).")
@OUTPUT_OPTION
def block(ledger: str, sequence_no: int, digest_tip: int | None, output: str) -> None:
    """One block with its inclusion proof against a digest, both verified here."""
    with _journal(ledger) as journal:
        found = journal.read(sequence_no)
        answer = journal.digest(digest_tip)
        proof = journal.inclusion_proof(sequence_no, answer.tip.sequence_no)
        verify_block(found)
        verify_inclusion(
            found.block_hash, sequence_no, answer.tip.sequence_no, proof, answer.digest
        )
    record = {
        "block": block_json(found),
        "proof": [b64(item) for item in proof],
        **digest_json(answer),
        "verified": True,
    }
    if output == "json":
        emit_json(record)
        return
    view = record["block"]
    emit_record(
        {
            "blockAddress": view["blockAddress"],
            "transactionId": view["transactionId"],
            "blockTimestamp": view["blockTimestamp"],
            "blockHash": view["blockHash"],
            "previousBlockHash": view["previousBlockHash"],
            "entries": len(view["revisions"]),
            "digest": record["digest"],
            "digestTipAddress": record["digestTipAddress"],
            "proof": "\n".join(record["proof"]) or "(none: the block is the whole tree)",
            "verified": "yes: block hashes recomputed, proof leads to the digest",
        },
        output,
        f"block {sequence_no}",
    )


@COMMAND.command("consistency")
@LEDGER_OPTION
@click.option("--from", "first", required=True, type=int, help="Tip of the older digest.")
@click.option("--to", "second", required=True, type=int, help="Tip of the newer digest.")
@OUTPUT_OPTION
def consistency(ledger: str, first: int, second: int, output: str) -> None:
    """Prove that the journal at tip --to only grew from the journal at tip --from."""
    with _journal(ledger) as journal:
        old, new = journal.digest(first), journal.digest(second)
        proof = journal.consistency_proof(first, second)
        verify_consistency(first, old.digest, second, new.digest, proof)
    record = {
        "from": digest_json(old),
        "to": digest_json(new),
        "proof": [b64(item) for item in proof],
        "verified": True,
    }
    if output == "json":
        emit_json(record)
    else:
        emit_record(
            {
                "from": f"{record['from']['digest']} (tip {first})",
                "to": f"{record['to']['digest']} (tip {second})",
                "proof": "\n".join(record["proof"]) or "(none: same tip)",
                "verified": "yes: the newer journal extends the older one",
            },
            output,
            "consistency proof",
        )


@COMMAND.command("verify")
@LEDGER_OPTION
@OUTPUT_OPTION
def verify(ledger: str, output: str) -> None:
    """Check the whole journal: every checksum, every block hash, every link, the digest.

    Exits 1 naming the first bad block if anything fails, 2 if the ledger cannot be read.
    """
    report = audit(journal_dir(ledger))
    if not report.ok:
        fail(f"journal is NOT valid: {report.problem}", EXIT_REFUSED)
    record: dict[str, Any] = {"valid": True, "blocks": report.blocks}
    if report.digest is not None:
        record.update(digest_json(report.digest))
    if report.torn_bytes:
        record["tornTailBytes"] = report.torn_bytes
    emit_record(record, output, "journal verified")


@COMMAND.command("export")
@LEDGER_OPTION
@_form_option("Ion text, one block a line (exact), or JSON lines (each Ion value's binary added).")
@click.option("--from", "first", type=int, default=0, show_default=True)
@click.option("--to", "last", type=int, help="Last block to export (default: the tip).")
@click.option(
    "--qldb-layout",
    "layout",
    type=click.Path(file_okay=False),
    help="Instead of printing, write the whole journal into this folder as QLDB's S3 "
    "export lays it out (started manifest, data objects, completed manifest).",
)
@click.option(
    "--qldb-format",
    type=click.Choice(["ION_TEXT", "ION_BINARY", "JSON"]),
    default="ION_TEXT",
    show_default=True,
    help="The data objects' format with --qldb-layout.",
)
def export(
    ledger: str, form: str, first: int, last: int | None, layout: str | None, qldb_format: str
) -> None:
    """Every block, one per line, with every hash and entry: enough to verify elsewhere."""
    if layout is not None:
        _export_layout(ledger, Path(layout), qldb_format)
        return
    with _journal(ledger) as journal:
        tip = journal.tip
        stop = (tip.sequence_no if tip else -1) if last is None else last
        if first < 0 or (tip is not None and stop > tip.sequence_no):
            fail(f"--from/--to must lie within 0..{tip.sequence_no if tip else -1}")
        if form == "ion":
            click.echo("$ion_1_0")
        for found in journal.read_range(first, stop + 1):
            if form == "ion":
                click.echo(block_ion_text(found))
            else:
                emit_line(block_json(found))


def _export_layout(ledger: str, folder: Path, form: str) -> None:
    """The journal as QLDB's ExportJournalToS3 wrote it, into a folder (no S3 needed)."""
    from ledgerdb.qldb_export import FolderWriter, run_export

    export_id = new_id()
    description = {
        "LedgerName": Path(ledger).name,
        "ExportId": export_id,
        "InclusiveStartTime": 0.0,
        "ExclusiveEndTime": 253402300799.0,  # 9999-12-31T23:59:59Z: every block
        "OutputFormat": form,
        "S3ExportConfiguration": {"Bucket": folder.name, "Prefix": ""},
    }
    with _journal(ledger) as journal:
        try:
            keys = run_export(journal, description, FolderWriter(folder))
        except (LedgerError, OSError) as exc:
            fail(f"cannot export {ledger} to {folder}: {exc}")
    click.echo(
        f"exported {len(keys)} object(s) to {folder}; manifest "
        f"{folder / (export_id + '.completed.manifest')}"
    )


def emit_line(value: Any) -> None:
    click.echo(json.dumps(value, separators=(",", ":")))


# ---- the database: serve, query, shell, revision, rebuild -----------------------------------
# For these commands --ledger names a database directory (journal in DIR/journal, indexed
# storage in DIR/index); --endpoint reaches a running `consortium ledger serve` instead.

DATABASE_OPTION = click.option(
    "--ledger", "ledger", type=click.Path(file_okay=False), help="The database's directory."
)
_ENDPOINT = click.option(
    "--endpoint", help="host:port of a running `consortium ledger serve` (instead of --ledger)."
)
_TLS_ROOT = click.option(
    "--tls-root",
    type=click.Path(dir_okay=False, exists=True),
    help="With --endpoint: the CA certificate (PEM) of a server started with --tls-cert.",
)


def ENDPOINT_OPTION(command: Any) -> Any:
    """--endpoint and the --tls-root that goes with it."""
    return _ENDPOINT(_TLS_ROOT(command))


HISTORY_FILE = ".consortium_ledger_history"


def _database(path: str) -> Any:
    """Open the database at ``path`` (created if missing); errors are one line, exit 2."""
    from ledgerdb.database import LedgerDatabase

    try:
        return LedgerDatabase.open(path, create=True)
    except LedgerError as exc:
        fail(f"cannot open the database in {path}: {exc}")


@contextmanager
def _backend(ledger: str | None, endpoint: str | None, tls_root: str | None) -> Iterator[Any]:
    """The embedded database or a client of the service: the same API either way."""
    if (ledger is None) == (endpoint is None):
        fail("give exactly one of --ledger DIR (embedded) or --endpoint HOST:PORT (a server)")
    if tls_root is not None and endpoint is None:
        fail("--tls-root goes with --endpoint (the server's CA certificate)")
    if endpoint is not None:
        from ledgerdb.client import LedgerClient

        root = Path(tls_root).read_bytes() if tls_root else None
        backend = LedgerClient(endpoint, tls_root=root)
    else:
        backend = _database(ledger)
    try:
        yield backend
    finally:
        backend.close()


def _ion_parameter(text: str) -> Any:
    try:
        return load_untrusted(text)
    except Exception as exc:  # amazon.ion raises several unrelated types on bad text
        fail(f"--param {text!r} is not one Ion value: {exc}")


@COMMAND.command("serve")
@DATABASE_OPTION
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=0, show_default=True, help="0 picks a free port.")
@click.option(
    "--qldb-port",
    type=int,
    default=None,
    help="Also serve QLDB's APIs on this port: the session API (pyqldb) and the control "
    "plane (boto3 qldb), on the same port.",
)
@click.option(
    "--ledger-name",
    default=None,
    help="The name QLDB clients know the --ledger database by (default: any name opens it).",
)
@click.option(
    "--ledgers",
    "ledgers_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="A folder of QLDB ledgers, one subfolder each: CreateLedger makes them here.",
)
@click.option(
    "--s3-endpoint",
    default=None,
    envvar="AWS_ENDPOINT_URL_S3",
    help="S3-compatible endpoint journal exports go to (default: a folder, see --export-folder).",
)
@click.option(
    "--export-folder",
    type=click.Path(file_okay=False),
    default=None,
    help="Without an S3 endpoint, exports go to <folder>/<bucket>/<key> "
    "(default: s3-exports beside the ledgers).",
)
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, exists=True),
    help="Serve both ports over TLS with this certificate (PEM; with --tls-key).",
)
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True), help="Its key (PEM).")
@click.option(
    "--credentials",
    "credentials_file",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="LEDGER_QLDB_CREDENTIALS",
    help="A JSON file {access key id: secret access key}: the QLDB APIs then verify every "
    "request's SigV4 signature against it (default: the header is checked, not verified).",
)
@click.option(
    "--policies",
    "policies_file",
    type=click.Path(dir_okay=False),
    default=None,
    envvar="LEDGER_QLDB_POLICIES",
    help="A JSON file {access key id: [IAM policy statements]}: what each caller may run on "
    "STANDARD-mode ledgers (needs --credentials; default: STANDARD denies every command).",
)
def serve(
    ledger: str | None,
    host: str,
    port: int,
    qldb_port: int | None,
    ledger_name: str | None,
    ledgers_dir: str | None,
    s3_endpoint: str | None,
    export_folder: str | None,
    tls_cert: str | None,
    tls_key: str | None,
    credentials_file: str | None,
    policies_file: str | None,
) -> None:
    """Serve the --ledger database over gRPC (ledgerdb.v1.LedgerDB + health) until
    SIGTERM/SIGINT, and with --qldb-port also over QLDB's own APIs (session and control
    plane), so QLDB drivers and the boto3 qldb client work unchanged.

    With --ledgers (and --qldb-port) the QLDB APIs serve every ledger of that folder;
    --ledger may then be left out. Prints the addresses it listens on.
    """
    import uvloop

    if ledger is None and ledgers_dir is None:
        fail("--ledger DIR or --ledgers DIR is required: the database(s) to serve")
    if ledgers_dir is not None and qldb_port is None:
        fail("--ledgers needs --qldb-port: its ledgers are served over QLDB's APIs")
    if (tls_cert is None) != (tls_key is None):
        fail("--tls-cert and --tls-key go together")
    tls = (Path(tls_cert), Path(tls_key)) if tls_cert and tls_key else None
    credentials = _credentials(credentials_file, qldb_port)  # checked before opening
    policies = _policies(policies_file, credentials)
    database = _database(ledger) if ledger is not None else None
    exports = Path(export_folder or Path(ledgers_dir or str(ledger)) / "s3-exports")
    qldb = _QldbOptions(
        qldb_port, ledger_name, ledgers_dir, s3_endpoint, exports, credentials, policies
    )

    def announce(bound: int) -> None:
        click.echo(f"ledgerdb serving {ledger} on {host}:{bound}")

    try:
        uvloop.run(_serve(database, ledger, host, port, qldb, announce, tls))
    except LedgerError as exc:
        fail(f"cannot serve the ledgers: {exc}")
    finally:
        if database is not None:
            database.close()
    click.echo("ledgerdb stopped")


@dataclass(frozen=True)
class _QldbOptions:
    port: int | None
    ledger_name: str | None
    ledgers_dir: str | None
    s3_endpoint: str | None
    export_folder: Path
    credentials: Any = None  # ledgerdb.sigv4.Credentials, or None: signatures not verified
    policies: Any = None  # ledgerdb.qldb_permissions.Policies, or None: STANDARD denies all


def _credentials(path: str | None, qldb_port: int | None) -> Any:
    """The SigV4 credentials the QLDB APIs verify against; a bad file stops the start."""
    if path is None:
        return None
    if qldb_port is None:
        fail("--credentials needs --qldb-port: they sign requests to QLDB's APIs")
    from ledgerdb.sigv4 import Credentials

    try:
        return Credentials.load(Path(path))
    except LedgerError as exc:
        fail(str(exc))


def _policies(path: str | None, credentials: Any) -> Any:
    """The STANDARD-mode policies; keyed by access key, so only with verified signatures."""
    if path is None:
        return None
    if credentials is None:
        fail("--policies needs --credentials: policies name access keys, which must be verified")
    from ledgerdb.qldb_permissions import Policies

    try:
        return Policies.load(Path(path))
    except LedgerError as exc:
        fail(str(exc))


async def _serve(
    database: Any,
    ledger: str | None,
    host: str,
    port: int,
    qldb: _QldbOptions,
    announce: Any,
    tls: tuple[Path, Path] | None,
) -> None:
    """The gRPC service, and beside it (same database, same process) QLDB's APIs; with
    ``tls`` (certificate and key files) every port speaks TLS only."""
    import grpc

    from ledgerdb.service import serve as run_server

    runner = None
    if qldb.port is not None:
        runner = await _start_qldb(database, ledger, host, qldb, tls)
    credentials = None
    if tls is not None:
        credentials = grpc.ssl_server_credentials([(tls[1].read_bytes(), tls[0].read_bytes())])
    try:
        if database is not None:
            await run_server(database, f"{host}:{port}", announce, credentials)
        else:
            await _until_signal()
    finally:
        if runner is not None:
            await runner.cleanup()


async def _start_qldb(
    database: Any, ledger: str | None, host: str, qldb: _QldbOptions, tls: tuple[Path, Path] | None
) -> Any:
    from ledgerdb.qldb_control import start_qldb_endpoint
    from ledgerdb.qldb_export import ExportTarget
    from ledgerdb.qldb_ledgers import QldbLedgers

    ledgers = QldbLedgers(Path(qldb.ledgers_dir) if qldb.ledgers_dir else None)
    any_name = None
    if database is not None and ledger is not None:
        name = qldb.ledger_name or _ledger_name_of(Path(ledger))
        ledgers.add_fixed(name, Path(ledger), database, "us-east-1")
        any_name = None if qldb.ledger_name else name
    target = ExportTarget(folder=qldb.export_folder, s3_endpoint=qldb.s3_endpoint)
    assert qldb.port is not None
    runner, bound = await start_qldb_endpoint(
        ledgers,
        host,
        qldb.port,
        export_target=target,
        any_name_ledger=any_name,
        ssl_context=_ssl_context(*tls) if tls else None,
        credentials=qldb.credentials,
        policies=qldb.policies,
    )
    if qldb.credentials is None:
        click.echo("QLDB APIs: no --credentials, so SigV4 signatures are not verified")
    scheme = "https" if tls else "http"
    click.echo(f"QLDB session API listening on {scheme}://{host}:{bound}")
    click.echo(f"QLDB control plane listening on {scheme}://{host}:{bound}")
    return runner


def _ledger_name_of(path: Path) -> str:
    """The folder's name as a QLDB ledger name (letters, digits, single inner hyphens)."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "-", path.resolve().name).strip("-")[:32].strip("-")
    return cleaned if cleaned and not cleaned.isdigit() else "ledger"


async def _until_signal() -> None:
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


def _ssl_context(certificate: Path, key: Path) -> Any:
    """The QLDB session port's TLS: the same certificate and key as the gRPC port."""
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    return context


def _show_values(values: list[Any], form: str) -> None:
    from network.commands.ledger_shell import ion_text

    for value in values:
        click.echo(ion_text(value) if form == "ion" else json.dumps(to_json(value)))


@COMMAND.command("query")
@DATABASE_OPTION
@ENDPOINT_OPTION
@click.argument("statement")
@click.option("--param", "params", multiple=True, help="A parameter for the next ?, as Ion text.")
@_form_option("Ion text, one value a line; or one JSON object with the values and the commit.")
@click.option("--plan", is_flag=True, help="Also print the plan (which index, or a scan).")
def query(
    ledger: str | None,
    endpoint: str | None,
    tls_root: str | None,
    statement: str,
    params: tuple[str, ...],
    form: str,
    plan: bool,
) -> None:
    """Run STATEMENT in its own transaction and commit it; print the result documents."""
    parameters = [_ion_parameter(text) for text in params]
    with _backend(ledger, endpoint, tls_root) as backend:
        outcome, commit = _execute_committed(backend, statement, parameters, plan)
    if form == "json":
        record: dict[str, Any] = {
            "values": [to_json(value) for value in outcome.values],
            "transactionId": commit.transaction_id,
            "blockAddress": commit.block_address.to_dict() if commit.block_address else None,
            "readIOs": outcome.read_ios,
            "processingTimeMs": outcome.processing_time_ms,
        }
        if plan:
            record["plan"] = _plan_record(outcome.plan)
        emit_json(record)
        return
    _show_values(outcome.values, form)
    if plan:
        for line in _plan_record(outcome.plan)["text"].splitlines():
            click.echo(f"// plan: {line}")


def _execute_committed(
    backend: Any, statement: str, parameters: list[Any], plan: bool
) -> tuple[Any, Any]:
    """One statement, one transaction, committed: (StatementOutcome, CommitResult)."""
    if hasattr(backend, "execute_with_summary"):  # the service: one round trip
        return backend.execute_with_summary(statement, *parameters, include_plan=plan)
    transaction = backend.start_transaction()
    try:
        outcome = transaction.execute(statement, *parameters)
        return outcome, transaction.commit()
    except BaseException:
        transaction.abort()
        raise


def _plan_record(plan: Any) -> dict[str, Any]:
    if plan is None:
        return {"text": "(no plan: the statement reads no table)", "usesIndex": False}
    return {"text": plan.describe(), "usesIndex": bool(plan.uses_index)}


@COMMAND.command("shell")
@DATABASE_OPTION
@ENDPOINT_OPTION
def shell(ledger: str | None, endpoint: str | None, tls_root: str | None) -> None:
    """An interactive PartiQL shell (like qldbshell); statements end with ';'.

    History is kept in DIR/.consortium_ledger_history with --ledger, else in
    ~/.consortium_ledger_history. Input may be piped: prompts are then left out, and the
    exit status is 2 if any statement failed.
    """
    from network.commands import ledger_shell

    history = Path(ledger) / HISTORY_FILE if ledger else Path.home() / HISTORY_FILE
    with _backend(ledger, endpoint, tls_root) as backend:
        status = ledger_shell.run(backend, history)
    sys.exit(status)


@COMMAND.command("revision")
@DATABASE_OPTION
@ENDPOINT_OPTION
@click.option("--document-id", required=True, help="The document's id (metadata.id).")
@click.option("--seq", "sequence_no", required=True, type=int, help="The block holding it.")
@click.option("--digest-tip", type=int, help="Prove against the digest at this tip (default: now).")
@OUTPUT_OPTION
def revision(
    ledger: str | None,
    endpoint: str | None,
    tls_root: str | None,
    document_id: str,
    sequence_no: int,
    digest_tip: int | None,
    output: str,
) -> None:
    """A document revision with its proof, verified here: revision → block → digest."""
    with _backend(ledger, endpoint, tls_root) as backend:
        proof = backend.get_revision(document_id, sequence_no, digest_tip)
        proof.verify()  # revision hash → found in its block → block hash → digest
    record = {
        "revision": to_json(proof.revision),
        "blockHash": b64(proof.block.block_hash),
        "proof": [b64(item) for item in proof.block_proof],
        # QLDB's GetRevision proof: folds with dot from the revision hash to the digest.
        "qldbProof": [b64(item) for item in proof.qldb_proof()],
        **digest_json(proof.digest),
        "verified": True,
    }
    if output == "json":
        emit_json(record)
        return
    emit_record(
        {
            "revision": simpleion.dumps(
                proof.revision, binary=False, omit_version_marker=True, indent="  "
            ),
            "blockHash": record["blockHash"],
            "digest": record["digest"],
            "digestTipAddress": record["digestTipAddress"],
            "proof": "\n".join(record["proof"]) or "(none: the block is the whole tree)",
            "qldbProof": "\n".join(record["qldbProof"]) or "(none)",
            "verified": "yes: revision hash recomputed, found in its block, block proof "
            "leads to the digest",
        },
        output,
        f"document {document_id} in block {sequence_no}",
    )


@COMMAND.command("rebuild")
@DATABASE_OPTION
def rebuild(ledger: str | None) -> None:
    """Rebuild the indexed storage (DIR/index) from the journal; refuses while served."""
    from ledgerdb.database import LedgerDatabase

    if ledger is None:
        fail("--ledger DIR is required: the database to rebuild")
    try:
        with LedgerDatabase.open(ledger, create=False) as database:
            database.rebuild()
            tip = database.journal.tip
    except LedgerError as exc:
        fail(f"cannot rebuild {ledger}: {exc}")
    blocks = tip.sequence_no + 1 if tip is not None else 0
    click.echo(f"rebuilt {ledger}/index from {blocks} journal block(s)")
