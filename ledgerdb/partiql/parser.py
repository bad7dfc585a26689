"""PartiQL text → typed AST (``ast.py``), with lark's LALR parser over ``grammar.lark``.

A syntax error becomes ``PartiQLSyntaxError`` naming the line, column and offending
token, the way QLDB reports a parser error.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path as FilePath
from typing import Any

from lark import Lark, Token, Transformer, Tree
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from ledgerdb.ion_input import load_untrusted
from ledgerdb.partiql import ast
from ledgerdb.partiql.errors import PartiQLError, PartiQLSemanticError, PartiQLSyntaxError
from ledgerdb.partiql.values import MISSING

_GRAMMAR = FilePath(__file__).with_name("grammar.lark")

# Type names CAST accepts, mapped to the canonical name the evaluator uses.
CAST_TYPES = {
    "null": "null",
    "missing": "missing",
    "bool": "bool",
    "boolean": "bool",
    "smallint": "int",
    "int": "int",
    "int2": "int",
    "int4": "int",
    "int8": "int",
    "integer": "int",
    "bigint": "int",
    "float": "float",
    "real": "float",
    "double precision": "float",
    "decimal": "decimal",
    "numeric": "decimal",
    "string": "string",
    "varchar": "string",
    "char": "string",
    "character": "string",
    "character varying": "string",
    "symbol": "symbol",
    "timestamp": "timestamp",
    "clob": "clob",
    "blob": "blob",
    "list": "list",
    "sexp": "sexp",
    "bag": "bag",
    "struct": "struct",
    "tuple": "struct",
}


@lru_cache(maxsize=1)
def _lark() -> Lark:
    return Lark(
        _GRAMMAR.read_text(),
        parser="lalr",
        lexer="basic",
        cache=True,  # the LALR tables take ~2 s to build; lark keys the cache on the grammar
        maybe_placeholders=True,
        propagate_positions=False,
    )


def parse(text: str) -> ast.Statement:
    """Parse one PartiQL statement (a trailing ``;`` is allowed).

    Results are cached by text: ASTs are immutable, and a database sees the same
    parameterised statements again and again.
    """
    return _parse_cached(text)


@lru_cache(maxsize=1024)
def _parse_cached(text: str) -> ast.Statement:
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(error, text) from None
    try:
        return _Builder().transform(tree)
    except VisitError as error:
        if isinstance(error.orig_exc, PartiQLError):
            raise error.orig_exc from None
        raise
    except RecursionError:
        raise PartiQLSemanticError("the statement nests too deeply") from None


def _syntax_error(error: UnexpectedInput, text: str) -> PartiQLSyntaxError:
    if isinstance(error, UnexpectedToken):
        token = error.token
        if token.type == "$END":
            line, column = _end_position(text)
            return PartiQLSyntaxError(line, column, "", _expected(error.expected))
        return PartiQLSyntaxError(token.line, token.column, str(token), _expected(error.expected))
    if isinstance(error, UnexpectedCharacters):
        return PartiQLSyntaxError(error.line, error.column, text[error.pos_in_stream], lexer=True)
    if isinstance(error, UnexpectedEOF):
        line, column = _end_position(text)
        return PartiQLSyntaxError(line, column, "")
    return PartiQLSyntaxError(getattr(error, "line", 1), getattr(error, "column", 1), "?")


def _end_position(text: str) -> tuple[int, int]:
    lines = text.split("\n")
    return len(lines), len(lines[-1]) + 1


def _expected(expected: set[str]) -> str:
    if not expected or len(expected) > 6:
        return ""
    return "expected one of " + ", ".join(sorted(expected))


def _values(children: list[Any]) -> list[Any]:
    """Children that are AST parts, not keyword tokens or absent optionals."""
    return [c for c in children if c is not None and not _is_keyword(c)]


def _is_keyword(child: Any) -> bool:
    return isinstance(child, Token) and child.type not in ("IDENT", "QUOTED_IDENT", "NUMBER")


def _has(children: list[Any], token_type: str) -> bool:
    return any(isinstance(c, Token) and c.type == token_type for c in children)


def _name(token: Token | str) -> str:
    """An identifier's text; a quoted identifier loses its quotes (``""`` is one ``"``)."""
    if isinstance(token, Token) and token.type == "QUOTED_IDENT":
        return token[1:-1].replace('""', '"')
    return str(token)


def _string(token: Token) -> str:
    return token[1:-1].replace("''", "'")


