"""The Ion value model PartiQL evaluates over: types, NULL vs MISSING, equality and order.

Values are what ``amazon.ion.simpleion`` loads (the ``IonPy*`` types) or the plain Python
values it dumps (``None``, ``bool``, ``int``, ``float``, ``Decimal``, ``str``, ``bytes``,
``datetime``, ``list``, ``dict``). Two things Ion lacks are added here: ``MISSING`` (an
absent field, distinct from ``null``) and ``Bag`` (an unordered collection, PartiQL's
result type).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from enum import IntEnum
from typing import Any

from amazon.ion.core import IonType, Timestamp
from amazon.ion.simple_types import (
    IonPyBool,
    IonPyBytes,
    IonPyDecimal,
    IonPyDict,
    IonPyFloat,
    IonPyInt,
    IonPyList,
    IonPyNull,
    IonPySymbol,
    IonPyText,
    IonPyTimestamp,
)
from amazon.ion.symbols import SymbolToken

Value = Any


class _Missing:
    """The PartiQL MISSING value: what navigating to an absent field yields."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING = _Missing()


class Bag(list):
    """An unordered collection: equal to another bag with the same elements in any order."""

    def __repr__(self) -> str:
        return "<<" + ", ".join(repr(v) for v in self) + ">>"


class Kind(IntEnum):
    """A value's PartiQL type; the order is PartiQL's order across types (ORDER BY)."""

    MISSING = 0
    NULL = 1
    BOOL = 2
    NUMBER = 3
    TIMESTAMP = 4
    TEXT = 5
    LOB = 6
    LIST = 7
    SEXP = 8
    STRUCT = 9
    BAG = 10


_ION_KINDS = {
    IonType.NULL: Kind.NULL,
    IonType.BOOL: Kind.BOOL,
    IonType.INT: Kind.NUMBER,
    IonType.FLOAT: Kind.NUMBER,
    IonType.DECIMAL: Kind.NUMBER,
    IonType.TIMESTAMP: Kind.TIMESTAMP,
    IonType.SYMBOL: Kind.TEXT,
    IonType.STRING: Kind.TEXT,
    IonType.CLOB: Kind.LOB,
    IonType.BLOB: Kind.LOB,
    IonType.LIST: Kind.LIST,
    IonType.SEXP: Kind.SEXP,
    IonType.STRUCT: Kind.STRUCT,
}

TYPE_NAMES = {
    Kind.MISSING: "missing",
    Kind.NULL: "null",
    Kind.BOOL: "bool",
    Kind.NUMBER: "number",
    Kind.TIMESTAMP: "timestamp",
    Kind.TEXT: "string",
    Kind.LOB: "lob",
    Kind.LIST: "list",
    Kind.SEXP: "sexp",
    Kind.STRUCT: "struct",
    Kind.BAG: "bag",
}


def kind(value: Value) -> Kind:
    """The PartiQL type of ``value`` (IonPy values by their ``ion_type``).

    The hot path of every operator: an exact-type table answers almost every call.
    """
    found = _EXACT_KINDS.get(type(value))
    if found is not None:
        return found
    return _slow_kind(value)


def _slow_kind(value: Value) -> Kind:
    if value is MISSING:
        return Kind.MISSING
    if value is None or isinstance(value, IonPyNull):
        return Kind.NULL
    if isinstance(value, Bag):
        return Kind.BAG
    ion_type = getattr(value, "ion_type", None)
    if ion_type is not None:
        return _ION_KINDS[ion_type]
    return _python_kind(value)


def _python_kind(value: Value) -> Kind:
    if isinstance(value, bool):
        return Kind.BOOL
    if isinstance(value, int | float | Decimal):
        return Kind.NUMBER
    if isinstance(value, str | SymbolToken):
        return Kind.TEXT
    if isinstance(value, dt.datetime):
        return Kind.TIMESTAMP
    if isinstance(value, bytes | bytearray):
        return Kind.LOB
    if isinstance(value, list | tuple):
        return Kind.LIST
    if isinstance(value, Mapping):
        return Kind.STRUCT
    raise TypeError(f"not an Ion value: {type(value).__name__}")


_EXACT_KINDS: dict[type, Kind] = {
    _Missing: Kind.MISSING,
    type(None): Kind.NULL,
    IonPyNull: Kind.NULL,
    Bag: Kind.BAG,
    bool: Kind.BOOL,
    IonPyBool: Kind.BOOL,
    int: Kind.NUMBER,
    float: Kind.NUMBER,
    Decimal: Kind.NUMBER,
    IonPyInt: Kind.NUMBER,
    IonPyFloat: Kind.NUMBER,
    IonPyDecimal: Kind.NUMBER,
    str: Kind.TEXT,
    IonPyText: Kind.TEXT,
    IonPySymbol: Kind.TEXT,
    SymbolToken: Kind.TEXT,
    dt.datetime: Kind.TIMESTAMP,
    Timestamp: Kind.TIMESTAMP,
    IonPyTimestamp: Kind.TIMESTAMP,
    bytes: Kind.LOB,
    IonPyBytes: Kind.LOB,
    dict: Kind.STRUCT,
    IonPyDict: Kind.STRUCT,
    list: Kind.LIST,
    tuple: Kind.LIST,
}


