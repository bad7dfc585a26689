"""AST → PartiQL text, for error messages that quote the expression that failed."""

from __future__ import annotations

from decimal import Decimal

from amazon.ion import simpleion

from ledgerdb.partiql import ast
from ledgerdb.partiql.values import MISSING

_MAX = 80


def render(expr: ast.Expr) -> str:
    """Readable PartiQL for ``expr`` (shortened past 80 characters)."""
    text = _render(expr)
    return text if len(text) <= _MAX else text[: _MAX - 1] + "…"


def _render(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Var):
        return ("@" if expr.local else "") + expr.name
    if isinstance(expr, ast.Param):
        return "?"
    if isinstance(expr, ast.Literal):
        return _literal(expr.value)
    if isinstance(expr, ast.Path):
        return _render(expr.root) + "".join(_step(s) for s in expr.steps)
    if isinstance(expr, ast.Binary):
        return f"{_render(expr.left)} {expr.op.upper()} {_render(expr.right)}"
    if isinstance(expr, ast.Unary):
        operand = _render(expr.operand)
        return f"NOT {operand}" if expr.op == "not" else expr.op + operand
    if isinstance(expr, ast.Call):
        return f"{expr.name}({', '.join(_render(a) for a in expr.args)})"
    if isinstance(expr, ast.Aggregate):
        return f"{expr.name.upper()}({'*' if expr.arg is None else _render(expr.arg)})"
    if isinstance(expr, ast.Select):
        return "(SELECT …)"
    return type(expr).__name__


def _step(step: ast.Step) -> str:
    if isinstance(step, ast.FieldStep):
        return f".{step.name}"
    if isinstance(step, ast.IndexStep):
        return f"[{_render(step.index)}]"
    return ".*" if step.fields else "[*]"  # type: ignore[attr-defined]


def _literal(value: object) -> str:
    if value is MISSING:
        return "MISSING"
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | Decimal) and getattr(value, "ion_type", None) is None:
        return str(value)
    return "`" + simpleion.dumps(value, binary=False, omit_version_marker=True) + "`"
