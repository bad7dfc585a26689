"""Generate `ionhash_vectors.jsonl`: Ion values with the Ion Hash the reference computes.

Run once, by hand, in a throw-away environment that has the reference implementation,
never in the project venv (ionhash 1.2.1 only imports with amazon.ion <= 0.9.3):

    python3 -m venv /tmp/ionhash-env
    /tmp/ionhash-env/bin/pip install ionhash==1.2.1 'amazon.ion==0.9.3'
    /tmp/ionhash-env/bin/python tests/unit/ledgerdb/data/make_ionhash_vectors.py

Each line of the output is {"ion": base64 of Ion binary, "sha256": hex digest} plus, for
the hand-picked edge cases, "text" (the Ion text they were written as). The value is
written as Ion text here, parsed and re-encoded as Ion binary by amazon.ion 0.9.3, and the
expected hash is that of the value 0.9.3 decodes from exactly those binary bytes, so the
test (amazon.ion 0.15) and the reference hash the same bytes. Two reference paths must
agree for a vector to be written: `value.ion_hash("SHA256")` (what QLDB's Python driver
uses) and `ionhash.hasher.hash_reader` streaming over the binary. The generator is seeded,
so reruns produce the same file.
"""

from __future__ import annotations

import base64
import json
import random
import struct
import sys
from io import BytesIO
from pathlib import Path

import amazon.ion.simpleion as simpleion
import ionhash  # noqa: F401  (adds .ion_hash() to simpleion values)
from amazon.ion.core import IonEventType
from amazon.ion.reader import NEXT_EVENT, blocking_reader
from amazon.ion.reader_binary import binary_reader
from amazon.ion.reader_managed import managed_reader
from ionhash.hasher import HashEvent, hash_reader, hashlib_hash_function_provider

OUTPUT = Path(__file__).with_name("ionhash_vectors.jsonl")
SEED = 20261123
RANDOM_TREES = 3000
MARKERS = "\x0b\x0c\x0e"  # begin, escape, end: must be escaped inside representations

# --- hand-picked edge cases (Ion text) -------------------------------------------------------

