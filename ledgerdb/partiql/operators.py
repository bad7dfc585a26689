"""PartiQL's operators over Ion values: comparison, arithmetic, concatenation, LIKE, and
the aggregate functions. Unknown operands (NULL/MISSING) propagate; MISSING wins."""

from __future__ import annotations

import math
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)
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
    return DECIMAL.divide(Decimal(total), Decimal(len(values)))


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


# Decimal arithmetic is decimal128 (34 digits, exponents to ±6144): the range the Ion C
# extension round-trips. Past it amazon.ion 0.15 fails to read (or, far past it, corrupts
# memory), so a result that overflows is an error here rather than a bad document later.
DECIMAL = Context(
    prec=34,
    Emax=6144,
    Emin=-6143,
    rounding=ROUND_HALF_EVEN,
    traps=[Overflow, InvalidOperation, DivisionByZero],
)


def _decimal_arithmetic(op: str, a: Decimal, b: Decimal) -> Decimal:
    operation = {
        "+": DECIMAL.add,
        "-": DECIMAL.subtract,
        "*": DECIMAL.multiply,
        "/": DECIMAL.divide,
        "%": DECIMAL.remainder,
    }[op]
    try:
        return operation(a, b)
    except Overflow:
        raise PartiQLEvaluationError(
            f"decimal result out of range: {a} {op} {b} (decimal128: 34 digits, exponent ±6144)"
        ) from None


_ANY = None  # a ``_`` in a LIKE segment: any one character


@lru_cache(maxsize=256)
def like_pattern(pattern: str, escape: str | None) -> tuple[tuple[str | None, ...], ...]:
    """A LIKE pattern as its ``%``-separated segments; ``_`` becomes ``_ANY``."""
    segments: list[tuple[str | None, ...]] = []
    current: list[str | None] = []
    chars = iter(pattern)
    for char in chars:
        if escape is not None and char == escape:
            following = next(chars, None)
            if following is None:
                raise PartiQLEvaluationError("LIKE pattern ends with its escape character")
            current.append(following)
        elif char == "%":
            segments.append(tuple(current))
            current = []
        else:
            current.append(_ANY if char == "_" else char)
    segments.append(tuple(current))
    return tuple(segments)


def like(value: str, segments: tuple[tuple[str | None, ...], ...]) -> bool:
    """Whether ``value`` matches: O(len(value) × len(pattern)), never backtracking.

    The first segment must match at the start and the last at the end; each middle
    segment is matched at its leftmost place after the previous one, which is enough
    because ``%`` can absorb whatever lies between.
    """
    first, last = segments[0], segments[-1]
    if len(segments) == 1:
        return len(value) == len(first) and _segment_at(value, first, 0)
    if len(first) + len(last) > len(value) or not _segment_at(value, first, 0):
        return False
    end = len(value) - len(last)
    if not _segment_at(value, last, end):
        return False
    position = len(first)
    for segment in segments[1:-1]:
        found = _find_segment(value, segment, position, end)
        if found < 0:
            return False
        position = found + len(segment)
    return True


def _segment_at(value: str, segment: tuple[str | None, ...], start: int) -> bool:
    return all(want is _ANY or value[start + offset] == want for offset, want in enumerate(segment))


def _find_segment(value: str, segment: tuple[str | None, ...], start: int, end: int) -> int:
    for position in range(start, end - len(segment) + 1):
        if _segment_at(value, segment, position):
            return position
    return -1
