"""Ion that comes from outside the process is read with amazon.ion's pure-Python reader.

amazon.ion 0.15's C extension loops forever, holding the GIL, on some malformed binary Ion:
the fuzzer (tests/fuzz/test_fuzz_ledgerdb.py) found 40 bytes that, sent as one statement
parameter, froze the whole ``ledger serve`` process (every session, health included). The
Python reader refuses the same bytes in microseconds. It is slower on large values, so Ion
the journal wrote itself (revisions, blocks) keeps the C reader; every value a client,
a statement or a user's file supplies goes through ``load_untrusted``.
"""

from __future__ import annotations

import io
from typing import Any

from amazon.ion import simpleion


def load_untrusted(data: bytes | str, single_value: bool = True) -> Any:
    """``simpleion.loads`` without the C extension; raises what the Ion reader raises."""
    buffer = io.BytesIO(data) if isinstance(data, bytes) else io.StringIO(data)
    return simpleion.load_python(buffer, single_value=single_value)