class _Builder(Transformer):
    """Builds AST nodes bottom-up; numbers ``?`` parameters in the order they appear."""

    def __init__(self) -> None:
        super().__init__()
        self._params = 0

    # -- statements ----------------------------------------------------------------------
    def start(self, children: list[Any]) -> ast.Statement:
        return children[0]

    def query(self, children: list[Any]) -> ast.Query:
        return ast.Query(children[0])

    def exec_stmt(self, children: list[Any]) -> ast.Exec:
        name, *arguments = _values(children)
        return ast.Exec(_name(name), tuple(arguments))

    def create_table(self, children: list[Any]) -> ast.CreateTable:
        name, options = _values(children)[0], _values(children)[1:]
        return ast.CreateTable(_name(name), options[0] if options else ())

    def drop_table(self, children: list[Any]) -> ast.DropTable:
        return ast.DropTable(_name(_values(children)[0]))

    def undrop_table(self, children: list[Any]) -> ast.UndropTable:
        return ast.UndropTable(_values(children)[0])

    def create_index(self, children: list[Any]) -> ast.CreateIndex:
        table, path = _values(children)
        return ast.CreateIndex(_name(table), path)

    def drop_index(self, children: list[Any]) -> ast.DropIndex:
        parts = _values(children)
        options = parts[2] if len(parts) > 2 else ()
        return ast.DropIndex(parts[0], _name(parts[1]), options)

    def with_options(self, children: list[Any]) -> tuple[tuple[str, ast.Expr], ...]:
        return tuple(_values(children))

    def option(self, children: list[Any]) -> tuple[str, ast.Expr]:
        name, value = _values(children)
        return (_name(name), value)

    def index_path(self, children: list[Any]) -> tuple[str, ...]:
        return tuple(_name(c) for c in children)

    def id_literal(self, children: list[Any]) -> str:
        token = children[0]
        return _name(token) if token.type == "QUOTED_IDENT" else _string(token)

    def insert_value(self, children: list[Any]) -> ast.Insert:
        table, value = _values(children)
        return ast.Insert(_name(table), value, single=True)

    def insert_many(self, children: list[Any]) -> ast.Insert:
        table, value = _values(children)
        return ast.Insert(_name(table), value, single=False)

    def update_stmt(self, children: list[Any]) -> ast.Update:
        parts = _values(children)
        source, rest = parts[0], parts[1:]
        where = rest.pop() if rest and isinstance(rest[-1], _Where) else None
        operations = tuple(op for group in rest for op in group)
        return ast.Update((source,), where.expr if where else None, operations)

    def from_stmt(self, children: list[Any]) -> ast.Update | ast.Delete:
        parts = _values(children)
        sources, rest = parts[0], parts[1:]
        where = rest.pop(0).expr if rest and isinstance(rest[0], _Where) else None
        operations = tuple(op for group in rest for op in group)
        return ast.Update(sources, where, operations)

    def delete_stmt(self, children: list[Any]) -> ast.Delete:
        parts = _values(children)
        where = parts[1].expr if len(parts) > 1 else None
        return ast.Delete(parts[0], where)

    def dml_sources(self, children: list[Any]) -> tuple[ast.FromItem, ...]:
        return tuple(children)

    def dml_source(self, children: list[Any]) -> ast.FromItem:
        return self.from_item(children)

    def set_op(self, children: list[Any]) -> list[ast.SetOp]:
        return [ast.SetOp(target, value) for target, value in _values(children)]

    def assignment(self, children: list[Any]) -> tuple[ast.Expr, ast.Expr]:
        target, value = _values(children)
        return (target, value)

    def remove_op(self, children: list[Any]) -> list[ast.RemoveOp]:
        return [ast.RemoveOp(_values(children)[0])]

    def insert_op(self, children: list[Any]) -> list[ast.InsertOp]:
        parts = _values(children)
        key = parts[2] if len(parts) > 2 else None
        return [ast.InsertOp(parts[0], parts[1], key)]

    # -- queries -------------------------------------------------------------------------
    def select(self, children: list[Any]) -> ast.Select:
        distinct = False
        clauses: dict[str, Any] = {}
        projection: ast.Projection | None = None
        for child in _values(children):
            if isinstance(child, _Quantifier):
                distinct = child.distinct
            elif isinstance(child, ast.SelectStar | ast.SelectValue | ast.SelectList):
                projection = child
            else:
                clauses[child.clause] = child.value
        assert projection is not None
        return ast.Select(projection=projection, distinct=distinct, **clauses)

    def quantifier(self, children: list[Any]) -> _Quantifier:
        return _Quantifier(children[0].type == "DISTINCT")

    def select_star(self, children: list[Any]) -> ast.SelectStar:
        return ast.SelectStar()

    def select_value(self, children: list[Any]) -> ast.SelectValue:
        return ast.SelectValue(_values(children)[0])

    def select_list(self, children: list[Any]) -> ast.SelectList:
        items = []
        for position, item in enumerate(children, start=1):
            if isinstance(item, ast.ProjectAll):
                items.append(item)
            else:
                expr, alias = item
                items.append(ast.ProjectItem(expr, alias or _derived_name(expr, position)))
        return ast.SelectList(tuple(items))

    def project_item(self, children: list[Any]) -> tuple[ast.Expr, str | None]:
        parts = _values(children)
        return (parts[0], _name(parts[1]) if len(parts) > 1 else None)

    def project_all(self, children: list[Any]) -> ast.ProjectAll:
        return ast.ProjectAll(_values(children)[0])

    def from_clause(self, children: list[Any]) -> _Clause:
        items: list[ast.FromItem] = []
        join = "cross"
        for child in _values(children):
            if isinstance(child, str):
                join = child
                continue
            item = child
            if items:
                item = ast.FromItem(item.source, item.alias, item.at, item.by, join, item.on)
            elif item.on is not None:
                raise PartiQLSemanticError("ON is only allowed after a JOIN")
            items.append(item)
        return _Clause("sources", tuple(_unique_aliases(items)))

    def cross_join(self, children: list[Any]) -> str:
        return "cross"

    def inner_join(self, children: list[Any]) -> str:
        return "inner"

    def left_join(self, children: list[Any]) -> str:
        return "left"

    def from_item(self, children: list[Any]) -> ast.FromItem:
        parts = [c for c in children if c is not None and not _has([c], "ON")]
        source = parts[0]
        names = dict(p for p in parts[1:] if isinstance(p, tuple))
        on = next((p for p in parts[1:] if isinstance(p, ast.Expr)), None)
        alias = names.get("as") or _derived_alias(source)
        return ast.FromItem(source, alias, names.get("at"), names.get("by"), "cross", on)

    def as_alias(self, children: list[Any]) -> tuple[str, str]:
        return ("as", _name(_values(children)[0]))

    def at_alias(self, children: list[Any]) -> tuple[str, str]:
        return ("at", _name(_values(children)[0]))

    def by_alias(self, children: list[Any]) -> tuple[str, str]:
        return ("by", _name(_values(children)[0]))

    def where(self, children: list[Any]) -> _Where:
        return _Where(_values(children)[0])

    def group_by(self, children: list[Any]) -> _Clause:
        return _Clause("group_by", tuple(_values(children)))

    def group_key(self, children: list[Any]) -> ast.GroupKey:
        parts = _values(children)
        alias = _name(parts[1]) if len(parts) > 1 else _derived_name(parts[0], 0)
        return ast.GroupKey(parts[0], alias)

    def having(self, children: list[Any]) -> _Clause:
        return _Clause("having", _values(children)[0])

    def order_by(self, children: list[Any]) -> _Clause:
        return _Clause("order_by", tuple(_values(children)))

    def order_item(self, children: list[Any]) -> ast.OrderItem:
        parts = [c for c in children if c is not None]
        descending = any(isinstance(p, _Direction) and p.descending for p in parts)
        nulls = next((p.first for p in parts if isinstance(p, _Nulls)), None)
        return ast.OrderItem(parts[0], descending, nulls)

    def direction(self, children: list[Any]) -> _Direction:
        return _Direction(children[0].type == "DESC")

    def nulls(self, children: list[Any]) -> _Nulls:
        return _Nulls(_has(children, "FIRST"))

    def limit(self, children: list[Any]) -> _Clause:
        return _Clause("limit", _values(children)[0])

    def offset(self, children: list[Any]) -> _Clause:
        return _Clause("offset", _values(children)[0])

    # -- expressions ---------------------------------------------------------------------
    def logic(self, children: list[Any]) -> ast.Binary:
        left, op, right = children
        return ast.Binary(op.type.lower(), left, right)

    def not_(self, children: list[Any]) -> ast.Unary:
        return ast.Unary("not", children[1])

    def compare(self, children: list[Any]) -> ast.Binary:
        left, op, right = children
        return ast.Binary("<>" if op == "!=" else str(op), left, right)

    def equals(self, children: list[Any]) -> ast.Binary:
        left, right = children
        return ast.Binary("=", left, right)

    def is_test(self, children: list[Any]) -> ast.IsTest:
        what = "missing" if _has(children, "MISSING") else "null"
        return ast.IsTest(children[0], what, _has(children, "NOT"))

    def in_test(self, children: list[Any]) -> ast.InTest:
        operand, collection = _values(children)
        return ast.InTest(operand, collection, _has(children, "NOT"))

    def like(self, children: list[Any]) -> ast.Like:
        parts = _values(children)
        escape = parts[2] if len(parts) > 2 else None
        return ast.Like(parts[0], parts[1], escape, _has(children, "NOT"))

    def between(self, children: list[Any]) -> ast.Between:
        operand, low, high = _values(children)
        return ast.Between(operand, low, high, _has(children, "NOT"))

    def concat_op(self, children: list[Any]) -> ast.Binary:
        return ast.Binary("||", children[0], children[1])

    def arith(self, children: list[Any]) -> ast.Binary:
        left, op, right = children
        return ast.Binary(str(op), left, right)

    def negate(self, children: list[Any]) -> ast.Expr:
        op, operand = children
        if isinstance(operand, ast.Literal) and op == "-" and _is_number(operand.value):
            return ast.Literal(-operand.value)
        return ast.Unary(str(op), operand)

    def field_step(self, children: list[Any]) -> ast.Path:
        return _extend(children[0], ast.FieldStep(_name(children[1])))

    def index_step(self, children: list[Any]) -> ast.Path:
        index = children[1]
        if isinstance(index, ast.Literal) and isinstance(index.value, str):
            return _extend(children[0], ast.FieldStep(index.value))
        return _extend(children[0], ast.IndexStep(index))

    def all_elements(self, children: list[Any]) -> ast.Path:
        return _extend(children[0], ast.WildcardStep(fields=False))

    def var(self, children: list[Any]) -> ast.Var:
        return ast.Var(_name(children[0]))

    def local_var(self, children: list[Any]) -> ast.Var:
        return ast.Var(_name(children[0]), local=True)

    def param(self, children: list[Any]) -> ast.Param:
        self._params += 1
        return ast.Param(self._params - 1)

    def paren_list(self, children: list[Any]) -> ast.ListCtor:
        return ast.ListCtor(tuple(children))

    def list_ctor(self, children: list[Any]) -> ast.ListCtor:
        return ast.ListCtor(tuple(c for c in children if c is not None))

    def bag_ctor(self, children: list[Any]) -> ast.BagCtor:
        return ast.BagCtor(tuple(_values(children)))

    def struct_ctor(self, children: list[Any]) -> ast.StructCtor:
        return ast.StructCtor(tuple(c for c in children if c is not None))

    def struct_field(self, children: list[Any]) -> tuple[ast.Expr, ast.Expr]:
        return (children[0], children[1])

    def string(self, children: list[Any]) -> ast.Literal:
        return ast.Literal(_string(children[0]))

    def number(self, children: list[Any]) -> ast.Literal:
        token = children[0]
        text = str(token)
        if not any(c in text for c in ".eE"):
            return ast.Literal(int(text))
        number = Decimal(text)
        if number and not -6143 <= number.adjusted() <= 6144:
            raise PartiQLSyntaxError(
                token.line, token.column, text, "decimal out of range (exponent ±6144)"
            )
        return ast.Literal(number)

    def ion(self, children: list[Any]) -> ast.Literal:
        body = str(children[0])[1:-1]
        try:
            return ast.Literal(load_untrusted(body))
        except Exception as error:  # the Ion parser raises several exception types
            token = children[0]
            raise PartiQLSyntaxError(
                token.line, token.column, str(token), f"invalid Ion literal: {error}"
            ) from None

    def null(self, children: list[Any]) -> ast.Literal:
        return ast.Literal(None)

    def missing(self, children: list[Any]) -> ast.Literal:
        return ast.Literal(MISSING)

    def true(self, children: list[Any]) -> ast.Literal:
        return ast.Literal(True)

    def false(self, children: list[Any]) -> ast.Literal:
        return ast.Literal(False)

    def call(self, children: list[Any]) -> ast.Call:
        name, *args = children
        return ast.Call(str(name).lower(), tuple(a for a in args if a is not None))

    def aggregate(self, children: list[Any]) -> ast.Aggregate:
        distinct = any(isinstance(c, _Quantifier) and c.distinct for c in children)
        arg = next(c for c in children if isinstance(c, ast.Expr))
        return ast.Aggregate(str(children[0]).lower(), arg, distinct)

    def count_star(self, children: list[Any]) -> ast.Aggregate:
        return ast.Aggregate("count", None, False)

    def cast(self, children: list[Any]) -> ast.Cast:
        operand, (type_name, type_args) = _values(children)
        return ast.Cast(operand, type_name, type_args)

    def type_spec(self, children: list[Any]) -> tuple[str, tuple[int, ...]]:
        name, *args = (c for c in children if c is not None)
        return (_cast_type(str(name), name), tuple(int(a) for a in args))

    def two_word_type(self, children: list[Any]) -> tuple[str, tuple[int, ...]]:
        return (_cast_type(f"{children[0]} {children[1]}", children[0]), ())

    def extract(self, children: list[Any]) -> ast.Call:
        part, operand = _values(children)
        return ast.Call("extract", (ast.Literal(str(part).lower()), operand))

    def substring(self, children: list[Any]) -> ast.Call:
        return ast.Call("substring", tuple(_values(children)))

    def trim(self, children: list[Any]) -> ast.Call:
        return ast.Call("trim", (ast.Literal("both"), ast.Literal(" "), _values(children)[0]))

    def trim_from(self, children: list[Any]) -> ast.Call:
        spec = next((c for c in children if type(c) is str), "both")
        exprs = [c for c in children if isinstance(c, ast.Expr)]
        chars = exprs[0] if len(exprs) == 2 else ast.Literal(" ")
        return ast.Call("trim", (ast.Literal(spec), chars, exprs[-1]))

    def trim_spec(self, children: list[Any]) -> str:
        return str(children[0]).lower()

    def exists(self, children: list[Any]) -> ast.Call:
        return ast.Call("exists", (_values(children)[0],))

    def case(self, children: list[Any]) -> ast.Case:
        parts = [c for c in children if c is not None]
        operand = parts[1] if isinstance(parts[1], ast.Expr) else None
        whens = tuple(p for p in parts if isinstance(p, tuple))
        has_else = _has(parts, "ELSE")
        default = parts[-2] if has_else else None
        return ast.Case(operand, whens, default)

    def when(self, children: list[Any]) -> tuple[ast.Expr, ast.Expr]:
        condition, result = _values(children)
        return (condition, result)

    def date_func(self, children: list[Any]) -> ast.Call:
        name, part, *args = (c for c in children if c is not None)
        return ast.Call(str(name).lower(), (ast.Literal(str(part).lower()), *args))

    def __default__(self, data: str, children: list[Any], meta: Any) -> Any:
        raise PartiQLSemanticError(f"unsupported syntax: {data}")