def type_name(value: Value) -> str:
    """The value's Ion type name as error messages show it (``int``, ``decimal``, …)."""
    ion_type = getattr(value, "ion_type", None)
    if ion_type is not None and not isinstance(value, IonPyNull):
        return ion_type.name.lower()
    value_kind = kind(value)
    if value_kind is Kind.NUMBER:
        return "int" if is_integer(value) else "float" if is_float(value) else "decimal"
    if value_kind is Kind.TEXT:
        return "symbol" if isinstance(value, SymbolToken) else "string"
    if value_kind is Kind.LOB:
        return "blob"
    return TYPE_NAMES[value_kind]


def is_unknown(value: Value) -> bool:
    """NULL or MISSING: the values that make most operators yield NULL/MISSING."""
    return value is MISSING or value is None or isinstance(value, IonPyNull)


def unknown_result(*values: Value) -> Value:
    """What an operator yields when an operand is unknown: MISSING wins over NULL."""
    return MISSING if any(v is MISSING for v in values) else None


def is_true(value: Value) -> bool:
    """Whether a WHERE/ON/HAVING condition keeps the row: only boolean true does."""
    return kind(value) is Kind.BOOL and bool(value)


def text(value: Value) -> str:
    """The characters of a string or symbol."""
    return value.text if isinstance(value, SymbolToken) else str(value)


def is_integer(value: Value) -> bool:
    ion_type = getattr(value, "ion_type", None)
    if ion_type is not None:
        return ion_type is IonType.INT
    return isinstance(value, int) and not isinstance(value, bool)


def is_float(value: Value) -> bool:
    ion_type = getattr(value, "ion_type", None)
    if ion_type is not None:
        return ion_type is IonType.FLOAT
    return isinstance(value, float)


def struct_get(struct: Value, name: str) -> Value:
    """A struct's field, or MISSING. With duplicate field names the first one wins."""
    if isinstance(struct, IonPyDict):
        for key, item in struct.items():
            if key == name:
                return item
        return MISSING
    return struct.get(name, MISSING)


def struct_items(struct: Value) -> Iterator[tuple[str, Value]]:
    for key, item in struct.items():
        yield text(key), item


def elements(value: Value) -> list[Value]:
    """The elements of a list, sexp or bag."""
    return list(value)


def is_collection(value: Value) -> bool:
    return kind(value) in (Kind.LIST, Kind.SEXP, Kind.BAG)


def utc(moment: dt.datetime) -> dt.datetime:
    """A timestamp as an aware UTC instant (Ion's unknown offset, -00:00, counts as UTC).

    Always a plain ``datetime``: arithmetic on an Ion ``Timestamp`` keeps its subclass but
    not its precision attributes, which breaks its ``repr``.
    """
    plain_moment = dt.datetime(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        moment.tzinfo,
    )
    if plain_moment.tzinfo is None:
        return plain_moment.replace(tzinfo=dt.UTC)
    return plain_moment.astimezone(dt.UTC)


def compare(left: Value, right: Value) -> int | None:
    """-1/0/1 for two comparable known values (numbers, text, timestamps, bools, lobs).

    None when the types cannot be ordered against each other; ``<`` and friends then
    yield MISSING, as PartiQL's permissive mode does, so a query over documents of mixed
    shapes filters the odd ones out instead of failing.
    """
    left_kind, right_kind = kind(left), kind(right)
    if left_kind is not right_kind:
        return None
    if left_kind is Kind.NUMBER:
        return _compare_numbers(left, right)
    if left_kind is Kind.TEXT:
        a, b = text(left), text(right)
    elif left_kind is Kind.TIMESTAMP:
        a, b = utc(left), utc(right)
    elif left_kind in (Kind.BOOL, Kind.LOB):
        a, b = left, right
    else:
        return None
    return (a > b) - (a < b)


def _compare_numbers(left: Value, right: Value) -> int:
    """Exact comparison across int, decimal and float (Python compares them exactly)."""
    if isinstance(left, float) and math.isnan(left):
        return 0 if isinstance(right, float) and math.isnan(right) else -1
    if isinstance(right, float) and math.isnan(right):
        return 1
    return (left > right) - (left < right)


def equal(left: Value, right: Value) -> bool:
    """Deep equality of two values (NULL equals NULL): for DISTINCT, IN, grouping.

    Numbers compare by value across types, strings equal symbols with the same text,
    structs ignore field order, bags ignore element order.
    """
    left_kind, right_kind = kind(left), kind(right)
    if left_kind is not right_kind:
        return False
    if left_kind in (Kind.MISSING, Kind.NULL):
        return True
    if left_kind in (Kind.LIST, Kind.SEXP):
        return len(left) == len(right) and all(map(equal, left, right))
    if left_kind is Kind.BAG:
        return sorted_values(left) == sorted_values(right)
    if left_kind is Kind.STRUCT:
        return _sorted_fields(left) == _sorted_fields(right)
    return compare(left, right) == 0


