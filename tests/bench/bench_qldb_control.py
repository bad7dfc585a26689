"""QLDB control-plane figures over the local endpoint (issue 25): GetDigest latency,
GetRevision + verify latency, and journal export throughput, on a ledger of N revisions.

Run: ``PYTHONPATH=. .venv/bin/python tests/bench/bench_qldb_control.py [--revisions N]``.
Prints figures and never asserts on them (the issue's goal: ≤ 5 ms each at 1 M revisions).

1. Build: N documents inserted embedded, 40 per transaction (the per-transaction limit),
   4 threads; a sample of (document id, block) pairs is kept for step 3.
2. ``consortium ledger serve --ledger DIR --qldb-port 0`` as its own process; the client
   is one keep-alive HTTP connection sending the control plane's REST-JSON requests, as
   boto3 would (a SigV4-shaped header; the server does not verify signatures).
3. GetDigest; GetRevision with the digest's tip, then the proof folded with ``dot`` from
   the revision hash and compared with the digest (the client's verification).
4. ExportJournalToS3 of the whole journal to the export folder in each ``--formats``
   (default Ion text), timed from the request to DescribeJournalS3Export answering
   COMPLETED; with the server's CPU time (user + system) per block.

``--ledger DIR`` keeps the built ledger there and reuses it on the next run (to compare
two versions of the server on the same journal).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import random
import shutil
import subprocess
import tempfile
import threading
import time
from functools import reduce
from pathlib import Path
from typing import Any

from amazon.ion import simpleion

from ledgerdb.database import LedgerDatabase
from ledgerdb.hashing import dot
from ledgerdb.limits import DOCUMENTS_PER_TRANSACTION
from tests.support.ledger_serve import start_qldb_server

ROOT = Path(__file__).resolve().parents[2]
LEDGER = "bench"
AUTHORIZATION = (
    "AWS4-HMAC-SHA256 Credential=bench/20261206/us-east-1/qldb/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
)


def build(directory: Path, revisions: int, threads: int = 4) -> list[tuple[str, dict]]:
    """Insert ``revisions`` documents; returns a sample of (document id, block address)."""
    sample: list[tuple[str, dict]] = []
    lock = threading.Lock()
    batches = revisions // DOCUMENTS_PER_TRANSACTION
    with LedgerDatabase.open(directory) as database:
        database.execute("CREATE TABLE Vehicle")

        def writer(number: int) -> None:
            for batch in range(number, batches, threads):
                docs = [
                    {"VIN": f"{batch}-{i}", "Year": 2020} for i in range(DOCUMENTS_PER_TRANSACTION)
                ]
                transaction = database.start_transaction()
                outcome = transaction.execute("INSERT INTO Vehicle ?", docs)
                committed = transaction.commit()
                if batch % 50 == 0 and committed.block_address is not None:
                    with lock:
                        sample.append(
                            (outcome.values[0]["documentId"], committed.block_address.to_dict())
                        )

        started = time.perf_counter()
        workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
    print(
        f"1. built {batches * DOCUMENTS_PER_TRANSACTION:,} revisions in {batches:,} blocks: "
        f"{elapsed:.0f} s ({batches * DOCUMENTS_PER_TRANSACTION / elapsed:,.0f} revisions/s)"
    )
    return sample


class Client:
    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict:
        payload = json.dumps(body or {})
        headers = {"Authorization": AUTHORIZATION, "Content-Type": "application/json"}
        self.connection.request(method, path, payload, headers)
        response = self.connection.getresponse()
        answer = json.loads(response.read())
        if response.status != 200:
            raise RuntimeError(f"{method} {path}: {response.status} {answer}")
        return answer


def serve(directory: Path, exports: Path) -> tuple[subprocess.Popen[str], int]:
    arguments = ("--ledger", str(directory), "--ledger-name", LEDGER)
    return start_qldb_server([*arguments, "--export-folder", str(exports)])


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50, p99 = ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]
    return f"p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms"


def latencies(client: Client, sample: list[tuple[str, dict]], rounds: int) -> int:
    """Time GetDigest and GetRevision + verify; returns the number of blocks."""
    digests = []
    for _ in range(rounds):
        started = time.perf_counter()
        digest = client.call("POST", f"/ledgers/{LEDGER}/digest")
        digests.append(time.perf_counter() - started)
    print(f"2. GetDigest ({rounds} calls): {_percentiles(digests)}")
    digest_bytes = base64.b64decode(digest["Digest"])
    picks = random.Random(7).choices(sample, k=rounds)
    timings, failures = [], 0
    for document_id, address in picks:
        started = time.perf_counter()
        answer = client.call(
            "POST",
            f"/ledgers/{LEDGER}/revision",
            {
                "BlockAddress": {"IonText": simpleion.dumps(address, binary=False)},
                "DocumentId": document_id,
                "DigestTipAddress": digest["DigestTipAddress"],
            },
        )
        revision = simpleion.loads(answer["Revision"]["IonText"])
        proof = simpleion.loads(answer["Proof"]["IonText"])
        folded = reduce(dot, (bytes(item) for item in proof), bytes(revision["hash"]))
        timings.append(time.perf_counter() - started)
        failures += folded != digest_bytes
    print(
        f"3. GetRevision + verify ({rounds} calls, random revisions): {_percentiles(timings)}; "
        f"{failures} failed to verify"
    )
    return simpleion.loads(digest["DigestTipAddress"]["IonText"])["sequenceNo"] + 1


def export(client: Client, blocks: int, form: str, server: int) -> None:
    cpu = _cpu_seconds(server)
    started = time.perf_counter()
    export_id = client.call(
        "POST",
        f"/ledgers/{LEDGER}/journal-s3-exports",
        {
            "InclusiveStartTime": 0,
            "ExclusiveEndTime": time.time() + 60,
            "RoleArn": "arn:aws:iam::000000000000:role/bench",
            "S3ExportConfiguration": {
                "Bucket": "bench",
                "Prefix": "export/",
                "EncryptionConfiguration": {"ObjectEncryptionType": "NO_ENCRYPTION"},
            },
            "OutputFormat": form,
        },
    )["ExportId"]
    while True:
        status = client.call("GET", f"/ledgers/{LEDGER}/journal-s3-exports/{export_id}")
        if status["ExportDescription"]["Status"] != "IN_PROGRESS":
            break
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    used = _cpu_seconds(server) - cpu
    revisions = blocks * DOCUMENTS_PER_TRANSACTION
    print(
        f"4. ExportJournalToS3 of {blocks:,} blocks to a folder ({form}): {elapsed:.1f} s, "
        f"{blocks / elapsed:,.0f} blocks/s, {revisions / elapsed:,.0f} revisions/s; server CPU "
        f"{used / blocks * 1e3:.2f} ms/block ({status['ExportDescription']['Status']})"
    )


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--revisions", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--formats", default="ION_TEXT", help="e.g. ION_TEXT,ION_BINARY,JSON")
    parser.add_argument("--ledger", type=Path, default=None, help="build here, or reuse")
    arguments = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load {os.getloadavg()[0]:.1f}, Python {platform.python_version()}"
    )
    root = Path(tempfile.mkdtemp(prefix="bench-qldb-", dir=ROOT))
    ledger = arguments.ledger or root / "ledger"
    try:
        if (ledger / "sample.json").exists():
            sample = json.loads((ledger / "sample.json").read_text())
        else:
            sample = build(ledger, arguments.revisions)
            (ledger / "sample.json").write_text(json.dumps(sample))
        process, port = serve(ledger, root / "exports")
        try:
            client = Client(port)
            blocks = latencies(client, sample, arguments.rounds)
            for form in arguments.formats.split(","):
                export(client, blocks, form, process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
