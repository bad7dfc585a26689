"""QLDB's permissions modes: which PartiQL commands a caller may run on which tables.

A ledger in ``ALLOW_ALL`` mode runs every command of anyone who may reach it (QLDB's
legacy mode). In ``STANDARD`` mode QLDB denied every PartiQL command unless an IAM policy
allowed its action on the table's ARN; ledgerdb has no IAM, so the policies come from a
file given to ``ledger serve --policies`` (docs/ledgerdb.md), keyed by the access key id
the request was signed with (verified: ``--policies`` needs ``--credentials``)::

    {"AKID…": [{"Effect": "Allow", "Action": ["qldb:PartiQLSelect"],
                "Resource": "arn:aws:qldb:*:*:ledger/dmv/table/*"}, …], …}

Statements are evaluated as IAM evaluates them: an explicit Deny wins, then an Allow,
else the command is denied; ``*`` and ``?`` are wildcards (actions case-insensitive). A
table's ARN is ``arn:aws:qldb:<region>:<account>:ledger/<ledger>/table/<tableId>`` as in
QLDB; the table's name in place of the id matches too, so policies can be written
before a table exists. The actions are QLDB's (``qldb:PartiQLCreateTable`` …
``qldb:PartiQLRedact``, plus ``qldb:SendCommand`` on the ledger's ARN) and a statement
needs each action on each table it touches, as QLDB's reference table lists them.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ledgerdb.errors import InvalidInput
from ledgerdb.json_files import load_json_object
from ledgerdb.partiql import ast
from ledgerdb.partiql.parser import parse

COMMITTED_PREFIX = "_ql_committed_"
INFORMATION_SCHEMA = "information_schema"


@dataclass(frozen=True)
class Need:
    """One permission a statement needs: an action on a table (or the ledger itself)."""

    action: str
    table: str | None  # a table's name or id; None: the ledger (SendCommand)
    schema_view: str | None = None  # e.g. "user_tables" for information_schema.user_tables


def needs(statement: str, parameters: Sequence[Any] = ()) -> list[Need]:
    """The permissions ``statement`` needs beyond ``qldb:SendCommand`` (QLDB's table of
    PartiQL commands and IAM actions). An unparsable statement needs nothing here: the
    database refuses it with its syntax error."""
    try:
        parsed = _parse(statement)
    except Exception:
        return []
    return list(dict.fromkeys(_needs(parsed, parameters)))


@lru_cache(maxsize=1024)
def _parse(statement: str) -> ast.Statement:
    return parse(statement)


def _needs(parsed: ast.Statement, parameters: Sequence[Any]) -> Iterator[Need]:
    simple: dict[type, tuple[str, Callable[[Any], str]]] = {
        ast.CreateTable: ("PartiQLCreateTable", lambda s: s.name),
        ast.DropTable: ("PartiQLDropTable", lambda s: s.name),
        ast.UndropTable: ("PartiQLUndropTable", lambda s: s.table_id),
        ast.CreateIndex: ("PartiQLCreateIndex", lambda s: s.table),
        ast.DropIndex: ("PartiQLDropIndex", lambda s: s.table),
    }
    if type(parsed) in simple:
        action, table = simple[type(parsed)]
        yield Need(f"qldb:{action}", table(parsed))
    elif isinstance(parsed, ast.Insert):
        yield Need("qldb:PartiQLInsert", parsed.table)
        yield from _reads(parsed.value)
    elif isinstance(parsed, ast.Update | ast.Delete):
        action = "qldb:PartiQLDelete" if isinstance(parsed, ast.Delete) else "qldb:PartiQLUpdate"
        if isinstance(parsed, ast.Update) and any(
            isinstance(op, ast.InsertOp) for op in parsed.operations
        ):
            action = "qldb:PartiQLInsert"  # FROM … INSERT INTO: QLDB's PartiQLInsert
        for table in _tables(parsed.sources):
            yield Need(action, table)
        yield from _reads(parsed)
    elif isinstance(parsed, ast.Exec):
        table_id = _argument(parsed.arguments[1], parameters) if len(parsed.arguments) > 1 else ""
        yield Need("qldb:PartiQLRedact", str(table_id))
    elif isinstance(parsed, ast.Query):
        yield from _reads(parsed.expr)


def _argument(expression: ast.Expr, parameters: Sequence[Any]) -> Any:
    if isinstance(expression, ast.Param) and expression.index < len(parameters):
        return parameters[expression.index]
    return expression.value if isinstance(expression, ast.Literal) else ""


def _tables(sources: Sequence[ast.FromItem]) -> Iterator[str]:
    """The tables a FROM clause names directly (not earlier aliases, not paths)."""
    aliases: set[str] = set()
    for item in sources:
        source = item.source
        if isinstance(source, ast.Var) and not source.local and source.name not in aliases:
            yield source.name.removeprefix(COMMITTED_PREFIX)
        aliases.add(item.alias)


def _reads(node: Any) -> Iterator[Need]:
    """Every SELECT, history() and information_schema read anywhere under ``node``."""
    if isinstance(node, ast.Select):
        for table in _tables(node.sources):
            yield Need("qldb:PartiQLSelect", table)
        for item in node.sources:
            source = item.source
            if isinstance(source, ast.Call) and source.name == "history" and source.args:
                first = source.args[0]
                if isinstance(first, ast.Var):
                    yield Need("qldb:PartiQLHistoryFunction", first.name)
            if (
                isinstance(source, ast.Path)
                and isinstance(source.root, ast.Var)
                and source.root.name == INFORMATION_SCHEMA
                and source.steps
                and isinstance(source.steps[0], ast.FieldStep)
            ):
                yield Need("qldb:PartiQLSelect", None, source.steps[0].name)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for field in dataclasses.fields(node):
            yield from _reads(getattr(node, field.name))
    elif isinstance(node, tuple):
        for item in node:
            yield from _reads(item)


# --- policies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One IAM policy statement: an effect, action patterns, resource patterns."""

    allow: bool
    actions: tuple[re.Pattern[str], ...]
    resources: tuple[re.Pattern[str], ...]

    def covers(self, action: str, resources: Sequence[str]) -> bool:
        return any(p.fullmatch(action) for p in self.actions) and any(
            p.fullmatch(resource) for p in self.resources for resource in resources
        )


