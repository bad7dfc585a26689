"""Loads ``tests/unit/ledgerdb/partiql/cases.ion`` and compares results strictly (Ion
types, bags as multisets).

Kept in ``tests/support`` so the database's tests can run the same table through
their own catalog (embedded and over gRPC).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import IonType

from ledgerdb.partiql import MemoryCatalog
from ledgerdb.partiql.values import Kind, SortKey, is_float, is_integer, kind, struct_items, text

CASES = Path(__file__).resolve().parents[1] / "unit" / "ledgerdb" / "partiql" / "cases.ion"


@dataclass(frozen=True)
class Case:
    name: str
    statement: str
    params: list[Any]
    then: str | None
    expected: Any
    ordered: bool
    error: str | None
    message: str | None
    plan: str | None


def load() -> tuple[Any, list[Case]]:
    """The fixture tables and the cases, in file order."""
    values = simpleion.loads(CASES.read_text(), single_value=False)
    fixtures, rows = values[0], values[1:]
    return fixtures, [_case(row) for row in rows]


def _case(row: Any) -> Case:
    def get(name: str, default: Any = None) -> Any:
        return row.get(name, default)

    return Case(
        name=str(row["name"]),
        statement=str(row["statement"]),
        params=list(get("params", [])),
        then=get("then"),
        expected=get("expected"),
        ordered=bool(get("ordered", False)),
        error=get("error"),
        message=get("message"),
        plan=get("plan"),
    )


def catalog_from(fixtures: Any) -> MemoryCatalog:
    catalog = MemoryCatalog()
    for name, table in fixtures.items():
        catalog.create(name, table["documents"], [text(i) for i in table["indexes"]])
    return catalog


def _category(value: Any) -> str:
    value_kind = kind(value)
    if value_kind is Kind.NUMBER:
        return "int" if is_integer(value) else "float" if is_float(value) else "decimal"
    if value_kind is Kind.TEXT:
        is_symbol = getattr(value, "ion_type", None) is IonType.SYMBOL or hasattr(value, "sid")
        return "symbol" if is_symbol else "string"
    return value_kind.name


def same(actual: Any, expected: Any) -> bool:
    """Strict equality: same Ion type category and value; ``$bag::`` lists match unordered."""
    annotations = getattr(expected, "ion_annotations", ())
    if "$bag" in [getattr(a, "text", a) for a in annotations]:
        return kind(actual) in (Kind.LIST, Kind.BAG) and same_bag(list(actual), list(expected))
    if _category(actual) != _category(expected):
        return False
    expected_kind = kind(expected)
    if expected_kind in (Kind.LIST, Kind.SEXP):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if expected_kind is Kind.STRUCT:
        left, right = dict(struct_items(actual)), dict(struct_items(expected))
        return left.keys() == right.keys() and all(same(left[k], right[k]) for k in left)
    return SortKey(actual) == SortKey(expected)


def same_bag(actual: list[Any], expected: list[Any]) -> bool:
    remaining = list(expected)
    for item in actual:
        match = next((i for i, e in enumerate(remaining) if same(item, e)), None)
        if match is None:
            return False
        remaining.pop(match)
    return not remaining


def dump(value: Any) -> str:
    return simpleion.dumps(value, binary=False, omit_version_marker=True)
