"""Ion Hash (SHA-256) of Ion values, as the Amazon Ion Hash specification 1.0 defines it.

QLDB hashes every document revision this way, so ledgerdb must reproduce it byte for byte.
The reference implementation (`ionhash` 1.2.1) only runs on the slow pure-Python Ion codec
(`amazon.ion` <= 0.9.3); this module works on the values `amazon.ion` 0.15 loads and on
plain Python values, and is checked against vectors produced by `ionhash` itself
(`tests/unit/ledgerdb/data/`). The exact byte rules are written down in `docs/ionhash.md`.

Public API: `ion_hash(value) -> bytes` (32-byte digest), `hash_input(value) -> bytes`
(the serialized bytes s(value) that get hashed), `plain_ion_hash(value) -> bytes | None`
(the hash of a value that keeps it through its stored Ion binary, else None) and
`IonHashError`.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
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
    IonPyStdDict,
    IonPySymbol,
    IonPyText,
    IonPyTimestamp,
)
from amazon.ion.symbols import SymbolToken

from ledgerdb.errors import LedgerError

__all__ = [
    "IonHashError",
    "NotPlain",
    "hash_input",
    "ion_hash",
    "is_plain_timestamp",
    "plain_ion_hash",
    "plain_timestamp_repr",
    "timestamp_repr",
]


class IonHashError(LedgerError, ValueError):
    """A value cannot be Ion-hashed; the message names where in the value it sits."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"cannot Ion-hash value at {path}: {reason}")
        self.path = path
        self.reason = reason


