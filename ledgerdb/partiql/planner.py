"""Chooses, for every FROM source of every query in a statement, how to read its rows.

QLDB's rule is the one applied: an equality (``=``) or ``IN`` on an indexed field, or on
the ``BY`` document-id variable, is answered by a lookup and never by a scan. The other
side of the predicate must not depend on the source itself (a literal, a parameter, or a
variable of a source bound before it: that makes index nested-loop joins). The predicate
stays in WHERE/ON and is checked again on the looked-up rows, so a lookup can only narrow
the rows, never change the answer.

The plan is made once per statement, before evaluation, and describes itself for
``consortium ledger query --plan``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from amazon.ion.symbols import SymbolToken

from ledgerdb.partiql import ast
from ledgerdb.partiql.catalog import Catalog, TableSource

SCAN = "full scan"
INDEX = "index lookup"
DOCUMENT_ID = "document id lookup"
EXPRESSION = "expression"


@dataclass(frozen=True)
class Access:
    """How one FROM source is read."""

    alias: str
    method: str  # SCAN | INDEX | DOCUMENT_ID | EXPRESSION
    table: TableSource | None = field(default=None, repr=False, compare=False)
    table_label: str = ""
    path: tuple[str, ...] = ()
    key: ast.Expr | None = None
    many: bool = False  # key is a collection (IN) rather than one value

    def describe(self) -> str:
        if self.method == EXPRESSION:
            return f"{self.alias}: evaluate expression (no table)"
        where = f"{self.table_label} AS {self.alias}"
        if self.method == SCAN:
            return f"{where}: full scan"
        if self.method == DOCUMENT_ID:
            return f"{where}: document id lookup"
        field_name = ".".join(self.path)
        return f"{where}: index lookup on {field_name} ({'IN' if self.many else '='})"


@dataclass(frozen=True)
class QueryPlan:
    accesses: tuple[Access, ...]


@dataclass
class Plan:
    """The plan of a whole statement: one ``QueryPlan`` per SELECT / DML source list."""

    statement: str
    queries: dict[int, QueryPlan] = field(default_factory=dict, repr=False)
    order: list[QueryPlan] = field(default_factory=list)

    @property
    def accesses(self) -> list[Access]:
        return [access for query in self.order for access in query.accesses]

    @property
    def uses_index(self) -> bool:
        return any(a.method in (INDEX, DOCUMENT_ID) for a in self.accesses)

    @property
    def scans(self) -> bool:
        return any(a.method == SCAN for a in self.accesses)

    def describe(self) -> str:
        lines = [self.statement]
        lines += [f"  {access.describe()}" for access in self.accesses]
        summary = "index used" if self.uses_index else "no index used"
        if self.scans:
            summary += "; full scan"
        return "\n".join([*lines, f"  ({summary})"])


SourceOpener = Callable[[ast.Expr], "tuple[TableSource, str] | None"]


def plan_statement(statement: ast.Statement, open_source: SourceOpener) -> Plan:
    """Plan every query in ``statement``; ``open_source`` resolves a FROM expression to a
    table (or ``None`` when it is not one), given the names bound around it."""
    plan = Plan(_statement_label(statement))
    _Planner(plan, open_source).statement(statement)
    return plan


def catalog_opener(catalog: Catalog, evaluate: Callable[[ast.Expr], Any]) -> SourceOpener:
    """The usual opener: a bare name is a catalog table; ``history(t, …)`` its history."""

    def open_source(expr: ast.Expr) -> tuple[TableSource, str] | None:
        name = table_name(expr)
        if name is not None:
            table = catalog.table(name)
            return (table, name) if table is not None else None
        if isinstance(expr, ast.Call) and expr.name == "history":
            return _open_history(catalog, expr, evaluate)
        return None

    return open_source


def _open_history(
    catalog: Catalog, expr: ast.Call, evaluate: Callable[[ast.Expr], Any]
) -> tuple[TableSource, str]:
    from ledgerdb.partiql.errors import PartiQLEvaluationError, UnknownTable
    from ledgerdb.partiql.values import text

    if not 1 <= len(expr.args) <= 3:
        raise PartiQLEvaluationError("history() takes a table and an optional start and end")
    first = expr.args[0]
    name = table_name(first) or text(evaluate(first))
    bounds = [evaluate(arg) for arg in expr.args[1:]] + [None, None]
    source = catalog.history(name, bounds[0], bounds[1])
    if source is None:
        raise UnknownTable(name)
    return source, f"history({name})"


def table_name(expr: ast.Expr) -> str | None:
    """The table a FROM expression names: ``t``, ``"t"`` or a dotted ``a.b`` system view."""
    if isinstance(expr, ast.Var) and not expr.local:
        return expr.name
    if (
        isinstance(expr, ast.Path)
        and isinstance(expr.root, ast.Var)
        and not expr.root.local
        and all(isinstance(s, ast.FieldStep) for s in expr.steps)
    ):
        return ".".join([expr.root.name, *(s.name for s in expr.steps)])  # type: ignore[attr-defined]
    return None


class _Planner:
    def __init__(self, plan: Plan, open_source: SourceOpener) -> None:
        self.plan = plan
        self.open_source = open_source

    def statement(self, statement: ast.Statement) -> None:
        if isinstance(statement, ast.Query):
            self.expression(statement.expr, frozenset())
        elif isinstance(statement, ast.Update | ast.Delete):
            bound = self.sources(statement, statement.sources, statement.where, frozenset())
            self.expression(statement.where, bound)
            for operation in getattr(statement, "operations", ()):
                for child in children(operation):
                    self.expression(child, bound)
        elif isinstance(statement, ast.Insert):
            self.expression(statement.value, frozenset())

    def expression(self, expr: Any, bound: frozenset[str]) -> None:
        """Plan the SELECTs inside ``expr`` (a subquery sees the names bound around it)."""
        for node in _selects(expr):
            inner = self.sources(node, node.sources, node.where, bound)
            for child in children(node):
                if not isinstance(child, ast.FromItem):
                    self.expression(child, inner)

    def sources(
        self,
        owner: Any,
        items: tuple[ast.FromItem, ...],
        where: ast.Expr | None,
        outer: frozenset[str],
    ) -> frozenset[str]:
        conjuncts = [*_conjuncts(where)]
        single = len(items) == 1
        bound = set(outer)
        accesses = []
        for item in items:
            self.expression(item.source, frozenset(bound))
            opened = None if _is_bound(item.source, bound) else self.open_source(item.source)
            own = [*_conjuncts(item.on)]
            filters = own if item.join == "left" else [*conjuncts, *own]
            if opened is None:
                accesses.append(Access(item.alias, EXPRESSION))
            else:
                table, label = opened
                accesses.append(_choose(item, table, label, filters, frozenset(bound), single))
            bound.update(n for n in (item.alias, item.at, item.by) if n)
            self.expression(item.on, frozenset(bound))
        query_plan = QueryPlan(tuple(accesses))
        self.plan.queries[id(owner)] = query_plan
        self.plan.order.append(query_plan)
        return frozenset(bound)


def _is_bound(source: ast.Expr, bound: set[str]) -> bool:
    root = source.root if isinstance(source, ast.Path) else source
    return isinstance(root, ast.Var) and (root.local or root.name in bound)


def _choose(
    item: ast.FromItem,
    table: TableSource,
    label: str,
    conjuncts: list[ast.Expr],
    bound: frozenset[str],
    single: bool,
) -> Access:
    indexed = set(table.indexes().values())
    best: Access | None = None
    for conjunct in conjuncts:
        for side, key, many in _equalities(conjunct):
            if not _independent(key, bound):
                continue
            if item.by is not None and side == ast.Var(item.by):
                return Access(item.alias, DOCUMENT_ID, table, label, (), key, many)
            path = _field_path(side, item.alias, bound, single)
            if best is None and path is not None and path in indexed:
                best = Access(item.alias, INDEX, table, label, path, key, many)
    return best or Access(item.alias, SCAN, table, label)


def _equalities(conjunct: ast.Expr) -> Iterator[tuple[ast.Expr, ast.Expr, bool]]:
    """(side, key, many) for ``side = key``, ``key = side`` and ``side IN key``."""
    if isinstance(conjunct, ast.Binary) and conjunct.op == "=":
        yield conjunct.left, conjunct.right, False
        yield conjunct.right, conjunct.left, False
    elif isinstance(conjunct, ast.InTest) and not conjunct.negated:
        yield conjunct.operand, conjunct.collection, True


def _field_path(
    side: ast.Expr, alias: str, bound: frozenset[str], single: bool
) -> tuple[str, ...] | None:
    """The document path ``side`` reads from this source's row, if it is a plain path.

    ``alias.a.b`` always qualifies; an unqualified ``a.b`` does when the query has a
    single source and ``a`` is not a variable (QLDB's ``SELECT … FROM t WHERE VIN = ?``).
    """
    if isinstance(side, ast.Var):
        root, steps = side, ()
    elif isinstance(side, ast.Path) and isinstance(side.root, ast.Var):
        root, steps = side.root, side.steps
    else:
        return None
    if not all(isinstance(s, ast.FieldStep) for s in steps):
        return None
    names = tuple(s.name for s in steps)  # type: ignore[attr-defined]
    if root.name == alias:
        return names or None
    implicit = single and not root.local and root.name not in bound
    return (root.name, *names) if implicit else None


def _independent(expr: ast.Expr, bound: frozenset[str]) -> bool:
    """Whether ``expr`` can be evaluated before this source is read."""
    return free_variables(expr) <= bound and not any(
        isinstance(node, ast.Aggregate) for node in walk(expr)
    )


def free_variables(expr: Any) -> set[str]:
    """Names ``expr`` reads that it does not bind itself (a subquery binds its aliases)."""
    if isinstance(expr, ast.Select):
        inner: set[str] = set()
        names: set[str] = set()
        for item in expr.sources:
            names |= free_variables(item.source) - inner
            inner.update(n for n in (item.alias, item.at, item.by) if n)
            if item.on is not None:
                names |= free_variables(item.on) - inner
        for child in children(expr):
            if not isinstance(child, ast.FromItem):
                names |= free_variables(child) - inner
        return names
    if isinstance(expr, ast.Var):
        return {expr.name}
    names = set()
    for child in children(expr):
        names |= free_variables(child)
    return names


def _conjuncts(expr: ast.Expr | None) -> Iterator[ast.Expr]:
    if expr is None:
        return
    if isinstance(expr, ast.Binary) and expr.op == "and":
        yield from _conjuncts(expr.left)
        yield from _conjuncts(expr.right)
    else:
        yield expr


_FIELDS: dict[type, tuple[str, ...]] = {}
_NOT_NODES: set[type] = set()


def _node_fields(node: Any) -> tuple[str, ...] | None:
    """The field names of an AST node class (cached: this runs for every node, every
    statement), or None for values that are not nodes."""
    node_type = type(node)
    names = _FIELDS.get(node_type)
    if names is None:
        if node_type in _NOT_NODES:
            return None
        if not dataclasses.is_dataclass(node) or isinstance(node, type):
            _NOT_NODES.add(node_type)
            return None
        names = _FIELDS[node_type] = tuple(f.name for f in dataclasses.fields(node))
    return names


def children(node: Any) -> Iterator[Any]:
    """The AST nodes directly inside ``node`` (through tuples, e.g. CASE's WHEN pairs)."""
    names = _node_fields(node)
    if names is None:
        return
    for name in names:
        yield from _flatten(getattr(node, name))


def _flatten(value: Any) -> Iterator[Any]:
    if isinstance(value, tuple) and not isinstance(value, SymbolToken):
        for item in value:
            yield from _flatten(item)
    elif _node_fields(value) is not None:
        yield value


def walk(node: Any) -> Iterator[Any]:
    """Every node in ``node``'s tree, including subqueries."""
    yield node
    for child in children(node):
        yield from walk(child)


def _selects(node: Any) -> Iterator[ast.Select]:
    """The outermost SELECTs within ``node`` (not those nested inside them)."""
    if isinstance(node, ast.Select):
        yield node
        return
    for child in children(node):
        yield from _selects(child)


_LABELS = {
    ast.Insert: "INSERT",
    ast.Update: "UPDATE",
    ast.Delete: "DELETE",
    ast.CreateTable: "CREATE TABLE",
    ast.DropTable: "DROP TABLE",
    ast.UndropTable: "UNDROP TABLE",
    ast.Exec: "EXEC",
    ast.CreateIndex: "CREATE INDEX",
    ast.DropIndex: "DROP INDEX",
}


def _statement_label(statement: ast.Statement) -> str:
    if isinstance(statement, ast.Query):
        return "SELECT" if isinstance(statement.expr, ast.Select) else "EXPRESSION"
    return _LABELS[type(statement)]