def _sorted_fields(struct: Value) -> list[tuple[str, Any]]:
    return sorted(((k, SortKey(v)) for k, v in struct_items(struct)), key=lambda kv: kv)


def sorted_values(values: list[Value]) -> list[SortKey]:
    return sorted(SortKey(v) for v in values)


class SortKey:
    """Wraps a value so Python can sort it in PartiQL's total order across all types.

    Within a type, values order naturally; structs order by their sorted fields; bags by
    their sorted elements. Used by ORDER BY, MIN/MAX and the equality of bags and structs.
    """

    __slots__ = ("kind", "value")

    def __init__(self, value: Value) -> None:
        self.value = value
        self.kind = kind(value)

    def compare(self, other: SortKey) -> int:
        if self.kind is not other.kind:
            return -1 if self.kind < other.kind else 1
        a, b = self.value, other.value
        if self.kind in (Kind.MISSING, Kind.NULL):
            return 0
        if self.kind in (Kind.LIST, Kind.SEXP):
            return _cmp_sequences([SortKey(v) for v in a], [SortKey(v) for v in b])
        if self.kind is Kind.BAG:
            return _cmp_sequences(sorted_values(a), sorted_values(b))
        if self.kind is Kind.STRUCT:
            return _cmp_sequences(_sorted_fields(a), _sorted_fields(b))
        result = compare(a, b)
        return 0 if result is None else result

    def __lt__(self, other: SortKey) -> bool:
        return self.compare(other) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortKey) and self.compare(other) == 0

    def __hash__(self) -> int:
        return hash(index_key(self.value))


def _cmp_sequences(left: list[Any], right: list[Any]) -> int:
    for a, b in zip(left, right, strict=False):
        if a < b:
            return -1
        if b < a:
            return 1
    return (len(left) > len(right)) - (len(left) < len(right))


def index_key(value: Value) -> Any:
    """A hashable key such that equal values (by ``equal``) get equal keys.

    This is how an index stores values: ``1``, ``1.0`` and ``1.00`` share a key, as do the
    string and the symbol ``'a'``; timestamps key by their UTC instant.
    """
    value_kind = kind(value)
    if value_kind is Kind.NUMBER:
        return (value_kind, _number_key(value))
    if value_kind is Kind.TEXT:
        return (value_kind, text(value))
    if value_kind is Kind.TIMESTAMP:
        return (value_kind, utc(value))
    if value_kind in (Kind.BOOL, Kind.LOB):
        return (value_kind, bytes(value) if value_kind is Kind.LOB else bool(value))
    if value_kind in (Kind.LIST, Kind.SEXP):
        return (value_kind, tuple(index_key(v) for v in value))
    if value_kind is Kind.BAG:
        return (value_kind, tuple(sorted(map(repr, (index_key(v) for v in value)))))
    if value_kind is Kind.STRUCT:
        fields = sorted((k, repr(index_key(v))) for k, v in struct_items(value))
        return (value_kind, tuple(fields))
    return (value_kind,)


_KEY_CONTEXT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


def _number_key(value: Value) -> Any:
    """Equal numbers share a key: the normalized exact decimal (cheap even for 1e999999)."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return ("float", repr(value))
    return Decimal(value).normalize(_KEY_CONTEXT)


def plain(value: Value) -> Value:
    """A deep, mutable copy that ``simpleion.dumps`` can write (bags become lists).

    Scalars stay as they are (IonPy scalars keep their Ion type and annotations);
    containers are rebuilt so a document can be edited without touching the stored one,
    keeping their annotations (an annotated container is rebuilt as an IonPy container).
    """
    cls = value.__class__
    if cls is dict:  # the common document: plain Python containers, no annotations
        return {
            key if key.__class__ is str else text(key): plain(item)
            for key, item in value.items()
            if item is not MISSING
        }
    if cls is list:
        return [None if item is MISSING else plain(item) for item in value]
    if cls is str or cls is int:
        return value
    value_kind = kind(value)
    annotations = getattr(value, "ion_annotations", ())
    if value_kind is Kind.STRUCT:
        fields = {text(k): plain(v) for k, v in struct_items(value) if v is not MISSING}
        return IonPyDict.from_value(IonType.STRUCT, fields, annotations) if annotations else fields
    if value_kind in (Kind.LIST, Kind.BAG):
        items = [None if v is MISSING else plain(v) for v in value]
        return IonPyList.from_value(IonType.LIST, items, annotations) if annotations else items
    if value_kind is Kind.SEXP:
        return IonPyList.from_value(IonType.SEXP, [plain(v) for v in value], annotations)
    return value
