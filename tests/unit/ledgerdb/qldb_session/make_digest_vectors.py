"""Generate `digest_vectors.jsonl`: transactions with the commit digest pyqldb computes.

Run once, by hand, in the pyqldb environment that `deploy/install-deps.sh` creates (never
in the project venv: pyqldb needs amazon.ion <= 0.9.3):

    PYTHONPATH=. .venv-pyqldb/bin/python tests/unit/ledgerdb/qldb_session/make_digest_vectors.py

Each line is {"transaction_id", "statements": [{"statement", "parameters": [base64 Ion
binary]}], "digest": hex}. The digest is computed by the driver's own code path
(`pyqldb.transaction.transaction.Transaction._update_hash`, the same object a real
transaction uses), fed with each parameter exactly as the driver holds it before sending,
and the parameter bytes are those the driver puts on the wire (`SessionClient` dumps each
parameter to Ion binary). So the test gets what the server receives and what the driver
will send as CommitDigest. Parameter values come from the Ion Hash vector generator's
edge cases and random trees; the generator is seeded, so reruns produce the same file.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import random
import string
import sys
from pathlib import Path

import amazon.ion.simpleion as simpleion
from pyqldb.communication.session_client import SessionClient
from pyqldb.transaction.transaction import Transaction

HERE = Path(__file__).parent
OUTPUT = HERE / "digest_vectors.jsonl"
SEED = 20261124
RANDOM_TRANSACTIONS = 300
ID_ALPHABET = string.ascii_letters + string.digits
STATEMENTS = [
    "SELECT * FROM Vehicle WHERE VIN = ?",
    "INSERT INTO Person ?",
    "UPDATE Vehicle AS v SET v.Owner = ? WHERE v.VIN = ?",
    "DELETE FROM Person WHERE GovId = ?",
    "CREATE TABLE Vehicle",
    "CREATE INDEX ON Vehicle (VIN)",
    "SELECT VALUE name FROM information_schema.user_tables WHERE status = 'ACTIVE'",
    "SELECT * FROM history(Vehicle) AS h WHERE h.metadata.id = ?",
    "INSERT INTO t VALUE {'name': 'caf\u00e9 \u4e2d\u6587 \U0001f600', 'tab': '\t'}",
    "SELECT * FROM t WHERE x IN (?, ?, ?)",
    "",  # the driver hashes whatever it is given; the server refuses it before hashing
]


def _load_ionhash_generator():
    """The Ion Hash vector generator's value grammar (its Trees and edge cases)."""
    path = HERE.parent / "data" / "make_ionhash_vectors.py"
    spec = importlib.util.spec_from_file_location("make_ionhash_vectors", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parameter(rng: random.Random, generator, trees) -> object:
    """A parameter as the driver holds it: an Ion value decoded by amazon.ion 0.9.3."""
    if rng.random() < 0.5:
        edge = (
            generator.NULLS
            + generator.BOOLS
            + generator.INTS
            + generator.FLOATS
            + generator.DECIMALS
            + generator.TIMESTAMPS
            + generator.STRINGS
            + generator.LOBS
            + generator.CONTAINERS
        )
        text = rng.choice(edge)
    else:
        text = trees.value(depth=rng.randint(0, 3))
    return simpleion.loads(text)


def _vector(transaction_id: str, statements: list[tuple[str, list[object]]]) -> dict:
    transaction = Transaction(None, 0, transaction_id, None)
    entries = []
    for statement, parameters in statements:
        # What the driver does: convert (no-op for Ion values), hash, then send as binary.
        ion_parameters = tuple(map(Transaction._to_ion, parameters))
        transaction._update_hash(statement, ion_parameters)
        wire = [SessionClient._to_value_holder(p)["IonBinary"] for p in ion_parameters]
        entries.append(
            {
                "statement": statement,
                "parameters": [base64.b64encode(data).decode() for data in wire],
            }
        )
    return {
        "transaction_id": transaction_id,
        "statements": entries,
        "digest": transaction._txn_hash.get_qldb_hash().hex(),
    }


def main() -> int:
    generator = _load_ionhash_generator()
    rng = random.Random(SEED)
    trees = generator.Trees(rng)
    vectors = [
        _vector("A" * 22, []),
        _vector("0123456789abcdefABCDEF", [("CREATE TABLE Vehicle", [])]),
        _vector(
            "Jm7QbhfGQ4D2pGWpRg0W6h",
            [("INSERT INTO Person ?", [{"FirstName": "Raul", "GovId": "P626-168-229-765"}])],
        ),
    ]
    skipped = 0
    while len(vectors) < RANDOM_TRANSACTIONS:
        transaction_id = "".join(rng.choice(ID_ALPHABET) for _ in range(22))
        try:
            statements = [
                (
                    rng.choice(STATEMENTS),
                    [
                        _parameter(rng, generator, trees)
                        for _ in range(rng.choice((0, 0, 1, 1, 2, 4)))
                    ],
                )
                for _ in range(rng.choice((0, 1, 1, 2, 3, 5)))
            ]
            vectors.append(_vector(transaction_id, statements))
        except (ValueError, OverflowError) as exc:  # e.g. a UTC shift past year 9999
            skipped += 1
            print(f"skipped: {exc}", file=sys.stderr)
    with OUTPUT.open("w") as out:
        for entry in vectors:
            out.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
    print(f"wrote {len(vectors)} vectors to {OUTPUT} ({skipped} skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