NULL_TYPES = "null bool int float decimal timestamp symbol string clob blob list sexp struct"
NULLS = ["null", *(f"null.{t}" for t in NULL_TYPES.split())]
BOOLS = ["true", "false"]
INTS = [
    "0",
    "-0",
    "1",
    "-1",
    "11",  # 0x0B: escaped
    "12",
    "14",
    "-11",
    "-12",
    "-14",
    "0x0b0c0e",
    "-0x0e0b0c",
    *(
        str(sign * (2**k + d))
        for k in (7, 8, 15, 16, 31, 32, 63, 64, 127, 128, 1000)
        for d in (-1, 0, 1)
        for sign in (1, -1)
    ),
    str(10**100),
    str(-(10**100)),
]
FLOATS = [
    "0e0",
    "-0e0",
    "+inf",
    "-inf",
    "nan",
    "1e0",
    "-1e0",
    "1.0000000000000002e0",
    "2.2250738585072014e-308",  # smallest normal
    "5e-324",  # smallest subnormal
    "1.7976931348623157e308",
    "-1.7976931348623157e308",
    "0.1e0",
    "3.141592653589793e0",
]
DECIMALS = [
    "0.",
    "-0.",
    "0d0",
    "-0d0",
    "0d1",
    "0d-1",
    "-0d1",
    "-0d-1",
    "0.000",
    "-0.000",
    "1.",
    "-1.",
    "1.0",
    "1.00",
    "100.",
    "1d2",
    "-1d2",
    "11d11",  # 0x0B in coefficient and exponent
    "12d-12",
    "14d14",
    "123456789012345678901234567890.123456789",
    "-123456789012345678901234567890.123456789",
    "1d-63",
    "1d-64",
    "1d63",
    "1d64",
    "1d-1000",
    "1d1000",
    "127d0",
    "128d0",
    "-128d0",
    "255d0",
    "256d0",
]
TIMESTAMPS = [
    "2007T",
    "2007-02T",
    "2007-02-23",
    "2007-02-23T",
    "2007-02-23T12:14Z",
    "2007-02-23T12:14-00:00",
    "2007-02-23T12:14+00:00",
    "2007-02-23T12:14:33Z",
    "2007-02-23T12:14:33-00:00",
    "2007-02-23T12:14:33.0Z",
    "2007-02-23T12:14:33.00Z",
    "2007-02-23T12:14:33.000Z",
    "2007-02-23T12:14:33.079Z",
    "2007-02-23T12:14:33.079-08:00",
    "2007-02-23T12:14:33.000001Z",
    "2007-02-23T12:14:33.1234567Z",
    "2007-02-23T12:14:33.123456789012Z",
    "2007-02-23T00:00:00+23:59",
    "2007-02-23T00:00:00-23:59",
    "2007-02-23T20:14:33.079+08:00",
    "2000-01-01T00:00:00Z",
    "2000-01-01T00:00:00.000Z",
    "2000-12-31T23:59:59.999999999-00:00",
    "1500-11-11T11:11:11.11Z",  # year high byte 0x0B
    "1600-12-12T12:12:12.12Z",  # 0x0C
    "1800-01-14T14:14:14.14Z",  # 0x0E
    "0002-01-01T00:00Z",
    "9998-12-31T23:59:59.9999Z",
    "2020-02-29T12:00:00+05:45",
    "2000-01-01T00:30+01:00",  # UTC is the year before
    "1999-12-31T23:30-01:00",  # UTC is the year after
    "2000-03-01T00:00:00.5+00:01",  # UTC is a leap day
]
SYMBOLS = [
    "a",
    "'hello world'",
    "''",
    "$0",
    "'\\x0b'",
    "'\\x0c'",
    "'\\x0e'",
    "'a\\x0bb\\x0cc\\x0ed'",
    "'\\u00e9t\\u00e9'",
    "'\\U0001F600'",
    "'$ion'",
    "name",
    "'null'",
    "'true'",
]
STRINGS = [
    '""',
    '"a"',
    '"hello world"',
    '"\\x0b"',
    '"\\x0c"',
    '"\\x0e"',
    '"\\x0b\\x0b\\x0c\\x0c\\x0e\\x0e"',
    '"\\0"',
    '"\\u00e9t\\u00e9"',
    '"\\U0001F600"',
    '"a string longer than thirteen bytes"',
    '"' + "x" * 200 + '"',
    '"\\u4e2d\\u6587"',
]
LOBS = [
    "{{}}",
    "{{ AA== }}",
    "{{ Cw== }}",  # 0x0B
    "{{ DA== }}",  # 0x0C
    "{{ Dg== }}",  # 0x0E
    "{{ CwwODgwL }}",
    '{{ "" }}',
    '{{ "clob" }}',
    '{{ "\\x0b\\x0c\\x0e" }}',
    '{{ "\\xff\\x00" }}',
]
CONTAINERS = [
    "[]",
    "()",
    "[$ion_1_0, '$ion_1_0']",
    "{}",
    "[[]]",
    "[()]",
    "[{}]",
    "{a:{}}",
    "[1, 2, 3]",
    "(1 2 3)",
    "(+ - * / a)",
    "(a '\\x0b' b)",
    "{a: 1, b: 2}",
    "{b: 2, a: 1}",
    "{a: 1, a: 1}",
    "{a: 1, a: 2}",
    "{a: 2, a: 1}",
    "{$0: 1}",
    "{'': 1}",
    "{'\\x0b': 1, '\\x0c': 2, '\\x0e': 3}",
    "{a: null, b: null.struct, c: [null.list]}",
    "{a: {b: {c: {d: [1, (2 {e: 3})]}}}}",
    "[a::1, b::c::2, $0::3, '\\x0e'::4]",
    "a::[1, 2]",
    "a::b::{x: y::1}",
    "{x: a::{}}",
    "a::(b::c d::e)",
    "$0::null",
    "a::null.int",
    "'\\x0b'::'\\x0c'::\"\\x0e\"",
    '{name: "Alice", age: 30, balance: 12.50, tags: ["a", "b"], active: true}',
]

# Ion binary written by hand (after the version marker): encodings the 0.9.3 writer never
# produces but a reader must accept; each hashes as the minimal form of the same value.
IVM = bytes.fromhex("e00100ea")
RAW_BINARY = {
    "443fc00000": "float32 1.5",
    "4480000000": "float32 -0e0",
    "447fc00000": "float32 nan",
    "220005": "int 5 with a padded magnitude",
    "320006": "int -6 with a padded magnitude",
    "53008105": "decimal 5d1 with a padded exponent",
    "52c180": "decimal -0.0 (negative-zero coefficient)",
    "68800fd08181808080": "2000-01-01T00:00:00Z",
    "69800fd0818180808080": "the same with 0d0 fractional seconds, implicit coefficient",
    "6a800fd081818080808000": "the same with 0d0 fractional seconds, explicit zero",
    "69800fd08181808080c0": "the same with 0d-0 fractional seconds",
    "69800fd0818180808081": "the same with 0d1 fractional seconds",
    "69800fd08181808080c1": "2000-01-01T00:00:00.0Z: distinct",
    "002107": "a NOP pad before int 7",
    "e481802101": "$0::1 (annotation with symbol ID 0)",
    "70": "symbol $0",
    "d3802101": "{$0: 1} (field name with symbol ID 0)",
}

