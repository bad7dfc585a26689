"""Evaluates a parsed statement against a ``Catalog``: values for queries, changes for DML.

Nothing here writes: INSERT/UPDATE/DELETE/DDL produce ``Change`` objects and QLDB's result
documents (``{documentId: …}``, ``{tableId: …}``); the database applies the changes in its
transaction. Rows are read only through the plan ``planner.py`` made for the statement.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cmp_to_key
from typing import Any

from ledgerdb.partiql import ast
from ledgerdb.partiql import changes as ch
from ledgerdb.partiql.catalog import Catalog, Row
from ledgerdb.partiql.edits import apply_removals, assign, insert_into, navigate
from ledgerdb.partiql.errors import (
    PartiQLEvaluationError,
    PartiQLSemanticError,
    PartiQLTypeError,
    UnknownIndex,
    UnknownTable,
    UnknownVariable,
)
from ledgerdb.partiql.functions import cast, scalar_functions
from ledgerdb.partiql.operators import (
    aggregate,
    arithmetic,
    concat,
    like,
    like_pattern,
    ordered,
    require_bool,
)
from ledgerdb.partiql.parser import parse
from ledgerdb.partiql.planner import (
    EXPRESSION,
    INDEX,
    SCAN,
    Access,
    Plan,
    QueryPlan,
    catalog_opener,
    children,
    plan_statement,
    table_name,
    walk,
)
from ledgerdb.partiql.render import render
from ledgerdb.partiql.values import (
    MISSING,
    Bag,
    Kind,
    SortKey,
    equal,
    index_key,
    is_integer,
    is_true,
    is_unknown,
    kind,
    plain,
    struct_get,
    struct_items,
    text,
    type_name,
    unknown_result,
)

MAX_INDEXES_PER_TABLE = 5
TABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_UNBOUND = object()


@dataclass
class StatementResult:
    """What one statement produced: result documents, changes to apply, and its plan."""

    values: list[Any]
    ordered: bool
    changes: list[ch.Change] = field(default_factory=list)
    plan: Plan | None = None


def execute(
    statement: str | ast.Statement,
    catalog: Catalog,
    parameters: Sequence[Any] = (),
    *,
    clock: Callable[[], dt.datetime] | None = None,
    transaction_id: str | None = None,
) -> StatementResult:
    """Parse (if needed), plan and evaluate one statement.

    ``clock`` is what ``utcnow()`` reads (UTC now by default); ``transaction_id`` is what
    ``txid()`` returns (the database passes the id its commit will record).
    """
    parsed = parse(statement) if isinstance(statement, str) else statement
    try:
        return _Evaluator(catalog, parameters, clock, transaction_id).run(parsed)
    except RecursionError:
        raise PartiQLEvaluationError("the statement nests too deeply to evaluate") from None


def explain(
    statement: str | ast.Statement, catalog: Catalog, parameters: Sequence[Any] = ()
) -> Plan:
    """The plan a statement would run with, without running it."""
    parsed = parse(statement) if isinstance(statement, str) else statement
    evaluator = _Evaluator(catalog, parameters, None)
    return evaluator.make_plan(parsed)


class Env:
    """Variables in scope: this level's bindings, the enclosing ones, and the FROM row
    values an unqualified name may be a field of (``SELECT VIN FROM t``)."""

    __slots__ = ("group", "origin", "parent", "row", "rows", "vars")

    def __init__(
        self,
        variables: dict[str, Any],
        parent: Env | None = None,
        rows: tuple[Any, ...] = (),
        row: tuple[str, Row] | None = None,
        group: _Group | None = None,
        origin: tuple[str, str, tuple[str | int, ...]] | None = None,
    ) -> None:
        self.vars = variables
        self.origin = origin
        self.parent = parent
        self.rows = rows
        self.row = row
        self.group = group

    def find(self, name: str) -> Any:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return env.vars[name]
            env = env.parent
        return _UNBOUND

    def implicit(self, name: str) -> Any:
        env: Env | None = self
        while env is not None:
            for value in env.rows:
                if kind(value) is Kind.STRUCT:
                    found = struct_get(value, name)
                    if found is not MISSING:
                        return found
            env = env.parent
        return _UNBOUND

    def in_query(self) -> bool:
        env: Env | None = self
        while env is not None:
            if env.rows or env.group is not None:
                return True
            env = env.parent
        return False

    def source_row(self, alias: str) -> Row | None:
        env: Env | None = self
        while env is not None:
            if env.row is not None and env.row[0] == alias:
                return env.row[1]
            env = env.parent
        return None

    def origin_of(self, name: str) -> tuple[str, tuple[str | int, ...]] | None:
        """Where an unnested variable's value sits: (the variable it came from, path)."""
        env: Env | None = self
        while env is not None:
            if env.origin is not None and env.origin[0] == name:
                return env.origin[1], env.origin[2]
            env = env.parent
        return None

    def nearest_group(self) -> _Group | None:
        env: Env | None = self
        while env is not None:
            if env.group is not None:
                return env.group
            env = env.parent
        return None


