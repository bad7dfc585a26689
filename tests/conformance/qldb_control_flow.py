"""Drive ledgerdb's QLDB control plane with the unmodified boto3 ``qldb`` client (and pyqldb).

Runs in ``.venv-pyqldb`` (botocore there still has the ``qldb`` model); the endpoints come
from the standard ``AWS_ENDPOINT_URL_QLDB`` / ``AWS_ENDPOINT_URL_QLDB_SESSION`` variables
and, for the export, ``AWS_ENDPOINT_URL_S3``. Prints what it saw as one JSON object for
``test_qldb_control.py`` to assert on.

The verifier here is written from the algorithm AWS published for QLDB ("verifying a
document": sort the two hashes by comparing them as signed bytes from the last byte,
concatenate, SHA-256; fold the proof's hashes into the revision or block hash; compare with
the digest), not from ledgerdb's code.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import boto3
import botocore.exceptions
import ionhash  # noqa: F401  (gives Ion values their ion_hash method, as pyqldb uses it)
from amazon.ion.simpleion import dumps, loads
from pyqldb.driver.qldb_driver import QldbDriver

LEDGER = sys.argv[1]


def signed_from_end(value: bytes) -> list[int]:
    return [byte - 256 if byte > 127 else byte for byte in reversed(value)]


def join(first: bytes, second: bytes) -> bytes:
    """QLDB's pairing: the smaller (signed bytes, last byte first) goes first."""
    if not first:
        return second
    if not second:
        return first
    ordered = (
        (first, second) if signed_from_end(first) < signed_from_end(second) else (second, first)
    )
    return hashlib.sha256(ordered[0] + ordered[1]).digest()


def fold(start: bytes, proof_text: str) -> bytes:
    result = start
    for item in loads(proof_text):
        result = join(result, bytes(item))
    return result