def _wildcards(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    text = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(text, re.IGNORECASE if ignore_case else 0)


@dataclass(frozen=True)
class Policies:
    """Access key id → its policy statements."""

    rules: Mapping[str, tuple[Rule, ...]]

    @classmethod
    def load(cls, path: Path) -> Policies:
        value = load_json_object(path, "--policies", "a JSON object keyed by access key id")
        return cls({key: _rules(path, key, policy) for key, policy in value.items()})

    def allows(self, access_key: str, action: str, resources: Sequence[str]) -> bool:
        """IAM's evaluation: an explicit Deny wins, then an Allow; otherwise denied."""
        matching = [
            rule for rule in self.rules.get(access_key, ()) if rule.covers(action, resources)
        ]
        return bool(matching) and all(rule.allow for rule in matching)


def _rules(path: Path, key: str, policy: Any) -> tuple[Rule, ...]:
    """A key's statements: a list of them, or an IAM policy document {"Statement": …}."""
    statements = policy.get("Statement") if isinstance(policy, dict) else policy
    if isinstance(statements, dict):
        statements = [statements]
    where = f"--policies {path}: {key}"
    if not isinstance(statements, list):
        raise InvalidInput(f"{where}: must be a list of policy statements")
    rules = []
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict) or statement.get("Effect") not in ("Allow", "Deny"):
            raise InvalidInput(f"{where}[{index}]: Effect must be Allow or Deny")
        patterns = {}
        for name in ("Action", "Resource"):
            items = statement.get(name)
            items = [items] if isinstance(items, str) else items
            if (
                not isinstance(items, list)
                or not items
                or not all(isinstance(i, str) for i in items)
            ):
                raise InvalidInput(f"{where}[{index}]: {name} must be a string or list of strings")
            patterns[name] = tuple(_wildcards(item, name == "Action") for item in items)
        rules.append(Rule(statement["Effect"] == "Allow", patterns["Action"], patterns["Resource"]))
    return tuple(rules)


# --- the check the session API runs -------------------------------------------------------------


@dataclass(frozen=True)
class Denied:
    """Why a statement may not run: QLDB's AccessDeniedException message."""

    message: str


def check(
    policies: Policies | None,
    access_key: str,
    ledger_arn: str,
    statement: str,
    parameters: Sequence[Any],
    table_id: Callable[[str], str | None],
) -> Denied | None:
    """None if ``access_key`` may run ``statement`` on a STANDARD-mode ledger, else why not.

    ``table_id`` names a table's id by its name (None: no such table yet).
    """
    wanted = [Need("qldb:SendCommand", None), *needs(statement, parameters)]
    for need in wanted:
        resources = _resources(ledger_arn, need, table_id)
        if policies is None or not policies.allows(access_key, need.action, resources):
            return Denied(
                f"User: arn:aws:iam::{ledger_arn.split(':')[4]}:user/{access_key} is not "
                f"authorized to perform: {need.action} on resource: {resources[0]}"
            )
    return None


def _resources(ledger_arn: str, need: Need, table_id: Callable[[str], str | None]) -> list[str]:
    if need.schema_view is not None:
        return [f"{ledger_arn}/{INFORMATION_SCHEMA}/{need.schema_view}"]
    if need.table is None:
        return [ledger_arn]
    found = table_id(need.table)
    names = [need.table] if found is None or found == need.table else [found, need.table]
    return [f"{ledger_arn}/table/{name}" for name in names]


@dataclass(frozen=True)
class LedgerAccess:
    """One ledger's rule for its session API: its ARN, its current mode, the policies."""

    ledger_arn: str
    mode: Callable[[], str]  # read per statement: UpdateLedgerPermissionsMode applies at once
    policies: Policies | None

    def check(
        self,
        access_key: str,
        statement: str,
        parameters: Sequence[Any],
        table_id: Callable[[str], str | None],
    ) -> Denied | None:
        if self.mode() != "STANDARD":
            return None
        return check(self.policies, access_key, self.ledger_arn, statement, parameters, table_id)