@dataclass
class _Group:
    keys: list[tuple[ast.Expr, Any]]
    members: list[Env]


class _Evaluator:
    def __init__(
        self,
        catalog: Catalog,
        parameters: Sequence[Any],
        clock: Callable[[], dt.datetime] | None,
        transaction_id: str | None = None,
    ) -> None:
        self.catalog = catalog
        self.parameters = list(parameters)
        now = clock or (lambda: dt.datetime.now(dt.UTC))
        self.functions = scalar_functions(now, transaction_id)
        self.plan = Plan("")

    # -- statements ----------------------------------------------------------------------
    def make_plan(self, statement: ast.Statement) -> Plan:
        self._check_parameters(statement)
        opener = catalog_opener(self.catalog, lambda expr: self.eval(expr, Env({})))
        return plan_statement(statement, opener)

    def run(self, statement: ast.Statement) -> StatementResult:
        self.plan = self.make_plan(statement)
        result = _STATEMENTS[type(statement)](self, statement)
        result.plan = self.plan
        return result

    def _check_parameters(self, statement: ast.Statement) -> None:
        for position, value in enumerate(self.parameters, start=1):
            try:
                kind(value)
            except TypeError:
                detail = f"parameter {position} is not an Ion value: {type(value).__name__}"
                raise PartiQLTypeError("parameters", detail) from None
        wanted = _parameter_count(statement)
        if wanted != len(self.parameters):
            raise PartiQLEvaluationError(
                f"the statement has {wanted} parameter(s) (?) but {len(self.parameters)} were given"
            )

    def _query(self, statement: ast.Query) -> StatementResult:
        value = self.eval(statement.expr, Env({}))
        if isinstance(statement.expr, ast.Select):
            return StatementResult([_output(v) for v in value], not isinstance(value, Bag))
        return StatementResult([] if value is MISSING else [_output(value)], True)

    def _table(self, name: str) -> Any:
        table = self.catalog.table(name)
        if table is None:
            raise UnknownTable(name)
        return table

    def _insert(self, statement: ast.Insert) -> StatementResult:
        self._table(statement.table)
        value = self.eval(statement.value, Env({}))
        if statement.single or kind(value) is Kind.STRUCT:
            documents = [value]
        elif kind(value) in (Kind.BAG, Kind.LIST):
            documents = list(value)
        else:
            raise PartiQLTypeError("INSERT", f"expected documents, got {type_name(value)}")
        changes: list[ch.Change] = []
        results = []
        for position, document in enumerate(documents):
            if kind(document) is not Kind.STRUCT:
                raise PartiQLTypeError(
                    "INSERT", f"document {position + 1} is a {type_name(document)}, not a struct"
                )
            document_id = self.catalog.new_id()
            changes.append(
                ch.InsertDocument(statement.table, document_id, plain(document), document)
            )
            results.append({"documentId": document_id})
        return StatementResult(results, False, changes)

    def _target_rows(self, statement: ast.Update | ast.Delete) -> tuple[str, list[Env]]:
        query_plan = self.plan.queries[id(statement)]
        first = query_plan.accesses[0]
        label = table_name(statement.sources[0].source)
        if label is not None and ("." in label or label.startswith("_ql_committed_")):
            raise PartiQLSemanticError(
                f"DML statements work on a table's user view only, not {label}"
            )
        if first.method == EXPRESSION or label is None:
            if label is not None:
                raise UnknownTable(label)
            raise PartiQLSemanticError(
                f"{first.alias}: DML needs a table as its first source, not an expression"
            )
        envs = self._bindings(statement.sources, query_plan, Env({}))
        if statement.where is not None:
            envs = (e for e in envs if is_true(self.eval(statement.where, e)))
        return label, list(envs)

    def _update(self, statement: ast.Update) -> StatementResult:
        table, envs = self._target_rows(statement)
        alias = statement.sources[0].alias
        documents: dict[str, Any] = {}
        removals: dict[str, list[list[str | int]]] = {}
        for env in envs:
            row = env.source_row(alias)
            assert row is not None
            document = documents.setdefault(row.document_id, plain(row.data))
            pending = removals.setdefault(row.document_id, [])
            for operation in statement.operations:
                self._modify(document, operation, alias, env, pending)
        changes: list[ch.Change] = []
        for document_id, document in documents.items():
            if apply_removals(document, removals[document_id]):
                changes.append(ch.DeleteDocument(table, document_id))
            else:
                changes.append(ch.UpdateDocument(table, document_id, document))
        return StatementResult(_document_ids(documents), False, changes)

    def _delete(self, statement: ast.Delete) -> StatementResult:
        table, envs = self._target_rows(statement)
        alias = statement.sources[0].alias
        ids: dict[str, None] = {}
        for env in envs:
            row = env.source_row(alias)
            assert row is not None
            ids[row.document_id] = None
        changes: list[ch.Change] = [ch.DeleteDocument(table, i) for i in ids]
        return StatementResult(_document_ids(ids), False, changes)

    def _create_table(self, statement: ast.CreateTable) -> StatementResult:
        if not TABLE_NAME.fullmatch(statement.name):
            raise PartiQLSemanticError(
                f"invalid table name {statement.name!r}: 1-128 letters, digits or _, "
                "not starting with a digit"
            )
        if self.catalog.table(statement.name) is not None:
            raise PartiQLSemanticError(f"table {statement.name} already exists")
        for name, value in statement.options:
            if name != "aws_tags":
                raise PartiQLSemanticError(f"CREATE TABLE: unknown option {name!r}")
            if kind(self.eval(value, Env({}))) is not Kind.STRUCT:
                raise PartiQLTypeError("CREATE TABLE", "aws_tags must be a struct")
        table_id = self.catalog.new_id()
        return _ddl_result(ch.CreateTable(statement.name, table_id))

    def _drop_table(self, statement: ast.DropTable) -> StatementResult:
        table = self._table(statement.name)
        return _ddl_result(ch.DropTable(statement.name, table.table_id))

    def _undrop_table(self, statement: ast.UndropTable) -> StatementResult:
        name = self.catalog.dropped_table(statement.table_id)
        if name is None:
            raise UnknownTable(statement.table_id)
        if self.catalog.table(name) is not None:
            raise PartiQLSemanticError(f"cannot undrop {statement.table_id}: {name} is active")
        return _ddl_result(ch.UndropTable(name, statement.table_id))

    def _create_index(self, statement: ast.CreateIndex) -> StatementResult:
        table = self._table(statement.table)
        indexes = table.indexes()
        if statement.path in indexes.values():
            field_name = ".".join(statement.path)
            raise PartiQLSemanticError(
                f"table {statement.table} already has an index on {field_name}"
            )
        if len(indexes) >= MAX_INDEXES_PER_TABLE:
            raise PartiQLSemanticError(
                f"table {statement.table} already has {MAX_INDEXES_PER_TABLE} indexes (the limit)"
            )
        change = ch.CreateIndex(
            statement.table, table.table_id, self.catalog.new_id(), statement.path
        )
        return _ddl_result(change)

    def _drop_index(self, statement: ast.DropIndex) -> StatementResult:
        table = self._table(statement.table)
        options = {name: self.eval(value, Env({})) for name, value in statement.options}
        if options.get("purge") is not True:
            raise PartiQLSemanticError("DROP INDEX requires WITH (purge = true)")
        if statement.index_id not in table.indexes():
            raise UnknownIndex(statement.index_id, statement.table)
        return _ddl_result(ch.DropIndex(statement.table, table.table_id, statement.index_id))

    # -- DML paths -----------------------------------------------------------------------
    def _modify(
        self,
        document: Any,
        operation: ast.DmlOp,
        alias: str,
        env: Env,
        removals: list[list[str | int]],
    ) -> None:
        """Applies one SET/INSERT to ``document``; REMOVEs are collected in ``removals``
        and applied last, so removing list elements keeps the other positions valid."""
        steps = self._target_steps(operation.target, alias, env)
        if isinstance(operation, ast.RemoveOp):
            removals.append(steps)
        elif isinstance(operation, ast.SetOp):
            if not steps:
                raise PartiQLSemanticError("SET needs a field of the document, not the document")
            value = self.eval(operation.value, env)
            if value is MISSING:
                removals.append(steps)
            else:
                assign(document, steps, plain(value))
        else:
            value = self.eval(operation.value, env)
            key = None if operation.key is None else self.eval(operation.key, env)
            insert_into(navigate(document, steps), plain(_element(value)), key)

    def _target_steps(self, target: ast.Expr, alias: str, env: Env) -> list[str | int]:
        """The concrete path (field names, list positions) a DML target names in the
        document: rooted at the table alias, at a nested-collection alias declared in FROM
        (``FROM t AS x, @x.list AS e … SET e.a = 1``), or at the document's top level."""
        if isinstance(target, ast.Var):
            root, path_steps = target, ()
        elif isinstance(target, ast.Path) and isinstance(target.root, ast.Var):
            root, path_steps = target.root, target.steps
        else:
            raise PartiQLSemanticError("a DML target must be a path into the document")
        anchor = _anchor(root.name, alias, env)
        if anchor is None:
            if env.find(root.name) is not _UNBOUND:
                raise PartiQLSemanticError(
                    f"{root.name!r} is not a path into a document of the table alias {alias!r}"
                )
            anchor = [root.name]
        steps = list(anchor)
        for step in path_steps:
            if isinstance(step, ast.FieldStep):
                steps.append(step.name)
            elif isinstance(step, ast.IndexStep):
                index = self.eval(step.index, env)
                if not is_integer(index) and kind(index) is not Kind.TEXT:
                    raise PartiQLTypeError("DML path", f"[{index!r}] is not an index or a name")
                steps.append(int(index) if is_integer(index) else text(index))
            else:
                raise PartiQLSemanticError("a DML target cannot contain wildcards")
        return steps

    # -- expressions ---------------------------------------------------------------------
    def eval(self, expr: ast.Expr, env: Env) -> Any:
        group = env.group
        if group is not None:
            for key_expr, value in group.keys:
                if key_expr == expr:
                    return value
        return _DISPATCH[type(expr)](self, expr, env)

    def _literal(self, expr: ast.Literal, env: Env) -> Any:
        return expr.value

    def _cast(self, expr: ast.Cast, env: Env) -> Any:
        return cast(self.eval(expr.operand, env), expr.type_name, expr.type_args)

    def _list_ctor(self, expr: ast.ListCtor, env: Env) -> Any:
        return [_element(self.eval(item, env)) for item in expr.items]

    def _bag_ctor(self, expr: ast.BagCtor, env: Env) -> Any:
        return Bag(_element(self.eval(item, env)) for item in expr.items)

    def _var(self, expr: ast.Var, env: Env) -> Any:
        value = env.find(expr.name)
        if value is not _UNBOUND:
            return value
        if expr.local:
            raise UnknownVariable(expr.name)
        value = env.implicit(expr.name)
        if value is not _UNBOUND:
            return value
        table = self.catalog.table(expr.name)
        if table is not None:
            return Bag(row.data for row in table.scan())
        if env.in_query():
            return MISSING
        raise UnknownVariable(expr.name)

    def _param(self, expr: ast.Param, env: Env) -> Any:
        return self.parameters[expr.index]

    def _path(self, expr: ast.Path, env: Env) -> Any:
        return self._steps(self.eval(expr.root, env), expr.steps, env)

    def _steps(self, value: Any, steps: tuple[ast.Step, ...], env: Env) -> Any:
        for position, step in enumerate(steps):
            if is_unknown(value):
                return unknown_result(value)  # NULL.a is NULL (e.g. an unmatched LEFT JOIN)
            if isinstance(step, ast.FieldStep):
                value = struct_get(value, step.name) if kind(value) is Kind.STRUCT else MISSING
            elif isinstance(step, ast.IndexStep):
                value = _index(value, self.eval(step.index, env))
            else:
                return self._wildcard(value, step, steps[position + 1 :], env)
        return value

    def _wildcard(
        self, value: Any, step: ast.WildcardStep, rest: tuple[ast.Step, ...], env: Env
    ) -> Bag:
        value_kind = kind(value)
        if step.fields:
            items = [v for _, v in struct_items(value)] if value_kind is Kind.STRUCT else []
        elif value_kind in (Kind.LIST, Kind.SEXP, Kind.BAG):
            items = list(value)
        else:
            items = []
        more = any(isinstance(s, ast.WildcardStep) for s in rest)
        result = Bag()
        for item in items:
            found = self._steps(item, rest, env)
            if more and isinstance(found, Bag):
                result.extend(found)
            elif found is not MISSING:
                result.append(found)
        return result

    def _operand(self, expr: ast.Expr, env: Env) -> Any:
        """A comparison operand; a SQL-style subquery there yields its single value."""
        value = self.eval(expr, env)
        if isinstance(expr, ast.Select) and not isinstance(expr.projection, ast.SelectValue):
            return _scalar_of(value)
        return value

    def _unary(self, expr: ast.Unary, env: Env) -> Any:
        value = self.eval(expr.operand, env)
        if expr.op == "not":
            if is_unknown(value):
                return unknown_result(value)
            require_bool("NOT", value)
            return not value
        if is_unknown(value):
            return unknown_result(value)
        if kind(value) is not Kind.NUMBER:
            raise PartiQLTypeError(
                f"unary {expr.op}", f"expected a number, got {type_name(value)} in {render(expr)}"
            )
        return -value if expr.op == "-" else value

    def _binary(self, expr: ast.Binary, env: Env) -> Any:
        op = expr.op
        if op in ("and", "or"):
            return self._logic(expr, env)
        left, right = self._operand(expr.left, env), self._operand(expr.right, env)
        if op in ("=", "<>"):
            if is_unknown(left) or is_unknown(right):
                return unknown_result(left, right)
            same = equal(left, right)
            return same if op == "=" else not same
        if op in ("<", "<=", ">", ">="):
            return ordered(op, left, right)
        try:
            if op == "||":
                return concat(left, right)
            return arithmetic(op, left, right)
        except PartiQLTypeError as error:
            raise PartiQLTypeError(op, f"{error.detail} in {render(expr)}") from None

    def _logic(self, expr: ast.Binary, env: Env) -> Any:
        stop = expr.op == "or"  # the value that decides the result on its own
        left = self.eval(expr.left, env)
        if not is_unknown(left):
            require_bool(expr.op.upper(), left)
            if bool(left) is stop:
                return stop
        right = self.eval(expr.right, env)
        if not is_unknown(right):
            require_bool(expr.op.upper(), right)
            if bool(right) is stop:
                return stop
        if is_unknown(left) or is_unknown(right):
            return unknown_result(left, right)
        return not stop

    def _is_test(self, expr: ast.IsTest, env: Env) -> bool:
        value = self.eval(expr.operand, env)
        found = value is MISSING if expr.what == "missing" else is_unknown(value)
        return found is not expr.negated

    def _in_test(self, expr: ast.InTest, env: Env) -> Any:
        value = self._operand(expr.operand, env)
        collection = self.eval(expr.collection, env)
        if is_unknown(value):
            return unknown_result(value)
        if kind(collection) not in (Kind.LIST, Kind.SEXP, Kind.BAG):
            if is_unknown(collection):
                return unknown_result(collection)
            raise PartiQLTypeError("IN", f"expected a collection, got {type_name(collection)}")
        if isinstance(expr.collection, ast.Select) and not isinstance(
            expr.collection.projection, ast.SelectValue
        ):
            collection = [_scalar_of(Bag([v])) for v in collection]
        unknown = False
        for item in collection:
            if is_unknown(item):
                unknown = True
            elif equal(value, item):
                return not expr.negated
        return None if unknown else expr.negated

    def _between(self, expr: ast.Between, env: Env) -> Any:
        value = self.eval(expr.operand, env)
        low, high = self.eval(expr.low, env), self.eval(expr.high, env)
        above, below = ordered(">=", value, low), ordered("<=", value, high)
        if above is False or below is False:
            result: Any = False
        elif is_unknown(above) or is_unknown(below):
            return unknown_result(above, below)
        else:
            result = True
        return (not result) if expr.negated else result

    def _like(self, expr: ast.Like, env: Env) -> Any:
        value, pattern = self.eval(expr.operand, env), self.eval(expr.pattern, env)
        escape = None if expr.escape is None else self.eval(expr.escape, env)
        if is_unknown(value) or is_unknown(pattern) or (escape is not None and is_unknown(escape)):
            return unknown_result(value, pattern, escape if escape is not None else 0)
        for what, item in (("value", value), ("pattern", pattern)):
            if kind(item) is not Kind.TEXT:
                raise PartiQLTypeError(
                    "LIKE", f"the {what} must be a string, got {type_name(item)}"
                )
        if escape is not None and (kind(escape) is not Kind.TEXT or len(text(escape)) != 1):
            raise PartiQLTypeError("LIKE", "ESCAPE must be a single character")
        segments = like_pattern(text(pattern), None if escape is None else text(escape))
        matched = like(text(value), segments)
        return matched is not expr.negated

    def _call(self, expr: ast.Call, env: Env) -> Any:
        function = self.functions.get(expr.name)
        if function is None:
            if expr.name == "history":
                raise PartiQLSemanticError("history() can only be used as a FROM source")
            raise PartiQLEvaluationError(f"unknown function {expr.name}")
        args = [self.eval(a, env) for a in expr.args]
        try:
            return function(*args)
        except TypeError as error:
            raise PartiQLEvaluationError(f"{expr.name}: wrong number of arguments") from error
        except PartiQLTypeError as error:
            raise PartiQLTypeError(error.operation, f"{error.detail} in {render(expr)}") from None

    def _aggregate(self, expr: ast.Aggregate, env: Env) -> Any:
        group = env.nearest_group()
        if group is None:
            raise PartiQLSemanticError(f"{expr.name.upper()} is only allowed in SELECT/HAVING")
        if expr.arg is None:
            return len(group.members)
        values = [self.eval(expr.arg, member) for member in group.members]
        values = [v for v in values if not is_unknown(v)]
        if expr.distinct:
            values = list({index_key(v): v for v in values}.values())
        return aggregate(expr.name, values)

    def _case(self, expr: ast.Case, env: Env) -> Any:
        subject = None if expr.operand is None else self.eval(expr.operand, env)
        for condition, result in expr.whens:
            tested = self.eval(condition, env)
            if expr.operand is None:
                hit = is_true(tested)
            else:
                hit = not is_unknown(subject) and not is_unknown(tested) and equal(subject, tested)
            if hit:
                return self.eval(result, env)
        return None if expr.default is None else self.eval(expr.default, env)

    def _struct(self, expr: ast.StructCtor, env: Env) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_expr, value_expr in expr.fields:
            key = self.eval(key_expr, env)
            if kind(key) is not Kind.TEXT:
                raise PartiQLTypeError(
                    "struct", f"a field name must be a string, got {type_name(key)}"
                )
            value = self.eval(value_expr, env)
            if value is not MISSING:
                result[text(key)] = value
        return result

    # -- SELECT --------------------------------------------------------------------------
    def _select(self, query: ast.Select, env: Env) -> list[Any]:
        query_plan = self.plan.queries.get(id(query))
        if query.sources:
            assert query_plan is not None
            rows: list[Env] = list(self._bindings(query.sources, query_plan, env))
        else:
            rows = [Env({}, env, rows=({},))]
        if query.where is not None:
            rows = [r for r in rows if is_true(self.eval(query.where, r))]
        if query.group_by or _has_aggregates(query):
            rows = self._group(query, rows, env)
        if query.order_by:
            rows = self._sort(query, rows)
        values = [self._project(query.projection, r, len(query.sources)) for r in rows]
        values = [v for v in values if v is not MISSING]
        if query.distinct:
            values = list({index_key(v): v for v in values}.values())
        values = self._limit(query, values, env)
        return values if query.order_by else Bag(values)

    def _bindings(
        self, items: tuple[ast.FromItem, ...], query_plan: QueryPlan, env: Env
    ) -> Iterator[Env]:
        def bind(position: int, outer: Env) -> Iterator[Env]:
            if position == len(items):
                yield outer
                return
            item, access = items[position], query_plan.accesses[position]
            produced = False
            for child in self._source_rows(item, access, outer):
                if item.on is not None and not is_true(self.eval(item.on, child)):
                    continue
                produced = True
                yield from bind(position + 1, child)
            if item.join == "left" and not produced:
                names = (item.alias, item.at, item.by)
                yield from bind(position + 1, Env({n: None for n in names if n}, outer))

        return bind(0, env)

    def _source_rows(self, item: ast.FromItem, access: Access, env: Env) -> Iterator[Env]:
        if access.method == EXPRESSION:
            yield from self._expression_rows(item, env)
            return
        assert access.table is not None
        if access.method == SCAN:
            rows: Iterator[Row] = access.table.scan()
        else:
            keys = self._lookup_keys(access, env)
            if access.method == INDEX:
                rows = access.table.lookup(access.path, keys) if keys else iter(())
            else:
                found = (access.table.get(text(k)) for k in keys if kind(k) is Kind.TEXT)
                rows = (r for r in found if r is not None)
        for row in rows:
            variables = {item.alias: row.data}
            if item.by:
                variables[item.by] = row.document_id
            if item.at:
                variables[item.at] = MISSING
            yield Env(variables, env, rows=(row.data,), row=(item.alias, row))

    def _lookup_keys(self, access: Access, env: Env) -> list[Any]:
        assert access.key is not None
        value = self.eval(access.key, env)
        if access.many:
            if kind(value) not in (Kind.LIST, Kind.SEXP, Kind.BAG):
                return []
            values = list(value)
        else:
            values = [value]
        return [v for v in values if not is_unknown(v)]

    def _expression_rows(self, item: ast.FromItem, env: Env) -> Iterator[Env]:
        name = table_name(item.source)
        root = item.source.root if isinstance(item.source, ast.Path) else item.source
        if (
            name is not None
            and isinstance(root, ast.Var)
            and env.find(root.name) is _UNBOUND
            and env.implicit(root.name) is _UNBOUND
        ):
            raise UnknownTable(name)
        value = self.eval(item.source, env)
        value_kind = kind(value)
        if value_kind in (Kind.MISSING, Kind.NULL):
            return
        base = _static_path(item.source, env)
        if value_kind in (Kind.LIST, Kind.SEXP, Kind.BAG):
            ordered = value_kind is not Kind.BAG
            pairs: Iterator[tuple[Any, Any]] = (
                (position if ordered else MISSING, element)
                for position, element in enumerate(value)
            )
        else:
            pairs = iter([(MISSING, value)])
        for position, element in pairs:
            variables = {item.alias: element}
            if item.at:
                variables[item.at] = position
            if item.by:
                variables[item.by] = MISSING
            origin = None
            if base is not None and (position is not MISSING or value_kind is not Kind.BAG):
                steps = base[1] if position is MISSING else (*base[1], position)
                origin = (item.alias, base[0], steps)
            yield Env(variables, env, rows=(element,), origin=origin)

    def _group(self, query: ast.Select, rows: list[Env], outer: Env) -> list[Env]:
        groups: dict[Any, tuple[list[Any], list[Env]]] = {}
        for row in rows:
            keys = [self.eval(k.expr, row) for k in query.group_by]
            entry = groups.setdefault(tuple(index_key(v) for v in keys), (keys, []))
            entry[1].append(row)
        if not query.group_by and not groups:
            groups[()] = ([], [])
        result = []
        for keys, members in groups.values():
            pairs = [(k.expr, v) for k, v in zip(query.group_by, keys, strict=True)]
            pairs += [(ast.Var(k.alias), v) for k, v in zip(query.group_by, keys, strict=True)]
            variables = {k.alias: v for k, v in zip(query.group_by, keys, strict=True)}
            group_env = Env(variables, outer, group=_Group(pairs, members))
            if query.having is None or is_true(self.eval(query.having, group_env)):
                result.append(group_env)
        return result

    def _sort(self, query: ast.Select, rows: list[Env]) -> list[Env]:
        """ORDER BY (an extension: QLDB has none). NULL/MISSING sort first ascending and
        last descending unless NULLS FIRST/LAST says otherwise."""
        aliases = _projection_aliases(query.projection)
        items = query.order_by
        keyed = [([self._order_value(i.expr, row, aliases) for i in items], row) for row in rows]

        def compare_rows(left: tuple[list[Any], Env], right: tuple[list[Any], Env]) -> int:
            for item, a, b in zip(items, left[0], right[0], strict=True):
                nulls_first = (
                    item.nulls_first if item.nulls_first is not None else not item.descending
                )
                unknown_a, unknown_b = is_unknown(a), is_unknown(b)
                if unknown_a or unknown_b:
                    if unknown_a and unknown_b:
                        continue
                    return (-1 if unknown_a else 1) * (1 if nulls_first else -1)
                order = SortKey(a).compare(SortKey(b))
                if order:
                    return -order if item.descending else order
            return 0

        keyed.sort(key=cmp_to_key(compare_rows))
        return [row for _, row in keyed]

    def _order_value(self, expr: ast.Expr, row: Env, aliases: dict[str, ast.Expr]) -> Any:
        if isinstance(expr, ast.Var) and expr.name in aliases and row.find(expr.name) is _UNBOUND:
            return self.eval(aliases[expr.name], row)
        return self.eval(expr, row)

    def _project(self, projection: ast.Projection, row: Env, sources: int) -> Any:
        if isinstance(projection, ast.SelectValue):
            return self.eval(projection.expr, row)
        if isinstance(projection, ast.SelectStar):
            return _star(row, sources)
        result: dict[str, Any] = {}
        for position, item in enumerate(projection.items, start=1):
            if isinstance(item, ast.ProjectAll):
                value = self.eval(item.expr, row)
                if kind(value) is Kind.STRUCT:
                    result.update(struct_items(value))
                elif value is not MISSING:
                    result[f"_{position}"] = value
                continue
            value = self.eval(item.expr, row)
            if value is not MISSING:
                result[item.alias] = value
        return result

    def _limit(self, query: ast.Select, values: list[Any], env: Env) -> list[Any]:
        start = 0 if query.offset is None else _count("OFFSET", self.eval(query.offset, env))
        if query.limit is None:
            return values[start:]
        return values[start : start + _count("LIMIT", self.eval(query.limit, env))]


