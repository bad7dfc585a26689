"""The ledgers one QLDB endpoint serves: a folder of databases and what QLDB says of them.

QLDB's control plane manages named ledgers (created, described, protected from deletion,
tagged, deleted). Here a ledger is a ``LedgerDatabase`` in its own subfolder of the
server's folder, and what QLDB keeps about it (creation time, permissions mode, deletion
protection, tags, journal exports) sits beside the database in ``qldb-ledger.json``,
written atomically, so a restarted server serves the same ledgers. A server started on one
existing database (``consortium ledger serve --ledger DIR``) also serves it under its
name; that one is never deleted through the API (the operator chose its folder).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ledgerdb.block import new_id
from ledgerdb.database import LedgerDatabase
from ledgerdb.errors import InvalidInput, LedgerError, LedgerNotFound

META_FILE = "qldb-ledger.json"
PERMISSIONS_MODES = ("ALLOW_ALL", "STANDARD")
ACCOUNT_ID = "000000000000"  # no AWS accounts here: every ARN names this placeholder


class LedgerExists(LedgerError):
    """CreateLedger named a ledger this server already has."""


class LedgerProtected(LedgerError):
    """DeleteLedger on a ledger with deletion protection on, or one served from --ledger."""


@dataclass
class LedgerRecord:
    """What QLDB's DescribeLedger shows, plus tags and exports, as stored in the meta file."""

    name: str
    arn: str
    created: float
    permissions_mode: str
    deletion_protection: bool
    tags: dict[str, str] = field(default_factory=dict)
    exports: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Ledger:
    record: LedgerRecord
    path: Path
    database: LedgerDatabase
    fixed: bool  # served from --ledger: not deletable through the API


def ledger_arn(region: str, name: str) -> str:
    return f"arn:aws:qldb:{region}:{ACCOUNT_ID}:ledger/{name}"


def _write_meta(path: Path, record: LedgerRecord) -> None:
    """Temp file, fsync, rename: a crash leaves the old file or the new, never half of one."""
    target = path / META_FILE
    temporary = path / f".{META_FILE}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(asdict(record), handle, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, target)


def _read_meta(path: Path) -> LedgerRecord:
    try:
        raw = json.loads((path / META_FILE).read_text(encoding="utf-8"))
        return LedgerRecord(**raw)
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInput(f"{path / META_FILE} is not a ledger description: {exc}") from None


class QldbLedgers:
    """Every ledger of one endpoint by name; thread-safe (the API runs on a thread pool)."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._lock = threading.RLock()
        self._ledgers: dict[str, _Ledger] = {}
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
            for path in sorted(root.iterdir()):
                if (path / META_FILE).is_file():
                    record = _read_meta(path)
                    database = LedgerDatabase.open(path, create=False)
                    self._ledgers[record.name] = _Ledger(record, path, database, fixed=False)

    def add_fixed(self, name: str, path: Path, database: LedgerDatabase, region: str) -> None:
        """Serve an already open database (``--ledger``) as ledger ``name``."""
        with self._lock:
            if (path / META_FILE).is_file():
                record = _read_meta(path)
                record.name = name
            else:
                record = LedgerRecord(
                    name, ledger_arn(region, name), time.time(), "ALLOW_ALL", True
                )
                _write_meta(path, record)
            self._ledgers[name] = _Ledger(record, path, database, fixed=True)

    # -- reading ---------------------------------------------------------------------------

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._ledgers)

    def record(self, name: str) -> LedgerRecord:
        return self._get(name).record

    def database(self, name: str) -> LedgerDatabase:
        return self._get(name).database

    def by_arn(self, arn: str) -> LedgerRecord:
        with self._lock:
            for ledger in self._ledgers.values():
                if ledger.record.arn == arn:
                    return ledger.record
        raise LedgerNotFound(arn)

    def _get(self, name: str) -> _Ledger:
        with self._lock:
            ledger = self._ledgers.get(name)
        if ledger is None:
            raise LedgerNotFound(name)
        return ledger

    # -- changing --------------------------------------------------------------------------

    def create(self, record: LedgerRecord) -> LedgerRecord:
        """Make the ledger's folder and database; nothing is left behind if that fails."""
        if self.root is None:
            raise LedgerProtected(
                "this server serves only its --ledger; start it with --ledgers DIR to create more"
            )
        with self._lock:
            if record.name in self._ledgers:
                raise LedgerExists(record.name)
            path = self.root / record.name
            staging = self.root / f".creating-{record.name}-{new_id()}"
            try:
                database = LedgerDatabase.open(staging, create=True)
                database.close()
                _write_meta(staging, record)
                os.replace(staging, path)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
            database = LedgerDatabase.open(path, create=False)
            self._ledgers[record.name] = _Ledger(record, path, database, fixed=False)
            return record

    def update(self, name: str, **changes: Any) -> LedgerRecord:
        """Change the record's fields and store it; the stored file is the truth."""
        with self._lock:
            ledger = self._get(name)
            updated = LedgerRecord(**{**asdict(ledger.record), **changes})
            _write_meta(ledger.path, updated)
            ledger.record = updated
            return updated

    def delete(self, name: str) -> None:
        """Close and remove the ledger (moved aside first, so a crash leaves no half)."""
        with self._lock:
            ledger = self._get(name)
            if ledger.fixed:
                raise LedgerProtected(
                    f"ledger {name} is served from --ledger; stop the server to remove it"
                )
            if ledger.record.deletion_protection:
                raise LedgerProtected(
                    f"Ledger {name} has deletion protection enabled; "
                    "disable it with UpdateLedger first"
                )
            del self._ledgers[name]
        ledger.database.close()
        assert self.root is not None
        doomed = self.root / f".deleted-{name}-{new_id()}"
        os.replace(ledger.path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def close(self) -> None:
        with self._lock:
            ledgers = [ledger for ledger in self._ledgers.values() if not ledger.fixed]
            self._ledgers.clear()
        for ledger in ledgers:
            ledger.database.close()