# --- random trees ----------------------------------------------------------------------------


def _escape_char(ch: str, quote: str) -> str:
    code = ord(ch)
    if ch in (quote, "\\"):
        return "\\" + ch
    if 0x20 <= code < 0x7F:
        return ch
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _quoted(text: str, quote: str) -> str:
    return quote + "".join(_escape_char(ch, quote) for ch in text) + quote


class Trees:
    """Random Ion text values of every type, biased toward the encodings' corner cases."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def text(self) -> str:
        rng = self.rng
        alphabet = [
            "abcxyz ",
            MARKERS,
            "\x00\x01\x1f\x7f",
            "\u00e9\u00fc\u4e2d\u6587",
            "\U0001f600\U0001f680",
        ]
        size = rng.choice((0, 1, 2, 5, 13, 14, 15, 40))
        return "".join(rng.choice(rng.choice(alphabet)) for _ in range(size))

    def symbol(self) -> str:
        rng = self.rng
        pick = rng.random()
        if pick < 0.05:
            return "$0"
        if pick < 0.4:
            return rng.choice(("a", "b", "id", "name", "value", "x1", "_z", "'$ion'"))
        return _quoted(self.text(), "'")

    def annotations(self) -> str:
        rng = self.rng
        if rng.random() < 0.8:
            return ""
        return "".join(self.symbol() + "::" for _ in range(rng.randint(1, 3)))

    def integer(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.4:
            value = rng.randint(-300, 300)
        elif kind < 0.8:
            value = rng.getrandbits(rng.randint(1, 130)) * rng.choice((1, -1))
        else:
            value = rng.choice((1, -1)) * (2 ** rng.randint(0, 200) + rng.randint(-2, 2))
        return str(value)

    def floating(self) -> str:
        rng = self.rng
        kind = rng.random()
        if kind < 0.1:
            return rng.choice(("0e0", "-0e0", "+inf", "-inf", "nan"))
        if kind < 0.5:
            value = rng.uniform(-1e6, 1e6)
        else:
            bits = rng.getrandbits(64)
            value = struct.unpack(">d", struct.pack(">Q", bits))[0]
            if value != value or value in (float("inf"), float("-inf")):
                value = 1.5
        text = repr(value)
        return text if "e" in text else text + "e0"

    def decimal(self) -> str:
        rng = self.rng
        sign = rng.choice(("", "-"))
        kind = rng.random()
        if kind < 0.2:
            coefficient = 0
        elif kind < 0.7:
            coefficient = rng.randint(1, 10**6)
        else:
            coefficient = rng.getrandbits(rng.randint(1, 200))
        exponent = rng.choice((0, rng.randint(-20, 20), rng.randint(-200, 200)))
        return f"{sign}{coefficient}d{exponent}"

    def timestamp(self) -> str:
        rng = self.rng
        year = rng.choice((rng.randint(2, 9998), rng.randint(1400, 2100)))
        month, day = rng.randint(1, 12), rng.randint(1, 28)
        precision = rng.randint(0, 4)
        if precision == 0:
            return f"{year:04d}T"
        if precision == 1:
            return f"{year:04d}-{month:02d}T"
        if precision == 2:
            return f"{year:04d}-{month:02d}-{day:02d}" + rng.choice(("", "T"))
        text = f"{year:04d}-{month:02d}-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
        if precision == 4:
            text += f":{rng.randint(0, 59):02d}"
            digits = rng.choice((0, 0, 1, 2, 3, 6, 7, 9, 12))
            if digits:
                fraction = rng.choice((0, rng.randint(0, 10**digits - 1)))
                text += f".{fraction:0{digits}d}"
        offset = rng.random()
        if offset < 0.3:
            return text + "Z"
        if offset < 0.5:
            return text + "-00:00"
        minutes = rng.randint(-(23 * 60 + 59), 23 * 60 + 59)
        sign = "-" if minutes < 0 else "+"
        return text + f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"

    def lob(self) -> str:
        rng = self.rng
        data = bytes(
            rng.choice((0x0B, 0x0C, 0x0E, rng.randint(0, 255)))
            for _ in range(rng.choice((0, 1, 3, 13, 14, 40)))
        )
        if rng.random() < 0.5:
            return "{{" + base64.b64encode(data).decode() + "}}"
        return "{{" + '"' + "".join(f"\\x{b:02x}" for b in data) + '"' + "}}"

    def scalar(self) -> str:
        rng = self.rng
        kind = rng.randint(0, 10)
        if kind == 0:
            return rng.choice(NULLS + BOOLS)
        makers = (
            self.integer,
            self.floating,
            self.decimal,
            self.timestamp,
            self.symbol,
            lambda: _quoted(self.text(), '"'),
            self.lob,
            self.integer,
            self.decimal,
            lambda: _quoted(self.text(), '"'),
        )
        return makers[kind - 1]()

    def value(self, depth: int) -> str:
        rng = self.rng
        kind = rng.random()
        if depth <= 0 or kind < 0.5:
            body = self.scalar()
        elif kind < 0.65:
            body = "[" + ", ".join(self.value(depth - 1) for _ in range(rng.randint(0, 5))) + "]"
        elif kind < 0.75:
            body = "(" + " ".join(self.value(depth - 1) for _ in range(rng.randint(0, 5))) + ")"
        else:
            body = "{" + ", ".join(self.field(depth - 1) for _ in range(rng.randint(0, 6))) + "}"
        return self.annotations() + body

    def field(self, depth: int) -> str:
        name = self.symbol() if self.rng.random() < 0.9 else "dup"
        return f"{name}: {self.value(depth)}"


# --- reference hashing -----------------------------------------------------------------------


def reference_hash(binary: bytes) -> str:
    """Hash with both reference paths; refuse to write a vector they disagree on."""
    value = simpleion.loads(binary)
    by_value = value.ion_hash("SHA256")
    reader = hash_reader(
        blocking_reader(managed_reader(binary_reader(), None), BytesIO(binary)),
        hashlib_hash_function_provider("sha256"),
    )
    while reader.send(NEXT_EVENT).event_type is not IonEventType.STREAM_END:
        pass
    by_reader = reader.send(HashEvent.DIGEST)
    if by_value != by_reader:
        raise AssertionError(f"reference paths disagree on {value!r}")
    return by_value.hex()


def binary_vector(body: str, note: str) -> dict[str, str]:
    binary = IVM + bytes.fromhex(body)
    return {
        "ion": base64.b64encode(binary).decode(),
        "sha256": reference_hash(binary),
        "text": f"binary {body}: {note}",
    }


def vector(text: str, keep_text: bool) -> dict[str, str]:
    try:
        binary = simpleion.dumps(simpleion.loads(text), binary=True)
    except Exception as exc:
        raise ValueError(f"{text[:80]!r}: {exc}") from exc
    entry = {"ion": base64.b64encode(binary).decode(), "sha256": reference_hash(binary)}
    if keep_text:
        entry["text"] = text
    return entry


def main() -> int:
    rng = random.Random(SEED)
    trees = Trees(rng)
    edge_cases = NULLS + BOOLS + INTS + FLOATS + DECIMALS + TIMESTAMPS + SYMBOLS + STRINGS
    edge_cases += LOBS + CONTAINERS
    edge_cases += [f"a::{case}" for case in NULLS + SYMBOLS]
    edge_cases += [f"{{f: {case}}}" for case in TIMESTAMPS + DECIMALS]
    entries = [vector(text, keep_text=True) for text in edge_cases]
    entries += [binary_vector(body, note) for body, note in RAW_BINARY.items()]
    skipped = 0
    for _ in range(RANDOM_TREES):
        text = trees.value(depth=rng.randint(0, 4))
        try:
            entries.append(vector(text, keep_text=False))
        except (ValueError, OverflowError) as exc:  # e.g. a UTC shift past year 9999
            skipped += 1
            print(f"skipped {text[:80]!r}: {exc}", file=sys.stderr)
    with OUTPUT.open("w") as out:
        for entry in entries:
            out.write(json.dumps(entry, sort_keys=True) + "\n")
    print(f"wrote {len(entries)} vectors to {OUTPUT} ({skipped} skipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