_PARAMETER_COUNTS: dict[int, tuple[ast.Statement, int]] = {}


def _parameter_count(statement: ast.Statement) -> int:
    """How many ``?`` a statement has; remembered per (cached, immutable) statement."""
    entry = _PARAMETER_COUNTS.get(id(statement))
    if entry is not None and entry[0] is statement:
        return entry[1]
    count = sum(1 for node in walk(statement) if isinstance(node, ast.Param))
    if len(_PARAMETER_COUNTS) >= 4096:
        _PARAMETER_COUNTS.clear()
    _PARAMETER_COUNTS[id(statement)] = (statement, count)
    return count


def _star(row: Env, sources: int) -> dict[str, Any]:
    """SELECT *: the fields of every struct bound by FROM, other values (BY ids, AT
    positions, scalars) under their variable's name."""
    scopes: list[dict[str, Any]] = []
    env: Env | None = row
    for _ in range(max(sources, 1)):
        if env is None:
            break
        scopes.append(env.vars)
        if env.group is not None:
            break
        env = env.parent
    result: dict[str, Any] = {}
    for variables in reversed(scopes):
        for position, (name, value) in enumerate(variables.items()):
            if value is MISSING:
                continue
            if position == 0 and kind(value) is Kind.STRUCT and row.group is None:
                result.update(struct_items(value))
            else:
                result[name] = value
    return result


