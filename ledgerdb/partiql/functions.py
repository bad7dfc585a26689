"""The scalar functions QLDB documents, plus CAST, with QLDB's NULL/MISSING rule.

QLDB documents that, unless a function says otherwise (``coalesce``, ``exists``,
``nullif``), a NULL *or MISSING* argument makes the result NULL: ``char_length(missing)``
is ``null``. (Operators, unlike functions, keep PartiQL's MISSING propagation.)
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext
from typing import Any

from amazon.ion import simpleion
from amazon.ion.core import IonType, Timestamp, TimestampPrecision
from amazon.ion.simple_types import IonPyList, IonPySymbol

from ledgerdb.ion_input import load_untrusted
from ledgerdb.partiql.errors import PartiQLEvaluationError, PartiQLTypeError
from ledgerdb.partiql.values import (
    MISSING,
    Bag,
    Kind,
    equal,
    is_float,
    is_unknown,
    kind,
    struct_items,
    text,
    type_name,
    utc,
)

Clock = Callable[[], dt.datetime]
Function = Callable[..., Any]

DATE_PARTS = ("year", "month", "day", "hour", "minute", "second")
EXTRACT_PARTS = (*DATE_PARTS, "timezone_hour", "timezone_minute")


def _require(name: str, value: Any, wanted: Kind, label: str) -> None:
    if kind(value) is not wanted:
        raise PartiQLTypeError(name, f"expected {label}, got {type_name(value)}")


_MAX_DIGITS = 4300  # Python's own limit for int <-> str conversions


def _integer(name: str, value: Any, label: str) -> int:
    """An integer-valued argument as a Python int, refusing absurd magnitudes."""
    _require(name, value, Kind.NUMBER, label)
    if is_float(value) and not math.isfinite(value):
        raise PartiQLTypeError(name, f"expected {label}, got {value!r}")
    number = Decimal(repr(value)) if is_float(value) else Decimal(value)
    if number.adjusted() > _MAX_DIGITS:
        raise PartiQLTypeError(name, f"{label} is too large")
    return int(number)


def _strict(function: Function) -> Function:
    """Wraps a function so that unknown arguments give an unknown result."""

    def wrapper(*args: Any) -> Any:
        if any(is_unknown(a) for a in args):
            return None
        return function(*args)

    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


@_strict
def upper(value: Any) -> str:
    _require("upper", value, Kind.TEXT, "a string")
    return text(value).upper()


@_strict
def lower(value: Any) -> str:
    _require("lower", value, Kind.TEXT, "a string")
    return text(value).lower()


@_strict
def char_length(value: Any) -> int:
    _require("char_length", value, Kind.TEXT, "a string")
    return len(text(value))


@_strict
def substring(value: Any, start: Any, length: Any = None) -> str:
    """SQL SUBSTRING: 1-based start; a start before 1 shortens the length accordingly."""
    _require("substring", value, Kind.TEXT, "a string")
    first = _integer("substring", start, "an integer start")
    chars = text(value)
    if length is None:
        return chars[max(first, 1) - 1 :]
    count = _integer("substring", length, "an integer length")
    if count < 0:
        raise PartiQLEvaluationError("substring: length must not be negative")
    end = first + count
    return chars[max(first, 1) - 1 : max(end - 1, 0)]


@_strict
def trim(spec: str, chars: Any, value: Any) -> str:
    _require("trim", value, Kind.TEXT, "a string")
    _require("trim", chars, Kind.TEXT, "a string of characters to remove")
    remove = text(chars)
    if spec == "leading":
        return text(value).lstrip(remove)
    if spec == "trailing":
        return text(value).rstrip(remove)
    return text(value).strip(remove)


def size(value: Any) -> Any:
    """Number of elements of a list/sexp/bag or fields of a struct (QLDB's SIZE)."""
    if is_unknown(value):
        return None
    value_kind = kind(value)
    if value_kind in (Kind.LIST, Kind.SEXP, Kind.BAG):
        return len(value)
    if value_kind is Kind.STRUCT:
        return sum(1 for _ in struct_items(value))
    raise PartiQLTypeError("size", f"expected a container, got {type_name(value)}")


def exists(value: Any) -> bool:
    """Whether a collection has an element (a struct, a field)."""
    if is_unknown(value):
        return False
    value_kind = kind(value)
    if value_kind in (Kind.LIST, Kind.SEXP, Kind.BAG):
        return len(value) > 0
    if value_kind is Kind.STRUCT:
        return any(True for _ in struct_items(value))
    raise PartiQLTypeError("exists", f"expected a collection, got {type_name(value)}")


def coalesce(*values: Any) -> Any:
    for value in values:
        if not is_unknown(value):
            return value
    return None


def nullif(first: Any, second: Any) -> Any:
    if not is_unknown(first) and not is_unknown(second) and equal(first, second):
        return None
    return first


def _abs(value: Any) -> Any:
    if is_unknown(value):
        return None
    _require("abs", value, Kind.NUMBER, "a number")
    return abs(value)


# -- timestamps ----------------------------------------------------------------------------

_PRECISION_OF_PART = {
    "year": TimestampPrecision.YEAR,
    "month": TimestampPrecision.MONTH,
    "day": TimestampPrecision.DAY,
    "hour": TimestampPrecision.MINUTE,
    "minute": TimestampPrecision.MINUTE,
    "second": TimestampPrecision.SECOND,
}


def _timestamp(moment: dt.datetime, precision: TimestampPrecision, fraction: int | None) -> Any:
    return Timestamp(
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
        moment.microsecond,
        moment.tzinfo,
        precision=precision,
        fractional_precision=fraction,
    )


def _precision(value: Any) -> TimestampPrecision:
    return getattr(value, "precision", None) or TimestampPrecision.SECOND


def _fraction(value: Any) -> int | None:
    return getattr(value, "fractional_precision", None)


def _check_part(function: str, part: str, allowed: tuple[str, ...]) -> None:
    if part not in allowed:
        raise PartiQLEvaluationError(f"{function}: unknown date part {part!r}")


def date_add(part: str, quantity: Any, value: Any) -> Any:
    _check_part("date_add", part, DATE_PARTS)
    if is_unknown(quantity) or is_unknown(value):
        return None
    amount = _integer("date_add", quantity, "an integer quantity")
    _require("date_add", value, Kind.TIMESTAMP, "a timestamp")
    try:
        moment = _shift(value, part, amount)
    except (ValueError, OverflowError):
        raise PartiQLEvaluationError(
            f"date_add: adding {quantity} {part}(s) to {value} leaves the timestamp range"
        ) from None
    precision = max(_precision(value), _PRECISION_OF_PART[part])
    return _timestamp(moment, precision, _fraction(value))


def _shift(value: dt.datetime, part: str, amount: int) -> dt.datetime:
    if part in ("year", "month"):
        months = value.month - 1 + amount * (12 if part == "year" else 1)
        year, month = value.year + months // 12, months % 12 + 1
        if not dt.MINYEAR <= year <= dt.MAXYEAR:
            raise ValueError(year)
        day = min(value.day, calendar.monthrange(year, month)[1])
        return value.replace(year=year, month=month, day=day)
    return value + dt.timedelta(**{part + "s": amount})


def date_diff(part: str, first: Any, second: Any) -> Any:
    """Whole ``part`` units from ``first`` to ``second`` (truncated toward zero)."""
    _check_part("date_diff", part, DATE_PARTS)
    if is_unknown(first) or is_unknown(second):
        return None
    _require("date_diff", first, Kind.TIMESTAMP, "a timestamp")
    _require("date_diff", second, Kind.TIMESTAMP, "a timestamp")
    start, end = utc(first), utc(second)
    if part in ("year", "month"):
        months = (end.year - start.year) * 12 + end.month - start.month
        if months > 0 and (end.day, end.time()) < (start.day, start.time()):
            months -= 1
        elif months < 0 and (end.day, end.time()) > (start.day, start.time()):
            months += 1
        return int(months / 12) if part == "year" else months
    seconds = (end - start).total_seconds()
    unit = {"day": 86400, "hour": 3600, "minute": 60, "second": 1}[part]
    return int(seconds / unit)


def extract(part: str, value: Any) -> Any:
    _check_part("extract", part, EXTRACT_PARTS)
    if is_unknown(value):
        return None
    _require("extract", value, Kind.TIMESTAMP, "a timestamp")
    if part.startswith("timezone"):
        offset = value.utcoffset() or dt.timedelta(0)
        minutes = int(offset.total_seconds() // 60)
        sign = -1 if minutes < 0 else 1
        hours, rest = divmod(abs(minutes), 60)
        return sign * (hours if part == "timezone_hour" else rest)
    if part == "second":
        if value.microsecond:
            return Decimal(value.second) + Decimal(value.microsecond) / Decimal(1_000_000)
        return value.second
    return getattr(value, part)


def utcnow_function(clock: Clock) -> Function:
    def utcnow() -> Any:
        now = clock().astimezone(dt.UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        return _timestamp(now, TimestampPrecision.SECOND, 3)

    return utcnow


_FORMAT_TOKEN = re.compile(r"'[^']*'|y+|M+|d+|H+|h+|m+|s+|S+|a|X+|x+|n|.", re.DOTALL)


@_strict
def to_string(value: Any, pattern: Any) -> str:
    """Formats a timestamp with a PartiQL (Java-style) pattern, e.g. ``'yyyy-MM-dd'``."""
    _require("to_string", value, Kind.TIMESTAMP, "a timestamp")
    _require("to_string", pattern, Kind.TEXT, "a format pattern")
    return "".join(_format_token(token, value) for token in _FORMAT_TOKEN.findall(text(pattern)))


def _format_token(token: str, value: dt.datetime) -> str:
    letter, width = token[0], len(token)
    if letter == "'":
        return token[1:-1] or "'"
    if letter == "y":
        return f"{value.year % 100:02d}" if width == 2 else f"{value.year:0{width}d}"
    if letter == "M":
        if width >= 4:
            return calendar.month_name[value.month]
        if width == 3:
            return calendar.month_abbr[value.month]
        return f"{value.month:0{width}d}"
    numbers = {"d": value.day, "H": value.hour, "h": (value.hour % 12) or 12}
    numbers |= {"m": value.minute, "s": value.second}
    if letter in numbers:
        return f"{numbers[letter]:0{width}d}"
    if letter == "S":
        return f"{value.microsecond:06d}"[:width].ljust(width, "0")
    if letter == "n":
        return str(value.microsecond * 1000)
    if letter == "a":
        return "AM" if value.hour < 12 else "PM"
    if letter in "Xx":
        return _format_offset(value, width, zulu=letter == "X")
    return token


def _format_offset(value: dt.datetime, width: int, zulu: bool) -> str:
    offset = value.utcoffset()
    if offset is None or (zulu and offset == dt.timedelta(0)):
        return "Z" if zulu or offset is None else "+00"
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    if width == 1:
        return f"{sign}{hours:02d}" + (f"{rest:02d}" if rest else "")
    return f"{sign}{hours:02d}{':' if width >= 3 else ''}{rest:02d}"


_PARSE_FIELDS = {
    "y": r"(?P<year>\d{1,4})",
    "M": r"(?P<month>\d{1,2})",
    "d": r"(?P<day>\d{1,2})",
    "H": r"(?P<hour>\d{1,2})",
    "h": r"(?P<hour12>\d{1,2})",
    "m": r"(?P<minute>\d{1,2})",
    "s": r"(?P<second>\d{1,2})",
    "S": r"(?P<fraction>\d+)",
    "a": r"(?P<ampm>AM|PM|am|pm)",
    "X": r"(?P<offset>Z|[+-]\d{2}(?::?\d{2})?)",
    "x": r"(?P<offset>[+-]\d{2}(?::?\d{2})?)",
}


@_strict
def to_timestamp(value: Any, pattern: Any = None) -> Any:
    """Parses a string as an Ion timestamp, or with a PartiQL pattern."""
    _require("to_timestamp", value, Kind.TEXT, "a string")
    if pattern is None:
        try:
            parsed = load_untrusted(text(value))
        except Exception:  # the Ion reader raises several types
            parsed = None
        if parsed is None or kind(parsed) is not Kind.TIMESTAMP:
            raise PartiQLEvaluationError(f"to_timestamp: not an Ion timestamp: {text(value)!r}")
        return parsed
    _require("to_timestamp", pattern, Kind.TEXT, "a format pattern")
    return _parse_with_pattern(text(value), text(pattern))


def _parse_with_pattern(value: str, pattern: str) -> Any:
    regex = ""
    for token in _FORMAT_TOKEN.findall(pattern):
        field = _PARSE_FIELDS.get(token[0])
        if token[0] == "'":
            regex += re.escape(token[1:-1] or "'")
        elif field is not None:
            regex += field if f"?P<{_group(field)}>" not in regex else re.escape(token)
        else:
            regex += re.escape(token)
    match = re.fullmatch(regex, value)
    if match is None:
        raise PartiQLEvaluationError(f"to_timestamp: {value!r} does not match pattern {pattern!r}")
    return _timestamp_from_fields(match.groupdict(), value)


def _group(field: str) -> str:
    return field.split("<", 1)[1].split(">", 1)[0]


def _timestamp_from_fields(fields: dict[str, str | None], value: str) -> Any:
    hour = int(fields.get("hour") or 0)
    if fields.get("hour12"):
        hour = int(fields["hour12"]) % 12 + (
            12 if (fields.get("ampm") or "").upper() == "PM" else 0
        )
    fraction = fields.get("fraction") or ""
    micros = int((fraction + "000000")[:6]) if fraction else 0
    precision = TimestampPrecision.YEAR
    for name, level in (
        ("month", TimestampPrecision.MONTH),
        ("day", TimestampPrecision.DAY),
        ("minute", TimestampPrecision.MINUTE),
        ("second", TimestampPrecision.SECOND),
    ):
        if fields.get(name):
            precision = level
    try:
        moment = dt.datetime(
            int(fields.get("year") or 1970),
            int(fields.get("month") or 1),
            int(fields.get("day") or 1),
            hour,
            int(fields.get("minute") or 0),
            int(fields.get("second") or 0),
            micros,
            _offset(fields.get("offset")),
        )
    except ValueError as error:
        raise PartiQLEvaluationError(f"to_timestamp: {value!r}: {error}") from None
    return _timestamp(moment, precision, len(fraction) if fraction else None)


def _offset(offset: str | None) -> dt.tzinfo | None:
    if offset is None:
        return None
    if offset == "Z":
        return dt.UTC
    digits = offset[1:].replace(":", "")
    minutes = int(digits[:2]) * 60 + (int(digits[2:4]) if len(digits) > 2 else 0)
    return dt.timezone(dt.timedelta(minutes=-minutes if offset[0] == "-" else minutes))


# -- CAST ----------------------------------------------------------------------------------


def cast(value: Any, type_name_: str, type_args: tuple[int, ...] = ()) -> Any:
    """CAST: NULL and MISSING become NULL (QLDB's rule), impossible casts are errors."""
    if type_name_ == "missing":
        return MISSING
    if type_name_ == "null" or is_unknown(value):
        return None
    caster = _CASTS.get(type_name_)
    if caster is None:
        raise PartiQLTypeError("cast", f"unknown type {type_name_}")
    try:
        return caster(value, type_args)
    except (ValueError, InvalidOperation, OverflowError):
        raise PartiQLTypeError(
            "cast", f"cannot cast {type_name(value)} {value!r} to {type_name_}"
        ) from None


def _cast_bool(value: Any, _: tuple[int, ...]) -> bool:
    value_kind = kind(value)
    if value_kind is Kind.BOOL:
        return bool(value)
    if value_kind is Kind.NUMBER:
        return value != 0
    if value_kind is Kind.TEXT and text(value).lower() in ("true", "false"):
        return text(value).lower() == "true"
    raise ValueError


def _cast_int(value: Any, _: tuple[int, ...]) -> int:
    value_kind = kind(value)
    if value_kind is Kind.BOOL:
        return int(bool(value))
    if value_kind is Kind.NUMBER:
        number = Decimal(repr(value)) if is_float(value) else Decimal(value)
    elif value_kind is Kind.TEXT:
        number = Decimal(text(value).strip())
    else:
        raise ValueError
    if not number.is_finite() or number.adjusted() > _MAX_DIGITS:
        raise ValueError(number)
    return int(number)


def _cast_float(value: Any, _: tuple[int, ...]) -> float:
    value_kind = kind(value)
    if value_kind in (Kind.BOOL, Kind.NUMBER):
        return float(value)
    if value_kind is Kind.TEXT:
        return float(text(value).strip())
    raise ValueError


def _cast_decimal(value: Any, type_args: tuple[int, ...]) -> Decimal:
    value_kind = kind(value)
    if value_kind is Kind.BOOL:
        number = Decimal(int(bool(value)))
    elif value_kind is Kind.NUMBER:
        number = Decimal(repr(value)) if is_float(value) else Decimal(value)
    elif value_kind is Kind.TEXT:
        number = Decimal(text(value).strip())
    else:
        raise ValueError
    if not number.is_finite() or (number and not -6143 <= number.adjusted() <= 6144):
        raise ValueError(number)
    if len(type_args) == 2:
        with localcontext(Context(prec=max(type_args[0], 1) + 2, rounding=ROUND_HALF_UP)):
            number = number.quantize(Decimal(1).scaleb(-type_args[1]))
    if type_args and len(number.as_tuple().digits) > type_args[0]:
        raise ValueError
    return number


def _cast_string(value: Any, _: tuple[int, ...]) -> str:
    value_kind = kind(value)
    if value_kind is Kind.TEXT:
        return text(value)
    if value_kind is Kind.BOOL:
        return "true" if value else "false"
    if value_kind in (Kind.NUMBER, Kind.TIMESTAMP):
        return simpleion.dumps(value, binary=False, omit_version_marker=True)
    raise ValueError


def _cast_symbol(value: Any, type_args: tuple[int, ...]) -> Any:
    return IonPySymbol.from_value(IonType.SYMBOL, _cast_string(value, type_args))


def _cast_timestamp(value: Any, _: tuple[int, ...]) -> Any:
    value_kind = kind(value)
    if value_kind is Kind.TIMESTAMP:
        return value
    if value_kind is Kind.TEXT:
        return to_timestamp(text(value))
    raise ValueError


def _cast_lob(ion_type: IonType) -> Function:
    def caster(value: Any, _: tuple[int, ...]) -> bytes:
        if kind(value) is Kind.LOB:
            return bytes(value)
        raise ValueError

    return caster


def _cast_collection(target: Kind) -> Function:
    def caster(value: Any, _: tuple[int, ...]) -> Any:
        value_kind = kind(value)
        if value_kind is Kind.STRUCT and target is Kind.STRUCT:
            return value
        if value_kind not in (Kind.LIST, Kind.SEXP, Kind.BAG) or target is Kind.STRUCT:
            raise ValueError
        items = list(value)
        if target is Kind.BAG:
            return Bag(items)
        if target is Kind.SEXP:
            return IonPyList.from_value(IonType.SEXP, items)
        return items

    return caster


_CASTS: dict[str, Function] = {
    "bool": _cast_bool,
    "int": _cast_int,
    "float": _cast_float,
    "decimal": _cast_decimal,
    "string": _cast_string,
    "symbol": _cast_symbol,
    "timestamp": _cast_timestamp,
    "clob": _cast_lob(IonType.CLOB),
    "blob": _cast_lob(IonType.BLOB),
    "list": _cast_collection(Kind.LIST),
    "sexp": _cast_collection(Kind.SEXP),
    "bag": _cast_collection(Kind.BAG),
    "struct": _cast_collection(Kind.STRUCT),
}


def txid_function(transaction_id: str | None) -> Function:
    def txid() -> str:
        if transaction_id is None:
            raise PartiQLEvaluationError("txid(): the statement runs outside a transaction")
        return transaction_id

    return txid


def scalar_functions(clock: Clock, transaction_id: str | None = None) -> dict[str, Function]:
    """Name (lower case) → implementation; ``utcnow`` reads ``clock``, ``txid`` returns
    the id of the transaction the database runs the statement in."""
    return {
        "txid": txid_function(transaction_id),
        "upper": upper,
        "lower": lower,
        "char_length": char_length,
        "character_length": char_length,
        "substring": substring,
        "trim": trim,
        "size": size,
        "cardinality": size,
        "exists": exists,
        "coalesce": coalesce,
        "nullif": nullif,
        "abs": _abs,
        "date_add": date_add,
        "date_diff": date_diff,
        "extract": extract,
        "utcnow": utcnow_function(clock),
        "to_string": to_string,
        "to_timestamp": to_timestamp,
    }