class _Unhashable(LedgerError):
    """Raised deep inside serialization; containers add their step to `path` on the way out."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.steps: list[str] = []


def ion_hash(value: Any) -> bytes:
    """SHA-256 Ion Hash of `value` (an amazon.ion simpleion value or a plain Python value)."""
    return _sha256(hash_input(value)).digest()


def hash_input(value: Any) -> bytes:
    """The bytes s(value) whose SHA-256 is the Ion Hash: useful to explain or debug a hash."""
    try:
        return _serialize(value)
    except _Unhashable as exc:
        raise IonHashError("$" + "".join(reversed(exc.steps)), exc.reason) from None
    except RecursionError:
        raise IonHashError("$", "nested deeper than Python's recursion limit") from None


_sha256 = hashlib.sha256

# Markers of the specification: Begin, End, and the escape that precedes either (or itself)
# inside a representation.
_B = b"\x0b"
_E = b"\x0e"
_ESC = b"\x0c"

# Type qualifier (TQ) byte prefixes: high nibble = Ion binary type code.
_TQ_NULL = 0x0F
_BEGIN_POS_INT = b"\x0b\x20"
_BEGIN_NEG_INT = b"\x0b\x30"
_BEGIN_FLOAT = b"\x0b\x40"
_BEGIN_DECIMAL = b"\x0b\x50"
_BEGIN_TIMESTAMP = b"\x0b\x60"
_BEGIN_SYMBOL = b"\x0b\x70"
_BEGIN_STRING = b"\x0b\x80"
_BEGIN_CLOB = b"\x0b\x90"
_BEGIN_BLOB = b"\x0b\xa0"
_BEGIN_LIST = b"\x0b\xb0"
_BEGIN_SEXP = b"\x0b\xc0"
_BEGIN_STRUCT = b"\x0b\xd0"
_BEGIN_ANNOTATED = b"\x0b\xe0"

_S_FALSE = b"\x0b\x10\x0e"
_S_TRUE = b"\x0b\x11\x0e"
_S_ZERO_INT = b"\x0b\x20\x0e"
_S_ZERO_FLOAT = b"\x0b\x40\x0e"
_S_ZERO_DECIMAL = b"\x0b\x50\x0e"
_S_EMPTY_STRUCT = b"\x0b\xd0\x0e"
_S_SYMBOL_ZERO = b"\x0b\x71\x0e"
_S_NAN = b"\x0b\x40\x7f\xf8\x00\x00\x00\x00\x00\x00\x0e"

# Ion binary type code of each Ion type, used for the TQ byte of typed nulls.
_TYPE_CODE = {
    IonType.NULL: 0x0,
    IonType.BOOL: 0x1,
    IonType.INT: 0x2,
    IonType.FLOAT: 0x4,
    IonType.DECIMAL: 0x5,
    IonType.TIMESTAMP: 0x6,
    IonType.SYMBOL: 0x7,
    IonType.STRING: 0x8,
    IonType.CLOB: 0x9,
    IonType.BLOB: 0xA,
    IonType.LIST: 0xB,
    IonType.SEXP: 0xC,
    IonType.STRUCT: 0xD,
}
_S_NULL = {t: bytes((0x0B, (code << 4) | _TQ_NULL, 0x0E)) for t, code in _TYPE_CODE.items()}
_S_NULL_NULL = _S_NULL[IonType.NULL]

_STRING = IonType.STRING
_pack_double = struct.Struct(">d").pack


def _escape(data: bytes) -> bytes:
    """Precede every marker byte (0x0B, 0x0C, 0x0E) with the escape byte 0x0C."""
    # `int in bytes` is a memchr; `bytes in bytes` costs ten times more on short data.
    if 0x0B in data or 0x0C in data or 0x0E in data:
        return data.replace(_ESC, b"\x0c\x0c").replace(_B, b"\x0c\x0b").replace(_E, b"\x0c\x0e")
    return data


# --- Ion binary subfields, always in minimal form ------------------------------------------


def _uint(magnitude: int) -> bytes:
    """UInt: big-endian magnitude, no leading zero bytes (empty for zero)."""
    return magnitude.to_bytes((magnitude.bit_length() + 7) >> 3, "big")


def _int(value: int) -> bytes:
    """Int: sign-and-magnitude, the sign in the top bit of the first byte."""
    magnitude = -value if value < 0 else value
    data = magnitude.to_bytes((magnitude.bit_length() >> 3) + 1, "big")
    if value < 0:
        return bytes((data[0] | 0x80,)) + data[1:]
    return data


def _varuint_uncached(value: int) -> bytes:
    out = bytearray(((value & 0x7F) | 0x80,))
    value >>= 7
    while value:
        out.append(value & 0x7F)
        value >>= 7
    out.reverse()
    return bytes(out)


def _varint_uncached(value: int) -> bytes:
    magnitude = -value if value < 0 else value
    out = bytearray(((magnitude & 0x7F) | 0x80,))
    magnitude >>= 7
    while magnitude:
        out.append(magnitude & 0x7F)
        magnitude >>= 7
    if out[-1] & 0x40:  # the first byte has only six value bits next to the sign bit
        out.append(0)
    if value < 0:
        out[-1] |= 0x40
    out.reverse()
    return bytes(out)


_VARUINT_CACHE = [_varuint_uncached(i) for i in range(128)]
_VARINT_CACHE = {i: _varint_uncached(i) for i in range(-64, 64)}


def _varuint(value: int) -> bytes:
    if value < 128:
        return _VARUINT_CACHE[value]
    if value < 16384:  # two bytes: every year of a timestamp
        return bytes((value >> 7, (value & 0x7F) | 0x80))
    return _varuint_uncached(value)


def _varint(value: int) -> bytes:
    cached = _VARINT_CACHE.get(value)
    return cached if cached is not None else _varint_uncached(value)


# --- scalars: B || TQ || escape(representation) || E ---------------------------------------


def _s_bool(value: Any) -> bytes:
    return _S_TRUE if value else _S_FALSE


def _s_int_uncached(value: int) -> bytes:
    if value == 0:
        return _S_ZERO_INT
    if value > 0:
        return _BEGIN_POS_INT + _escape(_uint(value)) + _E
    return _BEGIN_NEG_INT + _escape(_uint(-value)) + _E


# Small ints (counts, years, prices in cents) are most of a document's ints.
_INT_CACHE = {i: _s_int_uncached(i) for i in range(-1024, 10000)}


def _s_int(value: int) -> bytes:
    cached = _INT_CACHE.get(value)
    return cached if cached is not None else _s_int_uncached(int(value))


def _s_float(value: float) -> bytes:
    if value == 0.0 and math.copysign(1.0, value) > 0:
        return _S_ZERO_FLOAT
    if value != value:
        return _S_NAN
    return _BEGIN_FLOAT + _escape(_pack_double(value)) + _E


def _decimal_parts(value: Decimal, what: str) -> tuple[bool, int, int]:
    """(negative, coefficient, exponent), read off str(value): 4x faster than as_tuple()."""
    if not value.is_finite():
        raise _Unhashable(f"{what} {value} is not finite")
    if value.is_zero():  # common in fractions (".000"); a zero's adjusted() is its exponent
        return value.is_signed(), 0, value.adjusted()
    text = str(value)  # "-12.340", "1.5E-10", "0E+3": exponent = E-part - fraction digits
    if "e" in text:  # a decimal context with capitals=0 is in force
        text = text.upper()
    negative = text[0] == "-"
    if negative:
        text = text[1:]
    mantissa, _, exponent = text.partition("E")
    whole, _, fraction = mantissa.partition(".")
    return negative, int(whole + fraction), (int(exponent) if exponent else 0) - len(fraction)


def _decimal_repr(negative: bool, coefficient: int, exponent: int) -> bytes:
    """VarInt exponent, then the Int coefficient (absent for +0, 0x80 for -0)."""
    if coefficient:
        return _varint(exponent) + _int(-coefficient if negative else coefficient)
    return _varint(exponent) + (b"\x80" if negative else b"")


def _s_decimal(value: Decimal) -> bytes:
    negative, coefficient, exponent = _decimal_parts(value, "decimal")
    if not (negative or coefficient or exponent):
        return _S_ZERO_DECIMAL
    return _BEGIN_DECIMAL + _escape(_decimal_repr(negative, coefficient, exponent)) + _E


# Timestamp precision levels (TimestampPrecision values: YEAR=0 ... SECOND=4); a datetime
# without a precision is a full one, to the second and beyond.
_MONTH, _DAY, _MINUTE, _SECOND = 1, 2, 3, 4
_UNKNOWN_OFFSET = b"\xc0"  # VarInt -0
_ZERO_OFFSET = b"\x80"  # VarInt 0


def _timestamp_repr(value: datetime) -> bytes:
    """Offset (minutes, -0 = unknown), then the UTC fields down to the value's precision."""
    level = getattr(value, "precision", None)  # an IntEnum: compares as its int, fast
    if level is None:
        level = _SECOND
    offset = None if value.tzinfo is None else value.utcoffset()
    if offset is None:
        head, utc = _UNKNOWN_OFFSET, value
    elif not offset:
        head, utc = _ZERO_OFFSET, value
    else:
        head, utc = _varint(int(offset.total_seconds() // 60)), _to_utc(value, offset)
    year = utc.year
    if level >= _SECOND and 128 <= year < 16384:  # the common case, in one step
        month, day, hour = utc.month | 0x80, utc.day | 0x80, utc.hour | 0x80
        minute, second = utc.minute | 0x80, utc.second | 0x80
        fields = bytes((year >> 7, year & 0x7F | 0x80, month, day, hour, minute, second))
        return head + fields + _fraction_repr(value)
    head += _varuint(year)
    if level < _MONTH:
        return head
    if level < _DAY:
        return head + _VARUINT_CACHE[utc.month]
    head += bytes((utc.month | 0x80, utc.day | 0x80))
    if level < _MINUTE:
        return head
    head += bytes((utc.hour | 0x80, utc.minute | 0x80))
    if level < _SECOND:
        return head
    return head + _VARUINT_CACHE[utc.second] + _fraction_repr(value)


def _to_utc(value: datetime, offset: timedelta) -> datetime:
    naive = datetime(value.year, value.month, value.day, value.hour, value.minute, value.second)
    try:
        return naive - offset
    except OverflowError:
        raise _Unhashable(f"timestamp {value} is outside years 1..9999 in UTC") from None


_MICROSECONDS_EXPONENT = _varint_uncached(-6)


def _fraction_repr(value: datetime) -> bytes:
    """Fractional seconds: an Ion Timestamp's exact decimal; a plain datetime's microseconds."""
    if isinstance(value, Timestamp):
        fraction = value.fractional_seconds
        if fraction is None:
            return b""
        negative, coefficient, exponent = _decimal_parts(fraction, "timestamp fraction")
        if not coefficient and exponent >= 0:
            return b""
        return _decimal_repr(negative, coefficient, exponent)
    micro = value.microsecond
    return _MICROSECONDS_EXPONENT + (_int(micro) if micro else b"")


def _s_timestamp(value: datetime) -> bytes:
    return _BEGIN_TIMESTAMP + _escape(_timestamp_repr(value)) + _E


def _s_text(prefix: bytes, text: str) -> bytes:
    """String or symbol: its UTF-8 bytes (the markers test is inlined: strings dominate)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise _Unhashable(f"text {text!r} is not valid Unicode ({exc.reason})") from None
    if 0x0B in data or 0x0C in data or 0x0E in data:
        data = _escape(data)
    return prefix + data + _E


# partial() binds the type prefix without another Python frame per value.
_s_string = partial(_s_text, _BEGIN_STRING)


_SYMBOL_CACHE: dict[str, bytes] = {}
_SYMBOL_CACHE_LIMIT = 16384


def _s_symbol_text(text: str) -> bytes:
    cached = _SYMBOL_CACHE.get(text)
    if cached is None:
        cached = _s_text(_BEGIN_SYMBOL, text)
        if len(_SYMBOL_CACHE) < _SYMBOL_CACHE_LIMIT:
            _SYMBOL_CACHE[text] = cached
    return cached


def _s_symbol_name(token: Any) -> bytes:
    """A field name or annotation: text, a SymbolToken, or None/unknown text meaning $0."""
    if token.__class__ is str:
        return _s_symbol_text(token)
    if token is None:
        return _S_SYMBOL_ZERO
    if isinstance(token, SymbolToken):
        return _S_SYMBOL_ZERO if token.text is None else _s_symbol_text(token.text)
    if isinstance(token, str):
        return _s_symbol_text(str(token))
    raise _Unhashable(f"field name or annotation {token!r} is not text or a symbol")


def _s_symbol(value: Any) -> bytes:
    """A symbol value; unknown text is only allowed for symbol zero ($0)."""
    if isinstance(value, SymbolToken):
        if value.text is None:
            if value.sid == 0:
                return _S_SYMBOL_ZERO
            sid = "without a symbol ID" if value.sid is None else f"${value.sid}"
            raise _Unhashable(f"symbol {sid} has unknown text")
        return _s_symbol_text(value.text)
    if isinstance(value, str):
        return _s_symbol_text(str(value))
    raise _Unhashable(f"symbol {value!r} is not text or a SymbolToken")


def _s_lob(prefix: bytes, value: bytes) -> bytes:
    return prefix + _escape(bytes(value)) + _E


_s_clob = partial(_s_lob, _BEGIN_CLOB)
_s_blob = partial(_s_lob, _BEGIN_BLOB)


# --- containers ------------------------------------------------------------------------------


def _s_sequence(prefix: bytes, values: Iterable[Any]) -> bytes:
    """List or sexp: the children's serializations, not escaped again."""
    parts = [prefix]
    append = parts.append
    by_class = _BY_CLASS
    try:
        for child in values:
            append((by_class.get(child.__class__) or _resolve(child.__class__))(child))
    except _Unhashable as exc:
        exc.steps.append(f"[{len(parts) - 1}]")
        raise
    append(_E)
    return b"".join(parts)


_s_list = partial(_s_sequence, _BEGIN_LIST)
_s_sexp = partial(_s_sequence, _BEGIN_SEXP)


def _s_struct(digests: list[bytes]) -> bytes:
    """Struct: B || TQ || escape(concat(sort(field digests))) || E."""
    if not digests:
        return _S_EMPTY_STRUCT
    digests.sort()
    return _BEGIN_STRUCT + _escape(b"".join(digests)) + _E


def _field_digests(fields: Iterable[tuple[Any, Any]]) -> list[bytes]:
    """H(field) = SHA-256(s(name) || s(value)) for each (name, value)."""
    digests: list[bytes] = []
    append = digests.append
    by_class = _BY_CLASS
    names = _SYMBOL_CACHE
    name = None
    try:
        for name, child in fields:
            name_bytes = names.get(name) or _s_symbol_name(name)
            handler = by_class.get(child.__class__) or _resolve(child.__class__)
            append(_sha256(name_bytes + handler(child)).digest())
    except _Unhashable as exc:
        exc.steps.append(_field_step(name))
        raise
    return digests


def _field_step(name: Any) -> str:
    return f".{name}" if isinstance(name, str) else f".{name!r}"


def _s_mapping(value: Mapping[Any, Any]) -> bytes:
    if isinstance(value, IonPyDict):  # only reached without its annotations
        return _s_struct(_field_digests(value.iteritems()))
    return _s_struct(_field_digests(value.items()))


def _ion_struct(value: IonPyDict) -> bytes:
    """IonPyDict, read from its name -> [values] store: 3x faster than iteritems(), and
    each name is serialized once. Then its annotations, if any."""
    store = getattr(value, "_IonPyDict__store", None)
    if store is None:
        return _ion_typed(value)
    digests: list[bytes] = []
    append = digests.append
    by_class = _BY_CLASS
    names = _SYMBOL_CACHE
    name = None
    try:
        for name, children in store.items():
            name_bytes = names.get(name) or _s_symbol_name(name)
            for child in children:
                handler = by_class.get(child.__class__) or _resolve(child.__class__)
                append(_sha256(name_bytes + handler(child)).digest())
    except _Unhashable as exc:
        exc.steps.append(_field_step(name))
        raise
    body = _s_struct(digests)
    annotations = value.ion_annotations
    return _annotated(annotations, body) if annotations else body


# --- dispatch --------------------------------------------------------------------------------

_BY_ION_TYPE: dict[IonType, Callable[[Any], bytes]] = {
    IonType.BOOL: _s_bool,
    IonType.INT: _s_int,
    IonType.FLOAT: _s_float,
    IonType.DECIMAL: _s_decimal,
    IonType.TIMESTAMP: _s_timestamp,
    IonType.SYMBOL: _s_symbol,
    IonType.STRING: _s_string,
    IonType.CLOB: _s_clob,
    IonType.BLOB: _s_blob,
    IonType.LIST: _s_list,
    IonType.SEXP: _s_sexp,
    IonType.STRUCT: _s_mapping,
}


def _annotated(annotations: Iterable[Any], body: bytes) -> bytes:
    """B || 0xE0 || s(annotation)... || s(value) || E."""
    return _BEGIN_ANNOTATED + b"".join(map(_s_symbol_name, annotations)) + body + _E


def _ion_typed(value: Any) -> bytes:
    """Any simpleion value: its ion_type picks the serializer, then annotations wrap it."""
    handler = _BY_ION_TYPE.get(value.ion_type)
    if handler is None:
        raise _Unhashable(f"unknown Ion type {value.ion_type!r}")
    body = handler(value)
    annotations = value.ion_annotations
    return _annotated(annotations, body) if annotations else body


def _ion_fast(expected: IonType) -> Callable[[Any], bytes]:
    """Handler for one IonPy class: the common case (its usual type, no annotations) goes
    straight to the serializer, anything else through _ion_typed."""
    serialize = _BY_ION_TYPE[expected]

    def handler(value: Any) -> bytes:
        if value.ion_annotations or value.ion_type is not expected:
            return _ion_typed(value)
        return serialize(value)

    return handler


def _ion_text(value: IonPyText) -> bytes:
    """IonPyText, the commonest value in a document: _ion_fast and _s_text folded into one
    frame, which saves 6% of a typical document's hashing time."""
    if value.ion_annotations or value.ion_type is not _STRING:
        return _ion_typed(value)
    try:
        data = value.encode("utf-8")
    except UnicodeEncodeError:
        return _s_string(value)  # raises, naming the text
    if 0x0B in data or 0x0C in data or 0x0E in data:
        data = _escape(data)
    return _BEGIN_STRING + data + _E


def _ion_null(value: IonPyNull) -> bytes:
    body = _S_NULL.get(value.ion_type)
    if body is None:
        raise _Unhashable(f"unknown Ion type {value.ion_type!r}")
    annotations = value.ion_annotations
    return _annotated(annotations, body) if annotations else body


def _s_none(_: None) -> bytes:
    return _S_NULL_NULL


_BY_CLASS: dict[type, Callable[[Any], bytes]] = {
    # simpleion values: ion_type tells which Ion type the Python type stands for
    IonPyNull: _ion_null,
    IonPyBool: _ion_fast(IonType.BOOL),
    IonPyInt: _ion_fast(IonType.INT),
    IonPyFloat: _ion_fast(IonType.FLOAT),
    IonPyDecimal: _ion_fast(IonType.DECIMAL),
    IonPyTimestamp: _ion_fast(IonType.TIMESTAMP),
    IonPySymbol: _ion_fast(IonType.SYMBOL),
    IonPyText: _ion_text,
    IonPyBytes: _ion_fast(IonType.BLOB),
    IonPyList: _ion_fast(IonType.LIST),
    IonPyDict: _ion_struct,
    IonPyStdDict: _ion_fast(IonType.STRUCT),
    # plain Python values, typed the way simpleion dumps them
    type(None): _s_none,
    bool: _s_bool,
    int: _s_int,
    float: _s_float,
    Decimal: _s_decimal,
    datetime: _s_timestamp,
    Timestamp: _s_timestamp,
    str: _s_string,
    SymbolToken: _s_symbol,
    bytes: _s_blob,
    list: _s_list,
    tuple: _s_list,
    dict: _s_mapping,
}


def _resolve(cls: type) -> Callable[[Any], bytes]:
    """Handler for a class not in _BY_CLASS: that of its nearest known base class."""
    handler = next((_BY_CLASS[base] for base in cls.__mro__ if base in _BY_CLASS), None)
    if handler is None and issubclass(cls, Mapping):
        handler = _s_mapping
    if handler is None:
        raise _Unhashable(f"{cls.__name__} values have no Ion type")
    _BY_CLASS[cls] = handler
    return handler


def _serialize(value: Any) -> bytes:
    handler = _BY_CLASS.get(value.__class__)
    if handler is None:
        handler = _resolve(value.__class__)
    return handler(value)


# --- values that hash the same before and after their round trip through Ion binary ---------
#
# A commit hashes a revision from the value it stores, not from its stored bytes read back
# (that round trip was a third of a commit's CPU). That is only right for values whose Ion
# Hash the round trip keeps: plain scalars (str → string, int → int, bool, None → null,
# bytes → blob), lists, str-keyed dicts, UTC ``datetime``s and the timestamps
# ``block.ion_timestamp`` makes (UTC, 3 or 6 fraction digits, nothing finer). One walk
# both checks that and hashes; anything else (floats, decimals, symbols, annotations,
# other timestamps, IonPy values) answers None and the caller takes the round trip.

_UTC_TZ = UTC


class NotPlain(LedgerError):
    """Raised inside the walks of ``plain_ion_hash`` and ``plain_ion.plain_bytes``: the
    value is not of the kinds above (never leaves them: they answer None)."""


def plain_ion_hash(value: Any) -> bytes | None:
    """Ion Hash of ``value`` if its stored Ion binary read back hashes the same, else None."""
    handler = _PLAIN.get(value.__class__)
    if handler is None:
        return None
    try:
        return _sha256(handler(value)).digest()
    except (NotPlain, _Unhashable, RecursionError):
        return None


def _p_child(value: Any) -> bytes:
    handler = _PLAIN.get(value.__class__)
    if handler is None:
        raise NotPlain
    return handler(value)


def _p_dict(value: dict) -> bytes:
    digests: list[bytes] = []
    append = digests.append
    plain = _PLAIN
    names = _SYMBOL_CACHE
    for name, child in value.items():
        if name.__class__ is not str:
            raise NotPlain
        handler = plain.get(child.__class__)
        if handler is None:
            raise NotPlain
        append(_sha256((names.get(name) or _s_symbol_text(name)) + handler(child)).digest())
    return _s_struct(digests)


def _p_list(value: list) -> bytes:
    return b"".join([_BEGIN_LIST, *map(_p_child, value), _E])


def is_plain_timestamp(value: datetime) -> bool:
    """A UTC ``datetime``, or a Timestamp of the shape ``block.ion_timestamp`` makes (its
    fraction exactly the microseconds at 3 or 6 digits): what its stored bytes give back."""
    if value.tzinfo is not _UTC_TZ:
        return False
    if value.__class__ is datetime:
        return True
    digits = getattr(value, "fractional_precision", None)
    fraction = getattr(value, "fractional_seconds", None)
    return (
        getattr(value, "precision", None) == _SECOND
        and digits in (3, 6)
        and fraction == Decimal(value.microsecond).scaleb(-6)
        and fraction.as_tuple().exponent == -digits
    )


def timestamp_repr(value: datetime) -> bytes:
    """The Ion binary representation of a timestamp (offset, fields, fraction): what Ion
    Hash hashes, and what a timestamp's Ion binary holds after its type descriptor."""
    return _timestamp_repr(value)


def plain_timestamp_repr(value: datetime) -> bytes:
    """``timestamp_repr`` of a plain timestamp (else ``NotPlain``), remembered for the last
    few objects: a commit's ``txTime`` is one shared object, hashed and written per commit."""
    seen = _RECENT_TIMESTAMPS.get(id(value))
    if seen is not None and seen[0] is value:
        representation = seen[1]
    else:
        representation = timestamp_repr(value) if is_plain_timestamp(value) else None
        if len(_RECENT_TIMESTAMPS) >= 16:
            _RECENT_TIMESTAMPS.clear()
        _RECENT_TIMESTAMPS[id(value)] = (value, representation)  # holds it: ids stay unique
    if representation is None:
        raise NotPlain
    return representation


_RECENT_TIMESTAMPS: dict[int, tuple[datetime, bytes | None]] = {}


def _p_timestamp(value: datetime) -> bytes:
    return _BEGIN_TIMESTAMP + _escape(plain_timestamp_repr(value)) + _E


_PLAIN: dict[type, Callable[[Any], bytes]] = {
    str: _s_string,
    int: _s_int,
    bool: _s_bool,
    type(None): _s_none,
    bytes: _s_blob,
    dict: _p_dict,
    list: _p_list,
    datetime: _p_timestamp,
    Timestamp: _p_timestamp,
}