def _projection_aliases(projection: ast.Projection) -> dict[str, ast.Expr]:
    if isinstance(projection, ast.SelectList):
        return {i.alias: i.expr for i in projection.items if isinstance(i, ast.ProjectItem)}
    return {}


def _has_aggregates(query: ast.Select) -> bool:
    parts: list[Any] = [query.projection, query.having]
    return any(_contains_aggregate(p) for p in parts if p is not None)


def _contains_aggregate(node: Any) -> bool:
    if isinstance(node, ast.Aggregate):
        return True
    if isinstance(node, ast.Select):
        return False
    return any(_contains_aggregate(c) for c in children(node))


def _count(clause: str, value: Any) -> int:
    if not is_integer(value) or value < 0:
        raise PartiQLTypeError(clause, f"expected a non-negative integer, got {value!r}")
    return int(value)


def _scalar_of(value: Any) -> Any:
    """SQL coercion of a one-row, one-column subquery result to that column's value."""
    if kind(value) in (Kind.BAG, Kind.LIST) and len(value) == 1:
        row = next(iter(value))
        if kind(row) is Kind.STRUCT:
            fields = list(struct_items(row))
            if len(fields) == 1:
                return fields[0][1]
    return value


def _element(value: Any) -> Any:
    """A collection element: MISSING becomes NULL, as PartiQL requires."""
    return None if value is MISSING else value


