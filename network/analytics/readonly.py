"""An analytics database as QLDB's session API sees it: readable, never writable.

The analytics node is the one writer of its databases (their contents are derived from
the channel's blocks, and a row written by anyone else would break the promise that each
document is what a Fabric block wrote). QLDB's drivers still wrap every read in a
transaction they commit, so the session API gets a view of the database whose
transactions run queries only: any other statement (INSERT, UPDATE, DELETE, CREATE,
DROP, EXEC) is refused with ``BadRequestException`` naming it, before it runs, and a
commit writes nothing. A read-only commit is an abort: nothing to write means nothing
for OCC to check, so a driver's read never conflicts with the blocks being written.
"""

from __future__ import annotations

from typing import Any

from ledgerdb.partiql import ast
from ledgerdb.partiql.errors import PartiQLError
from ledgerdb.partiql.parser import parse
from ledgerdb.qldb_session import BadRequestException


class ReadOnlyTransaction:
    """A ledgerdb transaction that runs queries only (the rest goes to the original)."""

    def __init__(self, transaction: Any, channel: str) -> None:
        self._transaction = transaction
        self._channel = channel

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transaction, name)

    def execute(self, statement: str, *parameters: Any) -> Any:
        """Run ``statement`` if it is a query; refuse any other kind, naming it."""
        try:
            parsed = parse(statement) if isinstance(statement, str) else None
        except PartiQLError:
            parsed = None  # let the transaction answer with its line and column
        if parsed is not None and not isinstance(parsed, ast.Query):
            kind = type(parsed).__name__
            raise BadRequestException(
                f"ExecuteStatement.Statement: {kind} refused: channel {self._channel}'s "
                "analytics database is read-only (the analytics node alone writes it)"
            )
        return self._transaction.execute(statement, *parameters)

    def commit(self) -> None:
        """Nothing was written: end the transaction without a journal block."""
        self._transaction.abort()


class ReadOnlyDatabase:
    """The database whose transactions are ``ReadOnlyTransaction``s."""

    def __init__(self, database: Any, channel: str) -> None:
        self._database = database
        self._channel = channel

    def start_transaction(self) -> ReadOnlyTransaction:
        return ReadOnlyTransaction(self._database.start_transaction(), self._channel)
