"""Ion binary of plain values, written directly, byte for byte as ``simpleion`` writes them.

``simpleion.dumps`` spends most of its time in Python-side set-up, not in its C writer:
~9 µs for ``{"writer": 3, "n": 7}``, and a commit writes three values (the document for
its size, the revision, the transactionInfo). Plain values — str-keyed dicts, lists,
str, int, bool, None, bytes, UTC ``datetime``s and the timestamps ``block.ion_timestamp``
makes — are written here in one walk: the version marker, a local symbol table listing
the field names that are not system symbols (first seen first, ids from 10, as
simpleion interns them), then the value. Anything else (floats, decimals, symbols,
annotations, IonPy values, text that is not valid Unicode) answers None and the caller
goes to simpleion. Tests check both give equal bytes, so stored journals do not change.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from amazon.ion.core import Timestamp

from ledgerdb.ionhash import NotPlain, plain_timestamp_repr

__all__ = ["check_names", "plain_bytes"]

_IVM = b"\xe0\x01\x00\xea"
_SYSTEM_SYMBOLS = {
    text: sid
    for sid, text in enumerate(
        (
            "$ion",
            "$ion_1_0",
            "$ion_symbol_table",
            "name",
            "version",
            "imports",
            "symbols",
            "max_id",
            "$ion_shared_symbol_table",
        ),
        start=1,
    )
}
_FIRST_LOCAL_SID = 10


def plain_bytes(value: Any) -> bytes | None:
    """Ion binary of ``value`` (what ``simpleion.dumps(value, binary=True)`` gives), or
    None when ``value`` is not plain. Text that is not valid Unicode (a lone surrogate)
    raises ``UnicodeEncodeError``: simpleion hangs on such a field name (amazon.ion 0.15),
    so the caller must refuse the value, not hand it on."""
    symbols: dict[str, int] = {}
    try:
        body = _write(value, symbols)
    except (NotPlain, RecursionError):
        return None
    return _prelude(tuple(symbols)) + body


@functools.lru_cache(maxsize=1024)
def _prelude(symbols: tuple[str, ...]) -> bytes:
    """The version marker and local symbol table for these field names (the same few
    sets come again and again: a table's documents, revisions, transactionInfo)."""
    if not symbols:
        return _IVM
    names = b"".join([_typed(0x80, name.encode()) for name in symbols])
    table = _typed(0xD0, b"\x87" + _typed(0xB0, names))  # {symbols: [...]}
    return _IVM + _typed(0xE0, b"\x81\x83" + table)  # $ion_symbol_table::


def _varuint(value: int) -> bytes:
    if value < 0x80:
        return _SMALL_VARUINTS[value]
    out = bytearray((0x80 | (value & 0x7F),))
    value >>= 7
    while value:
        out.append(value & 0x7F)
        value >>= 7
    return bytes(reversed(out))


_SMALL_VARUINTS = [bytes((0x80 | n,)) for n in range(0x80)]


def _typed(type_code: int, body: bytes) -> bytes:
    """A type descriptor (with its length, inline below 14) followed by the body."""
    size = len(body)
    if size < 14:
        return bytes((type_code | size,)) + body
    return bytes((type_code | 14,)) + _varuint(size) + body


def _int(value: int) -> bytes:
    cached = _SMALL_INTS.get(value)
    if cached is not None:
        return cached
    return _int_uncached(value)


def _int_uncached(value: int) -> bytes:
    if value == 0:
        return b"\x20"
    magnitude = -value if value < 0 else value
    body = magnitude.to_bytes((magnitude.bit_length() + 7) >> 3, "big")
    return _typed(0x20 if value > 0 else 0x30, body)


def _write(value: Any, symbols: dict[str, int]) -> bytes:
    """One value; field names are interned into ``symbols`` in the order they are met."""
    kind = value.__class__
    if kind is str:
        data = value.encode()
        size = len(data)
        return _SHORT_STRINGS[size] + data if size < 14 else _typed(0x80, data)
    if kind is dict:
        parts = []
        append = parts.append
        system = _SYSTEM_SYMBOLS
        for name, child in value.items():
            if name.__class__ is not str:
                raise NotPlain
            sid = system.get(name) or symbols.get(name)
            if sid is None:
                sid = symbols[name] = _FIRST_LOCAL_SID + len(symbols)
            append(_SMALL_VARUINTS[sid] if sid < 0x80 else _varuint(sid))
            if child.__class__ is str:  # most fields: inline, no call
                data = child.encode()
                size = len(data)
                append(_SHORT_STRINGS[size] + data if size < 14 else _typed(0x80, data))
            else:
                append(_write(child, symbols))
        return _typed(0xD0, b"".join(parts))
    if kind is int:
        return _int(value)
    if kind is list:
        return _typed(0xB0, b"".join([_write(child, symbols) for child in value]))
    if kind is bool:
        return b"\x11" if value else b"\x10"
    if value is None:
        return b"\x0f"
    if kind is bytes:
        return _typed(0xA0, value)
    if kind in _TIMESTAMPS:
        return _typed(0x60, plain_timestamp_repr(value))
    raise NotPlain


_SHORT_STRINGS = [bytes((0x80 | size,)) for size in range(14)]
_SMALL_INTS = {value: _int_uncached(value) for value in range(-128, 4096)}  # counts, years
_TIMESTAMPS = frozenset({datetime, Timestamp})


def check_names(value: Any) -> None:
    """Raise ``UnicodeEncodeError`` if a field name anywhere in ``value`` is not valid
    Unicode: what must be refused before any value goes to simpleion, which hangs on one
    (strings that are not valid Unicode it refuses itself)."""
    if isinstance(value, Mapping):
        items = value.iteritems() if hasattr(value, "iteritems") else value.items()
        for name, child in items:
            text = getattr(name, "text", name)
            if isinstance(text, str):
                text.encode()
            check_names(child)
    elif isinstance(value, list | tuple):
        for child in value:
            check_names(child)