def _output(value: Any) -> Any:
    return None if value is MISSING else plain(value)


def _index(value: Any, index: Any) -> Any:
    value_kind = kind(value)
    if value_kind in (Kind.LIST, Kind.SEXP) and is_integer(index):
        position = int(index)
        return value[position] if 0 <= position < len(value) else MISSING
    if value_kind is Kind.STRUCT and kind(index) is Kind.TEXT:
        return struct_get(value, text(index))
    return MISSING


def _document_ids(ids: Any) -> list[dict[str, str]]:
    return [{"documentId": document_id} for document_id in ids]


def _ddl_result(change: ch.Change) -> StatementResult:
    return StatementResult([{"tableId": change.table_id}], False, [change])  # type: ignore[union-attr]


# -- in-place document edits (UPDATE / FROM … SET / REMOVE / INSERT) --------------------------


def _static_path(source: ast.Expr, env: Env) -> tuple[str, tuple[str, ...]] | None:
    """(variable, field names) when a FROM source is a plain path from a bound variable."""
    if not isinstance(source, ast.Path) or not isinstance(source.root, ast.Var):
        return None
    if env.find(source.root.name) is _UNBOUND:
        return None
    if not all(isinstance(step, ast.FieldStep) for step in source.steps):
        return None
    return source.root.name, tuple(step.name for step in source.steps)  # type: ignore[attr-defined]