class _Clause:
    __slots__ = ("clause", "value")

    def __init__(self, clause: str, value: Any) -> None:
        self.clause = clause
        self.value = value


class _Where(_Clause):
    def __init__(self, expr: ast.Expr) -> None:
        super().__init__("where", expr)

    @property
    def expr(self) -> ast.Expr:
        return self.value


class _Quantifier:
    def __init__(self, distinct: bool) -> None:
        self.distinct = distinct


class _Direction:
    def __init__(self, descending: bool) -> None:
        self.descending = descending


class _Nulls:
    def __init__(self, first: bool) -> None:
        self.first = first


def _cast_type(name: str, token: Token) -> str:
    canonical = CAST_TYPES.get(name.lower())
    if canonical is None:
        raise PartiQLSyntaxError(token.line, token.column, name, "not a type CAST knows")
    return canonical


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _extend(base: ast.Expr, step: ast.Step) -> ast.Path:
    if isinstance(base, ast.Path):
        return ast.Path(base.root, (*base.steps, step))
    return ast.Path(base, (step,))


def _derived_name(expr: ast.Expr, position: int) -> str:
    """The name PartiQL gives an unaliased projection: the last path step, else ``_n``."""
    if isinstance(expr, ast.Var):
        return expr.name
    if isinstance(expr, ast.Path) and isinstance(expr.steps[-1], ast.FieldStep):
        return expr.steps[-1].name
    return f"_{position}"


def _derived_alias(source: ast.Expr) -> str:
    if isinstance(source, ast.Var):
        return source.name
    if isinstance(source, ast.Path) and isinstance(source.steps[-1], ast.FieldStep):
        return source.steps[-1].name
    if isinstance(source, ast.Call) and source.args and isinstance(source.args[0], ast.Var):
        return source.args[0].name
    return "_1"


def _unique_aliases(items: list[ast.FromItem]) -> list[ast.FromItem]:
    seen: set[str] = set()
    for item in items:
        for name in (item.alias, item.at, item.by):
            if name is None:
                continue
            if name in seen:
                raise PartiQLSemanticError(f"variable {name!r} is bound twice in FROM")
            seen.add(name)
    return items


__all__ = ["CAST_TYPES", "Tree", "parse"]
