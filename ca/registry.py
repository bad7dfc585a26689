"""The CA's durable state: registered identities and every certificate it issued.

One SQLite file under the CA home (WAL, ``synchronous=FULL``). Each request's changes
happen in one transaction, so a crash or a refused request never leaves half a
registration, a counted enrollment without its certificate, or a revocation without
its identity state. Secrets are stored only as salted scrypt hashes.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ca.errors import RegistryError

ACTIVE = 0
REVOKED = -1
# scrypt cost (4 MiB, ~10-30 ms here): a deliberate KDF like Fabric CA's bcrypt. The
# parameters are stored per identity so they can be raised without breaking old rows.
_SCRYPT = {"n": 2**12, "r": 8, "p": 1}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS identities (
    id TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL,
    salt BLOB NOT NULL,
    kdf TEXT NOT NULL,
    type TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    attrs TEXT NOT NULL,
    max_enrollments INTEGER NOT NULL,
    enrollments INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT NOT NULL,
    aki TEXT NOT NULL,
    id TEXT NOT NULL,
    ca TEXT NOT NULL,
    pem TEXT NOT NULL,
    status TEXT NOT NULL,
    not_after TEXT NOT NULL,
    revoked_at TEXT,
    reason INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (serial, aki)
);
CREATE INDEX IF NOT EXISTS certificates_by_id ON certificates(id);
CREATE TABLE IF NOT EXISTS affiliations (name TEXT PRIMARY KEY);
"""


@dataclass(frozen=True)
class Attribute:
    name: str
    value: str
    ecert: bool = False

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "value": self.value, "ecert": self.ecert}


@dataclass(frozen=True)
class IdentityRecord:
    id: str
    type: str
    affiliation: str
    attrs: tuple[Attribute, ...]
    max_enrollments: int
    enrollments: int = 0
    state: int = ACTIVE

    def attribute(self, name: str) -> str | None:
        return next((a.value for a in self.attrs if a.name == name), None)

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "type": self.type,
            "affiliation": self.affiliation,
            "attrs": [a.to_json() for a in self.attrs],
            "max_enrollments": self.max_enrollments,
        }


@dataclass(frozen=True)
class CertificateRecord:
    serial: str
    aki: str
    id: str
    ca: str
    pem: str
    status: str
    not_after: datetime.datetime
    revoked_at: datetime.datetime | None = None
    reason: int = 0


def _kdf_name(params: dict[str, int]) -> str:
    return f"scrypt${params['n']}${params['r']}${params['p']}"


def hash_secret(secret: str, salt: bytes, kdf: str = _kdf_name(_SCRYPT)) -> bytes:
    name, n, r, p = kdf.split("$")
    if name != "scrypt":
        raise RegistryError(f"unknown secret hash {name!r}")
    return hashlib.scrypt(secret.encode(), salt=salt, n=int(n), r=int(r), p=int(p))


@dataclass(frozen=True)
class Secret:
    """A secret as stored; hashed before any lock is taken (hashing is deliberately slow)."""

    hash: bytes
    salt: bytes
    kdf: str

    @classmethod
    def of(cls, secret: str) -> Secret:
        salt = os.urandom(16)
        kdf = _kdf_name(_SCRYPT)
        return cls(hash_secret(secret, salt, kdf), salt, kdf)


_IDENTITY_COLUMNS = "id, type, affiliation, attrs, max_enrollments, enrollments, state"


