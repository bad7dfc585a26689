"""``consortium ledger``: append to, inspect, prove and verify a ledgerdb journal.

Thin on purpose: the journal, its proofs and its verification live in ``ledgerdb``.
Every command that reads opens the journal read-only; each answer it prints is checked
with ``ledgerdb.verify`` before it is printed, so what you see has been verified.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from amazon.ion import simpleion

from ledgerdb.audit import audit
from ledgerdb.block import Revision, new_id
from ledgerdb.errors import LedgerError
from ledgerdb.export import b64, block_ion_text, block_json, digest_json
from ledgerdb.journal import Journal
from ledgerdb.verify import verify_block, verify_consistency, verify_inclusion
from network.output import OUTPUT_OPTION, emit_json, emit_record, emit_table, fail

EXIT_NOT_VERIFIED = 1
ION_BINARY_MARKER = b"\xe0\x01\x00\xea"

LEDGER_OPTION = click.option(
    "--ledger",
    "ledger",
    required=True,
    type=click.Path(),
    help="The journal's directory.",
)


@click.group("ledger")
def COMMAND() -> None:
    """A ledgerdb journal: durable, hash-chained blocks with Merkle digests and proofs."""


@contextmanager
def _journal(path: str, writable: bool = False) -> Iterator[Journal]:
    """The journal at ``path``; any ledger error becomes one line and exit code 2."""
    try:
        with Journal.open(path, create=writable, read_only=not writable) as journal:
            yield journal
    except LedgerError as exc:
        fail(str(exc))


def _stdin_values() -> list[Any]:
    data = sys.stdin.buffer.read()
    try:
        if data.startswith(ION_BINARY_MARKER):
            values = simpleion.loads(data, single_value=False)
        else:
            values = simpleion.loads(data.decode("utf-8"), single_value=False)
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
        try:
            addresses = journal.append_many(transactions)
        except LedgerError as exc:
            fail(str(exc))
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
        try:
            answer = journal.digest(tip)
        except LedgerError as exc:
            fail(str(exc))
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
        try:
            found = journal.read(sequence_no)
            answer = journal.digest(digest_tip)
            proof = journal.inclusion_proof(sequence_no, answer.tip.sequence_no)
            verify_block(found)
            verify_inclusion(
                found.block_hash, sequence_no, answer.tip.sequence_no, proof, answer.digest
            )
        except LedgerError as exc:
            fail(str(exc))
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
        try:
            old, new = journal.digest(first), journal.digest(second)
            proof = journal.consistency_proof(first, second)
            verify_consistency(first, old.digest, second, new.digest, proof)
        except LedgerError as exc:
            fail(str(exc))
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
    try:
        report = audit(ledger)
    except LedgerError as exc:
        fail(str(exc))
    if not report.ok:
        fail(f"journal is NOT valid: {report.problem}", EXIT_NOT_VERIFIED)
    record: dict[str, Any] = {"valid": True, "blocks": report.blocks}
    if report.digest is not None:
        record.update(digest_json(report.digest))
    if report.torn_bytes:
        record["tornTailBytes"] = report.torn_bytes
    emit_record(record, output, "journal verified")


@COMMAND.command("export")
@LEDGER_OPTION
@click.option(
    "--output",
    "-o",
    "form",
    type=click.Choice(["ion", "json"]),
    default="ion",
    show_default=True,
    help="Ion text, one block a line (exact), or JSON lines (each Ion value's binary added).",
)
@click.option("--from", "first", type=int, default=0, show_default=True)
@click.option("--to", "last", type=int, help="Last block to export (default: the tip).")
def export(ledger: str, form: str, first: int, last: int | None) -> None:
    """Every block, one per line, with every hash and entry: enough to verify elsewhere."""
    with _journal(ledger) as journal:
        tip = journal.tip
        stop = (tip.sequence_no if tip else -1) if last is None else last
        if first < 0 or (tip is not None and stop > tip.sequence_no):
            fail(f"--from/--to must lie within 0..{tip.sequence_no if tip else -1}")
        if form == "ion":
            click.echo("$ion_1_0")
        try:
            for found in journal.read_range(first, stop + 1):
                if form == "ion":
                    click.echo(block_ion_text(found))
                else:
                    emit_line(block_json(found))
        except LedgerError as exc:
            fail(str(exc))


def emit_line(value: Any) -> None:
    click.echo(json.dumps(value, separators=(",", ":")))
