"""The typed PartiQL AST: frozen dataclasses, compared structurally.

Structural equality is used on purpose: GROUP BY matches a projected expression against a
grouping expression by ``==``. Nodes are built only by ``parser.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# -- expressions -------------------------------------------------------------------------


class Expr:
    """Base class of every expression node."""

    __slots__ = ()


@dataclass(frozen=True, eq=True)
class Literal(Expr):
    value: Any


@dataclass(frozen=True)
class Var(Expr):
    """A name. ``local`` is the ``@name`` form: a variable only, never a table."""

    name: str
    local: bool = False


@dataclass(frozen=True)
class Param(Expr):
    """A ``?`` parameter; ``index`` counts from 0 in the order they appear."""

    index: int


class Step:
    __slots__ = ()


@dataclass(frozen=True)
class FieldStep(Step):
    name: str


@dataclass(frozen=True)
class IndexStep(Step):
    """``[expr]``: a list position, or a struct field when the expression is a string."""

    index: Expr


@dataclass(frozen=True)
class WildcardStep(Step):
    """``[*]`` (every element) or ``.*`` (every field value, ``fields=True``)."""

    fields: bool = False


@dataclass(frozen=True)
class Path(Expr):
    root: Expr
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # "+", "-", "not"
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    """Arithmetic (+ - * / %), concatenation (||), comparison (= <> < <= > >=), and/or."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class IsTest(Expr):
    operand: Expr
    what: str  # "null" | "missing"
    negated: bool


@dataclass(frozen=True)
class InTest(Expr):
    operand: Expr
    collection: Expr
    negated: bool


@dataclass(frozen=True)
class Between(Expr):
    operand: Expr
    low: Expr
    high: Expr
    negated: bool


@dataclass(frozen=True)
class Like(Expr):
    operand: Expr
    pattern: Expr
    escape: Expr | None
    negated: bool


@dataclass(frozen=True)
class Call(Expr):
    """A scalar function call; ``name`` is lower case."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Aggregate(Expr):
    """COUNT/SUM/MIN/MAX/AVG; ``arg`` None is ``COUNT(*)``."""

    name: str
    arg: Expr | None
    distinct: bool


@dataclass(frozen=True)
class Cast(Expr):
    operand: Expr
    type_name: str  # canonical lower-case name, e.g. "int", "decimal", "string"
    type_args: tuple[int, ...] = ()


@dataclass(frozen=True)
class Case(Expr):
    operand: Expr | None
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None


@dataclass(frozen=True)
class ListCtor(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class BagCtor(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class StructCtor(Expr):
    fields: tuple[tuple[Expr, Expr], ...]


# -- queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FromItem:
    """One FROM source with its variables; ``join`` says how it joins the ones before it."""

    source: Expr
    alias: str
    at: str | None = None
    by: str | None = None
    join: str = "cross"  # "cross" | "inner" | "left"
    on: Expr | None = None


@dataclass(frozen=True)
class ProjectItem:
    expr: Expr
    alias: str


@dataclass(frozen=True)
class ProjectAll:
    """``expr.*`` in a SELECT list: every field of the struct."""

    expr: Expr


@dataclass(frozen=True)
class SelectStar:
    pass


@dataclass(frozen=True)
class SelectValue:
    expr: Expr


@dataclass(frozen=True)
class SelectList:
    items: tuple[ProjectItem | ProjectAll, ...]


Projection = SelectStar | SelectValue | SelectList


@dataclass(frozen=True)
class GroupKey:
    expr: Expr
    alias: str


@dataclass(frozen=True)
class OrderItem:
    expr: Expr
    descending: bool = False
    nulls_first: bool | None = None  # None: PartiQL's default (first asc, last desc)


@dataclass(frozen=True)
class Select(Expr):
    projection: Projection
    sources: tuple[FromItem, ...] = ()
    where: Expr | None = None
    group_by: tuple[GroupKey, ...] = ()
    having: Expr | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: Expr | None = None
    offset: Expr | None = None
    distinct: bool = False


# -- statements --------------------------------------------------------------------------


class Statement:
    __slots__ = ()


@dataclass(frozen=True)
class Query(Statement):
    """A SELECT or any other expression evaluated for its value."""

    expr: Expr


@dataclass(frozen=True)
class Exec(Statement):
    """``EXEC procedure arg, …``: a stored procedure (QLDB has one, ``redact_revision``)."""

    procedure: str
    arguments: tuple[Expr, ...]


@dataclass(frozen=True)
class CreateTable(Statement):
    name: str
    options: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True)
class DropTable(Statement):
    name: str


@dataclass(frozen=True)
class UndropTable(Statement):
    table_id: str


@dataclass(frozen=True)
class CreateIndex(Statement):
    table: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class DropIndex(Statement):
    index_id: str
    table: str
    options: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True)
class Insert(Statement):
    """``INSERT INTO t VALUE v`` (``single``) or ``INSERT INTO t <<…>>`` / ``?``."""

    table: str
    value: Expr
    single: bool


@dataclass(frozen=True)
class SetOp:
    target: Expr
    value: Expr


@dataclass(frozen=True)
class RemoveOp:
    target: Expr


@dataclass(frozen=True)
class InsertOp:
    """``INSERT INTO path VALUE v [AT key]`` inside UPDATE/FROM: adds to a nested value."""

    target: Expr
    value: Expr
    key: Expr | None


DmlOp = SetOp | RemoveOp | InsertOp


@dataclass(frozen=True)
class Update(Statement):
    """UPDATE … SET/REMOVE and FROM … SET/REMOVE/INSERT: modifies matching documents."""

    sources: tuple[FromItem, ...]
    where: Expr | None
    operations: tuple[DmlOp, ...]


@dataclass(frozen=True)
class Delete(Statement):
    sources: tuple[FromItem, ...]
    where: Expr | None
