"""Read-only PartiQL over the governance tables, as QLDB would answer it.

Each query runs on a snapshot of the current revisions, limited to what the caller may
see under AMB's rules: the networks it has a live member in or a PENDING invitation to,
and its own invitations. Only queries (SELECT and other expressions) are accepted;
the ledger changes through the API alone. The internal ``requests`` table (idempotency
tokens) is not exposed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ledgerdb.partiql import MemoryCatalog, PartiQLError, execute, parse
from ledgerdb.partiql.ast import Query
from network.controlplane.errors import InvalidRequestException
from network.controlplane.store import plain
from network.controlplane.tables import Tables

QUERYABLE = ("networks", "members", "invitations", "proposals", "electorates", "votes", "nodes")
INDEXED = {
    "members": ("NetworkId",),
    "proposals": ("NetworkId",),
    "electorates": ("ProposalId",),
    "votes": ("ProposalId", "NetworkId"),
    "nodes": ("NetworkId", "MemberId"),
}
MAX_STATEMENT = 4096


def _network_of(table: str, document: Mapping[str, Any]) -> str:
    return document["Id"] if table == "networks" else document["NetworkId"]


def catalog_for(tables: Tables, caller: str, visible: Callable[[str], bool]) -> MemoryCatalog:
    """The caller's view of the tables, indexed on the fields governance queries join on."""
    catalog = MemoryCatalog()
    for table in QUERYABLE:
        source = catalog.create(table, indexes=INDEXED.get(table, ()))
        for doc_id, located in tables.current[table].items():
            document = located.document
            mine = table == "invitations" and document["Principal"] == caller
            if mine or visible(_network_of(table, document)):
                source.put(doc_id, dict(document))
    return catalog


def run_query(
    tables: Tables,
    caller: str,
    visible: Callable[[str], bool],
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
        result = execute(parsed, catalog_for(tables, caller, visible), list(parameters))
    except PartiQLError as exc:
        raise InvalidRequestException(f"Statement: {exc}") from None
    return [_json_ready(value) for value in result.values]


def _json_ready(value: Any) -> Any:
    value = plain(value)
    if isinstance(value, Mapping):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return [_json_ready(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # decimals, timestamps and the like, as their Ion text
