"""Read-only PartiQL over the governance tables, run by ledgerdb's engine.

Each query runs in a read transaction of the database, through a catalog that shows
only what the caller may see under AMB's rules: the networks it has a live member in
or a PENDING invitation to, and its own invitations. The same rule filters the
committed views (``_ql_committed_votes``) and revision history (``history(votes)``), so
a caller can read every revision of what it may see, with block addresses and hashes.
Only queries (SELECT and other expressions) are accepted; the ledger changes through
the API alone. The internal ``requests`` table (idempotency tokens) and the catalog
(``information_schema.user_tables``) are not exposed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from ledgerdb.database import Transaction
from ledgerdb.partiql import PartiQLError, Row, execute, parse
from ledgerdb.partiql.ast import Query
from network.controlplane.documents import plain
from network.controlplane.errors import InvalidRequestException

QUERYABLE = ("networks", "members", "invitations", "proposals", "electorates", "votes", "nodes")
COMMITTED = "_ql_committed_"
MAX_STATEMENT = 4096

Visible = Callable[[str, Mapping[str, Any]], bool]


def visibility(caller: str, networks: set[str]) -> Visible:
    """Whether ``caller`` may see a document of a table, given the networks it takes part in."""

    def visible(table: str, document: Mapping[str, Any]) -> bool:
        if table == "networks":
            return str(document.get("Id")) in networks
        if table == "invitations" and str(document.get("Principal")) == caller:
            return True
        return str(document.get("NetworkId")) in networks

    return visible


class _Filtered:
    """A table source showing only the rows whose document the caller may see."""

    def __init__(self, source: Any, table: str, visible: Visible, wrapped: bool) -> None:
        self._source = source
        self._table = table
        self._visible = visible
        self._wrapped = wrapped  # rows are {blockAddress, hash, data, metadata}

    @property
    def name(self) -> str:
        return self._source.name

    @property
    def table_id(self) -> str:
        return self._source.table_id

    def indexes(self) -> Mapping[str, tuple[str, ...]]:
        return self._source.indexes()

    def _shown(self, row: Row | None) -> bool:
        if row is None:
            return False
        document = row.data.get("data") if self._wrapped else row.data
        return isinstance(document, Mapping) and self._visible(self._table, document)

    def _keep(self, rows: Iterator[Row]) -> Iterator[Row]:
        return (row for row in rows if self._shown(row))

    def scan(self) -> Iterator[Row]:
        return self._keep(self._source.scan())

    def lookup(self, path: tuple[str, ...], values: Sequence[Any]) -> Iterator[Row]:
        return self._keep(self._source.lookup(path, values))

    def get(self, document_id: str) -> Row | None:
        row = self._source.get(document_id)
        return row if self._shown(row) else None


class VisibleCatalog:
    """The caller's view of a transaction's catalog: the queryable tables, filtered."""

    def __init__(self, catalog: Any, visible: Visible) -> None:
        self._catalog = catalog
        self._visible = visible

    def table(self, name: str) -> Any:
        committed = name.startswith(COMMITTED)
        base = name[len(COMMITTED) :] if committed else name
        if base not in QUERYABLE:
            return None
        source = self._catalog.table(name)
        return None if source is None else _Filtered(source, base, self._visible, committed)

    def history(self, name_or_id: str, start: Any, end: Any) -> Any:
        source = self._catalog.history(name_or_id, start, end)
        if source is None:
            return None
        base = source.name.removeprefix("history(").removesuffix(")")
        if base not in QUERYABLE:
            return None
        return _Filtered(source, base, self._visible, True)

    def dropped_table(self, table_id: str) -> str | None:
        return None


def run_query(
    transaction: Transaction,
    visible: Visible,
    statement: str,
    parameters: Sequence[Any] = (),
) -> list[Any]:
    """Evaluate one read-only statement; errors name the problem in the statement."""
    if not isinstance(statement, str) or not statement.strip():
        raise InvalidRequestException("Statement must be a non-empty PartiQL string.")
    if len(statement) > MAX_STATEMENT:
        raise InvalidRequestException(f"Statement is longer than {MAX_STATEMENT} characters.")
    if not isinstance(parameters, list | tuple):
        raise InvalidRequestException("Parameters must be a list of values.")
    try:
        parsed = parse(statement)
        if not isinstance(parsed, Query):
            raise InvalidRequestException(
                "Statement must be a query: governance changes only through the API."
            )
        catalog = VisibleCatalog(transaction.catalog, visible)
        result = execute(parsed, catalog, list(parameters))
    except PartiQLError as exc:
        raise InvalidRequestException(f"Statement: {exc}") from None
    return [_json_ready(value) for value in result.values]


def _json_ready(value: Any) -> Any:
    value = plain(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()  # revision hashes
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [_json_ready(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # decimals, timestamps and the like, as their Ion text