class Registry:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the server's worker threads: the lock serializes its use
        # (single reads and whole transactions) while slow work (hashing, signing) runs
        # outside it.
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        os.chmod(self.path, 0o600)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _rows(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All writes of one request: committed together, or rolled back on any error."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- identities --------------------------------------------------------------------

    def get(self, identity_id: str) -> IdentityRecord | None:
        rows = self._rows(
            f"SELECT {_IDENTITY_COLUMNS} FROM identities WHERE id = ?", (identity_id,)
        )
        return _identity(rows[0]) if rows else None

    def all(self) -> list[IdentityRecord]:
        rows = self._rows(f"SELECT {_IDENTITY_COLUMNS} FROM identities ORDER BY id")
        return [_identity(r) for r in rows]

    def insert(self, db: sqlite3.Connection, record: IdentityRecord, secret: Secret) -> None:
        try:
            db.execute(
                "INSERT INTO identities (id, secret_hash, salt, kdf, type, affiliation, attrs, "
                "max_enrollments, enrollments, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    record.id,
                    secret.hash,
                    secret.salt,
                    secret.kdf,
                    record.type,
                    record.affiliation,
                    json.dumps([a.to_json() for a in record.attrs]),
                    record.max_enrollments,
                    record.state,
                ),
            )
        except sqlite3.IntegrityError:
            raise RegistryError(f"Identity '{record.id}' is already registered") from None

    def check_secret(self, identity_id: str, secret: str) -> bool:
        rows = self._rows(
            "SELECT secret_hash, salt, kdf FROM identities WHERE id = ?", (identity_id,)
        )
        if not rows:
            return False
        stored, salt, kdf = rows[0]
        return hmac.compare_digest(bytes(stored), hash_secret(secret, bytes(salt), kdf))

    def count_enrollment(self, db: sqlite3.Connection, identity_id: str) -> bool:
        """Count one enrollment unless that passes the maximum or the identity is revoked.

        Check and increment are one statement in the request's transaction, so two
        concurrent enrollments cannot both take the last one.
        """
        cursor = db.execute(
            "UPDATE identities SET enrollments = enrollments + 1 WHERE id = ? AND state = 0 "
            "AND (max_enrollments < 0 OR enrollments < max_enrollments)",
            (identity_id,),
        )
        return cursor.rowcount == 1

    def set_state(self, db: sqlite3.Connection, identity_id: str, state: int) -> None:
        db.execute("UPDATE identities SET state = ? WHERE id = ?", (state, identity_id))

    # -- affiliations ------------------------------------------------------------------

    def affiliations(self) -> set[str]:
        return {r[0] for r in self._rows("SELECT name FROM affiliations")}

    def add_affiliations(self, names: list[str]) -> None:
        """Every prefix of ``org1.department1`` is an affiliation too, as in Fabric CA."""
        with self.transaction() as db:
            for name in names:
                parts = name.split(".")
                for n in range(1, len(parts) + 1):
                    db.execute(
                        "INSERT OR IGNORE INTO affiliations (name) VALUES (?)",
                        (".".join(parts[:n]),),
                    )

    # -- certificates ------------------------------------------------------------------

    def add_certificate(self, db: sqlite3.Connection, record: CertificateRecord) -> None:
        db.execute(
            "INSERT INTO certificates (serial, aki, id, ca, pem, status, not_after) "
            "VALUES (?, ?, ?, ?, ?, 'good', ?)",
            (record.serial, record.aki, record.id, record.ca, record.pem, _iso(record.not_after)),
        )

    def certificate(self, serial: str, aki: str) -> CertificateRecord | None:
        rows = self._rows(
            f"SELECT {_CERT_COLUMNS} FROM certificates WHERE serial = ? AND aki = ?",
            (serial, aki),
        )
        return _certificate(rows[0]) if rows else None

    def certificates_of(self, identity_id: str) -> list[CertificateRecord]:
        rows = self._rows(
            f"SELECT {_CERT_COLUMNS} FROM certificates WHERE id = ? ORDER BY rowid",
            (identity_id,),
        )
        return [_certificate(r) for r in rows]

    def revoked(self, ca: str) -> list[CertificateRecord]:
        rows = self._rows(
            f"SELECT {_CERT_COLUMNS} FROM certificates WHERE ca = ? AND status = 'revoked' "
            "ORDER BY revoked_at",
            (ca,),
        )
        return [_certificate(r) for r in rows]

    def mark_revoked(self, db: sqlite3.Connection, record: CertificateRecord, reason: int) -> None:
        db.execute(
            "UPDATE certificates SET status = 'revoked', revoked_at = ?, reason = ? "
            "WHERE serial = ? AND aki = ?",
            (_iso(_now()), reason, record.serial, record.aki),
        )


_CERT_COLUMNS = "serial, aki, id, ca, pem, status, not_after, revoked_at, reason"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat()


def _identity(row: tuple) -> IdentityRecord:
    attrs = tuple(
        Attribute(a["name"], a["value"], bool(a.get("ecert", False))) for a in json.loads(row[3])
    )
    return IdentityRecord(row[0], row[1], row[2], attrs, row[4], row[5], row[6])


def _certificate(row: tuple) -> CertificateRecord:
    return CertificateRecord(
        serial=row[0],
        aki=row[1],
        id=row[2],
        ca=row[3],
        pem=row[4],
        status=row[5],
        not_after=datetime.datetime.fromisoformat(row[6]),
        revoked_at=datetime.datetime.fromisoformat(row[7]) if row[7] else None,
        reason=row[8],
    )