def merkle_root(hashes: list[bytes]) -> bytes:
    """The Java tutorial's ``Verifier.calculateMerkleTreeRootHash``: pair neighbours left to
    right with the QLDB join, an odd last hash moves up unchanged, until one is left."""
    level = list(hashes)
    while len(level) > 1:
        level = [
            join(*level[i : i + 2]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0] if level else b""


def ion_hash_of(value: Any) -> bytes:
    return bytes(loads(dumps(value, binary=True)).ion_hash("SHA256"))


def java_block_check(block: Any) -> str:
    """AWS's Java tutorial's ``JournalBlock.verifyBlockHash``, step by step: the
    transactionInfo's hash is in entriesHashList; every user revision's hash is
    dot(IonHash(metadata), IonHash(data)); the Merkle root of the revision hashes is in
    entriesHashList; the root of entriesHashList is entriesHash; blockHash is
    dot(entriesHash, previousBlockHash). Returns "" or the first step that failed."""
    listed = {bytes(item) for item in block["entriesHashList"]}
    info = block.get("transactionInfo")
    if info is not None and ion_hash_of(info) not in listed:
        return "transactionInfo hash not in entriesHashList"
    revisions = block.get("revisions")
    if revisions is not None:
        for revision in revisions:
            if "metadata" in revision and "data" in revision:
                computed = join(ion_hash_of(revision["metadata"]), ion_hash_of(revision["data"]))
                if computed != bytes(revision["hash"]):
                    return "revision hash does not match its metadata and data"
        if merkle_root([bytes(item["hash"]) for item in revisions]) not in listed:
            return "revisions hash not in entriesHashList"
    entries_hash = merkle_root([bytes(item) for item in block["entriesHashList"]])
    if entries_hash != bytes(block["entriesHash"]):
        return "entriesHash is not the root of entriesHashList"
    if join(entries_hash, bytes(block.get("previousBlockHash") or b"")) != bytes(
        block["blockHash"]
    ):
        return "blockHash is not dot(entriesHash, previousBlockHash)"
    return ""


def flip_bit(value: bytes) -> bytes:
    return bytes([value[0] ^ 1]) + value[1:]


def error_of(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        call()
    except botocore.exceptions.ClientError as exc:
        return {
            "code": exc.response["Error"]["Code"],
            "message": exc.response["Error"].get("Message", ""),
            "status": exc.response["ResponseMetadata"]["HTTPStatusCode"],
        }
    return {"code": None}


def ion_text(value: Any) -> dict[str, str]:
    return {"IonText": dumps(value, binary=False, omit_version_marker=True)}


def main() -> None:
    qldb = boto3.client("qldb")
    seen: dict[str, Any] = {}

    created = qldb.create_ledger(Name=LEDGER, PermissionsMode="ALLOW_ALL", Tags={"team": "dmv"})
    seen["created"] = {key: created[key] for key in ("Name", "State", "DeletionProtection")}
    seen["arn"] = created["Arn"]
    qldb.create_ledger(Name="scratch", PermissionsMode="STANDARD", DeletionProtection=False)
    seen["listed"] = sorted(item["Name"] for item in qldb.list_ledgers()["Ledgers"])
    paged = qldb.list_ledgers(MaxResults=1)
    seen["first_page"] = [len(paged["Ledgers"]), "NextToken" in paged]
    seen["described"] = qldb.describe_ledger(Name=LEDGER)["PermissionsMode"]

    errors = seen["errors"] = {}
    errors["missing"] = error_of(lambda: qldb.describe_ledger(Name="no-such-ledger"))
    errors["duplicate"] = error_of(
        lambda: qldb.create_ledger(Name=LEDGER, PermissionsMode="ALLOW_ALL")
    )
    errors["bad_name"] = error_of(
        lambda: qldb.create_ledger(Name="bad--name", PermissionsMode="ALLOW_ALL")
    )
    errors["protected"] = error_of(lambda: qldb.delete_ledger(Name=LEDGER))
    errors["kinesis"] = error_of(
        lambda: qldb.stream_journal_to_kinesis(
            LedgerName=LEDGER,
            RoleArn="arn:aws:iam::000000000000:role/export",
            InclusiveStartTime=datetime.datetime(2024, 1, 1),
            KinesisConfiguration={"StreamArn": "arn:aws:kinesis:us-east-1:0:stream/s"},
            StreamName="journal",
        )
    )

    driver = QldbDriver(LEDGER)
    driver.execute_lambda(lambda txn: txn.execute_statement("CREATE TABLE VehicleRegistration"))
    driver.execute_lambda(
        lambda txn: txn.execute_statement(
            "INSERT INTO VehicleRegistration << ?, ?, ? >>",
            {"VIN": "1N4AL11D75C109151", "Owner": "Raul"},
            {"VIN": "KM8SRDHF6EU074761", "Owner": "Brent"},
            {"VIN": "3HGGK5G53FM761765", "Owner": "Alexis"},
        )
    )
    driver.execute_lambda(
        lambda txn: txn.execute_statement(
            "UPDATE VehicleRegistration SET Owner = 'Mary' WHERE VIN = '1N4AL11D75C109151'"
        )
    )

    seen["redaction"], redacted_address = redact(driver)

    digest = qldb.get_digest(Name=LEDGER)
    tip = digest["DigestTipAddress"]
    rows = driver.execute_lambda(
        lambda txn: list(txn.execute_statement("SELECT * FROM _ql_committed_VehicleRegistration"))
    )
    revisions = []
    for row in rows:
        answer = qldb.get_revision(
            Name=LEDGER,
            BlockAddress=ion_text(row["blockAddress"]),
            DocumentId=row["metadata"]["id"],
            DigestTipAddress=tip,
        )
        revision_hash = bytes(loads(answer["Revision"]["IonText"])["hash"])
        proof = answer["Proof"]["IonText"]
        revisions.append(
            {
                "verified": fold(revision_hash, proof) == digest["Digest"],
                "tampered": fold(flip_bit(revision_hash), proof) == digest["Digest"],
                "same_hash": revision_hash == bytes(row["hash"]),
            }
        )
    seen["revisions"] = revisions
    answer = qldb.get_revision(
        Name=LEDGER,
        BlockAddress=ion_text(redacted_address[0]),
        DocumentId=redacted_address[1],
        DigestTipAddress=tip,
    )
    redacted = loads(answer["Revision"]["IonText"])
    seen["redacted_revision"] = {
        "has_data": "data" in redacted,
        "has_data_hash": "dataHash" in redacted,
        "verified": fold(bytes(redacted["hash"]), answer["Proof"]["IonText"]) == digest["Digest"],
    }

    blocks = []
    tip_number = loads(tip["IonText"])["sequenceNo"]
    strand = loads(tip["IonText"])["strandId"]
    for number in range(tip_number + 1):
        answer = qldb.get_block(
            Name=LEDGER,
            BlockAddress=ion_text({"strandId": strand, "sequenceNo": number}),
            DigestTipAddress=tip,
        )
        block = loads(answer["Block"]["IonText"])
        block_hash = bytes(block["blockHash"])
        blocks.append(
            {
                "verified": fold(block_hash, answer["Proof"]["IonText"]) == digest["Digest"],
                "chained": join(
                    bytes(block["entriesHash"]), bytes(block["previousBlockHash"] or b"")
                )
                == block_hash,
            }
        )
    seen["blocks"] = blocks
    errors["other_strand"] = error_of(
        lambda: qldb.get_block(
            Name=LEDGER, BlockAddress=ion_text({"strandId": "A" * 22, "sequenceNo": 0})
        )
    )
    errors["past_tip"] = error_of(
        lambda: qldb.get_block(
            Name=LEDGER, BlockAddress=ion_text({"strandId": strand, "sequenceNo": tip_number + 5})
        )
    )

    qldb.tag_resource(ResourceArn=seen["arn"], Tags={"stage": "test", "drop": "me"})
    qldb.untag_resource(ResourceArn=seen["arn"], TagKeys=["drop"])
    seen["tags"] = qldb.list_tags_for_resource(ResourceArn=seen["arn"])["Tags"]

    seen["export"] = export_and_validate(qldb, digest)
    seen["permissions"] = permissions(qldb)

    seen["unprotected"] = qldb.update_ledger(Name=LEDGER, DeletionProtection=False)[
        "DeletionProtection"
    ]
    seen["mode"] = qldb.update_ledger_permissions_mode(Name=LEDGER, PermissionsMode="STANDARD")[
        "PermissionsMode"
    ]
    driver.close()
    qldb.delete_ledger(Name=LEDGER)
    errors["deleted"] = error_of(lambda: qldb.describe_ledger(Name=LEDGER))
    seen["listed_after"] = sorted(item["Name"] for item in qldb.list_ledgers()["Ledgers"])
    print(json.dumps(seen))


def permissions(qldb: Any) -> dict[str, Any]:
    """STANDARD mode with pyqldb: the reader (READER_* keys, whose policy allows SendCommand
    and PartiQLSelect on table Vehicle only) reads Vehicle and nothing else; ALLOW_ALL lets
    it do everything, also once the mode is switched while its driver stays open."""
    import os

    qldb.create_ledger(Name="standard", PermissionsMode="STANDARD", DeletionProtection=False)
    owner = QldbDriver("standard")
    owner.execute_lambda(lambda txn: txn.execute_statement("CREATE TABLE Vehicle"))
    owner.execute_lambda(lambda txn: txn.execute_statement("CREATE TABLE Person"))
    owner.execute_lambda(
        lambda txn: txn.execute_statement("INSERT INTO Vehicle ?", {"VIN": "1N4AL11D75C109151"})
    )
    reader_session = boto3.Session(
        aws_access_key_id=os.environ["READER_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["READER_SECRET_ACCESS_KEY"],
        region_name=os.environ["AWS_DEFAULT_REGION"],
    )
    reader = QldbDriver("standard", boto3_session=reader_session)

    def run(statement: str) -> Any:
        try:
            return len(reader.execute_lambda(lambda txn: list(txn.execute_statement(statement))))
        except botocore.exceptions.ClientError as exc:
            return [exc.response["Error"]["Code"], exc.response["Error"].get("Message", "")]

    seen = {
        "select": run("SELECT * FROM Vehicle"),
        "insert": run("INSERT INTO Vehicle {'VIN': 'KM8SRDHF6EU074761'}"),
        "other_table": run("SELECT * FROM Person"),
        "history": run("SELECT * FROM history(Vehicle)"),
    }
    qldb.update_ledger_permissions_mode(Name="standard", PermissionsMode="ALLOW_ALL")
    seen["insert_allow_all"] = run("INSERT INTO Vehicle {'VIN': 'KM8SRDHF6EU074761'}")
    seen["count_allow_all"] = run("SELECT * FROM Vehicle")
    reader.close()
    owner.close()
    qldb.delete_ledger(Name="standard")
    return seen


def redact(driver: QldbDriver) -> tuple[dict[str, Any], tuple[Any, str]]:
    """Redact the first revision of the updated registration, as QLDB's tutorial does."""

    def history(txn: Any) -> list[Any]:
        query = "SELECT * FROM history(VehicleRegistration) AS h WHERE h.data.VIN = ?"
        return list(txn.execute_statement(query, "1N4AL11D75C109151"))

    first = driver.execute_lambda(history)[0]
    document_id = first["metadata"]["id"]
    table_id = driver.execute_lambda(
        lambda txn: list(
            txn.execute_statement(
                "SELECT tableId FROM information_schema.user_tables WHERE name = ?",
                "VehicleRegistration",
            )
        )
    )[0]["tableId"]
    answer = driver.execute_lambda(
        lambda txn: list(
            txn.execute_statement(
                "EXEC redact_revision ?, ?, ?", first["blockAddress"], table_id, document_id
            )
        )
    )[0]
    refused = ""
    try:
        latest = driver.execute_lambda(history)[-1]
        driver.execute_lambda(
            lambda txn: txn.execute_statement(
                "EXEC redact_revision ?, ?, ?", latest["blockAddress"], table_id, document_id
            ),
            retry_config=None,
        )
    except Exception as exc:  # the driver raises botocore's ClientError
        refused = str(exc)
    rows = driver.execute_lambda(
        lambda txn: list(
            txn.execute_statement(
                "SELECT * FROM history(VehicleRegistration) AS h WHERE h.metadata.id = ?",
                document_id,
            )
        )
    )
    seen = {
        "answer_version": answer["version"],
        "history": [["data" in row, "dataHash" in row] for row in rows],
        "latest_refused": refused,
    }
    return seen, (first["blockAddress"], document_id)


def export_and_validate(qldb: Any, digest: dict[str, Any]) -> dict[str, Any]:
    """Export the journal to S3 as the tutorial does, then validate its hash chain."""
    s3 = boto3.client("s3")
    s3.create_bucket(
        Bucket="qldb-export",
        CreateBucketConfiguration={"LocationConstraint": s3.meta.region_name},
    )
    export_id = qldb.export_journal_to_s3(
        Name=LEDGER,
        InclusiveStartTime=datetime.datetime(2020, 1, 1),
        ExclusiveEndTime=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1),
        RoleArn="arn:aws:iam::000000000000:role/export",
        S3ExportConfiguration={
            "Bucket": "qldb-export",
            "Prefix": f"{LEDGER}-export/",
            "EncryptionConfiguration": {"ObjectEncryptionType": "SSE_S3"},
        },
    )["ExportId"]
    for _ in range(100):
        described = qldb.describe_journal_s3_export(Name=LEDGER, ExportId=export_id)
        if described["ExportDescription"]["Status"] != "IN_PROGRESS":
            break
        time.sleep(0.1)
    config = described["ExportDescription"]["S3ExportConfiguration"]
    objects = s3.list_objects_v2(Bucket=config["Bucket"], Prefix=config["Prefix"])["Contents"]
    keys = [item["Key"] for item in objects]
    completed = next(key for key in keys if key.endswith("completed.manifest"))
    manifest = loads(s3.get_object(Bucket=config["Bucket"], Key=completed)["Body"].read())
    chain: list[Any] = []
    pieces = 0  # the tutorial's reader splits an object's text on "} {" into its blocks
    for key in manifest["keys"]:
        text = s3.get_object(Bucket=config["Bucket"], Key=key)["Body"].read().decode()
        chain.extend(loads(text, single_value=False))
        pieces += len(text.split("} {"))
    broken = []
    for previous, block in itertools.pairwise(chain):
        linked = bytes(block["previousBlockHash"]) == bytes(previous["blockHash"])
        rehashed = join(bytes(block["entriesHash"]), bytes(previous["blockHash"]))
        if not linked or rehashed != bytes(block["blockHash"]):
            broken.append(block["blockAddress"]["sequenceNo"])
    java_checked = {block["blockAddress"]["sequenceNo"]: java_block_check(block) for block in chain}
    return {
        "java_block_check": {number: why for number, why in java_checked.items() if why},
        "multi_revision_blocks": sum(len(block.get("revisions") or ()) > 1 for block in chain),
        "status": described["ExportDescription"]["Status"],
        "started_manifest": f"{config['Prefix']}{export_id}.started.manifest" in keys,
        "blocks": len(chain),
        "tutorial_split": pieces == len(chain),
        "broken": broken,
        "last_is_digest_tip": chain[-1]["blockAddress"]["sequenceNo"]
        == loads(digest["DigestTipAddress"]["IonText"])["sequenceNo"],
        "listed": [item["ExportId"] for item in qldb.list_journal_s3_exports()["JournalS3Exports"]]
        == [export_id],
        "listed_for_ledger": len(
            qldb.list_journal_s3_exports_for_ledger(Name=LEDGER)["JournalS3Exports"]
        ),
        "missing": error_of(
            lambda: qldb.describe_journal_s3_export(Name=LEDGER, ExportId="B" * 22)
        ),
    }


if __name__ == "__main__":
    main()