def _anchor(name: str, alias: str, env: Env) -> list[str | int] | None:
    """The path from the document root to the value variable ``name`` is bound to."""
    if name == alias:
        return []
    origin = env.origin_of(name)
    if origin is None:
        return None
    root, steps = origin
    prefix = _anchor(root, alias, env)
    return None if prefix is None else [*prefix, *steps]


# Built once, not per statement (building them cost ~5 µs of every single-statement commit).
_DISPATCH: dict[type, Callable[[_Evaluator, Any, Env], Any]] = {
    ast.Literal: _Evaluator._literal,
    ast.Var: _Evaluator._var,
    ast.Param: _Evaluator._param,
    ast.Path: _Evaluator._path,
    ast.Unary: _Evaluator._unary,
    ast.Binary: _Evaluator._binary,
    ast.IsTest: _Evaluator._is_test,
    ast.InTest: _Evaluator._in_test,
    ast.Between: _Evaluator._between,
    ast.Like: _Evaluator._like,
    ast.Call: _Evaluator._call,
    ast.Aggregate: _Evaluator._aggregate,
    ast.Cast: _Evaluator._cast,
    ast.Case: _Evaluator._case,
    ast.ListCtor: _Evaluator._list_ctor,
    ast.BagCtor: _Evaluator._bag_ctor,
    ast.StructCtor: _Evaluator._struct,
    ast.Select: _Evaluator._select,
}
_STATEMENTS: dict[type, Callable[[_Evaluator, Any], StatementResult]] = {
    ast.Query: _Evaluator._query,
    ast.Insert: _Evaluator._insert,
    ast.Update: _Evaluator._update,
    ast.Delete: _Evaluator._delete,
    ast.CreateTable: _Evaluator._create_table,
    ast.DropTable: _Evaluator._drop_table,
    ast.UndropTable: _Evaluator._undrop_table,
    ast.CreateIndex: _Evaluator._create_index,
    ast.DropIndex: _Evaluator._drop_index,
}
