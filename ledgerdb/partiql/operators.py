"""PartiQL's operators over Ion values: comparison, arithmetic, concatenation, LIKE, and
the aggregate functions. Unknown operands (NULL/MISSING) propagate; MISSING wins."""

from __future__ import annotations

import math
import re
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from functools import lru_cache
from typing import Any

from ledgerdb.partiql.errors import PartiQLEvaluationError, PartiQLTypeError
from ledgerdb.partiql.values import (
    MISSING,
    Kind,
    SortKey,
    compare,
    is_float,
    is_integer,
    is_unknown,
    kind,
    text,
    type_name,
    unknown_result,
)


def aggregate(name: str, values: list[Any]) -> Any:
    if name == "count":
        return len(values)
    if name in ("min", "max"):
        if not values:
            return None
        keys = [SortKey(v) for v in values]
        return (min(keys) if name == "min" else max(keys)).value
    for value in values:
        if kind(value) is not Kind.NUMBER:
            raise PartiQLTypeError(name.upper(), f"expected numbers, got {type_name(value)}")
    if not values:
        return None
    total = values[0]
    for value in values[1:]:
        total = arithmetic("+", total, value)
    if name == "sum":
        return total
    if any(is_float(v) for v in values):
        return float(total) / len(values)
    return _DIVIDE.divide(Decimal(total), Decimal(len(values)))


def require_bool(operation: str, value: Any) -> None:
    if kind(value) is not Kind.BOOL:
        raise PartiQLTypeError(operation, f"expected a boolean, got {type_name(value)}")


def ordered(op: str, left: Any, right: Any) -> Any:
    if is_unknown(left) or is_unknown(right):
        return unknown_result(left, right)
    result = compare(left, right)
    if result is None:
        return MISSING
    return {"<": result < 0, "<=": result <= 0, ">": result > 0, ">=": result >= 0}[op]


def concat(left: Any, right: Any) -> Any:
    if is_unknown(left) or is_unknown(right):
        return unknown_result(left, right)
    for value in (left, right):
        if kind(value) is not Kind.TEXT:
            raise PartiQLTypeError("||", f"expected strings, got {type_name(value)}")
    return text(left) + text(right)


def arithmetic(op: str, left: Any, right: Any) -> Any:
    if is_unknown(left) or is_unknown(right):
        return unknown_result(left, right)
    for value in (left, right):
        if kind(value) is not Kind.NUMBER:
            raise PartiQLTypeError(op, f"expected numbers, got {type_name(value)}")
    if is_float(left) or is_float(right):
        a, b = float(left), float(right)
    elif is_integer(left) and is_integer(right):
        a, b = int(left), int(right)
    else:
        a, b = Decimal(left), Decimal(right)
    if op in ("/", "%") and b == 0:
        raise PartiQLEvaluationError(f"division by zero ({left!r} {op} {right!r})")
    if isinstance(a, Decimal):
        return _decimal_arithmetic(op, a, b)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if isinstance(a, int) and isinstance(b, int):
            quotient = abs(a) // abs(b)
            return quotient if (a >= 0) == (b >= 0) else -quotient
        return a / b
    if isinstance(a, float):
        return math.fmod(a, b)
    if isinstance(a, int):
        remainder = abs(a) % abs(b)
        return remainder if a >= 0 else -remainder
    return a % b


# Ion decimals have arbitrary precision: + - * are exact; / keeps 38 significant digits.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)
_DIVIDE = Context(prec=38)


def _decimal_arithmetic(op: str, a: Decimal, b: Decimal) -> Decimal:
    if op == "+":
        return _EXACT.add(a, b)
    if op == "-":
        return _EXACT.subtract(a, b)
    if op == "*":
        return _EXACT.multiply(a, b)
    if op == "/":
        return _DIVIDE.divide(a, b)
    return _EXACT.remainder(a, b)


@lru_cache(maxsize=256)
def like_regex(pattern: str, escape: str | None) -> re.Pattern[str]:
    parts = []
    chars = iter(pattern)
    for char in chars:
        if escape is not None and char == escape:
            following = next(chars, None)
            if following is None:
                raise PartiQLEvaluationError("LIKE pattern ends with its escape character")
            parts.append(re.escape(following))
        elif char == "%":
            parts.append(".*")
        elif char == "_":
            parts.append(".")
        else:
            parts.append(re.escape(char))
    return re.compile("".join(parts), re.DOTALL)
