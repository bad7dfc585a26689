"""Every validation code has a meaning, in the code and in docs/validation-codes.md."""

from __future__ import annotations

import re
from pathlib import Path

from fabric_protos.peer import transaction_pb2

from network.validation_codes import MEANINGS, meaning

DOC = Path(__file__).resolve().parents[3] / "docs" / "validation-codes.md"


def test_every_code_has_a_meaning_and_a_documented_row() -> None:
    names = transaction_pb2.TxValidationCode.keys()
    documented = set(re.findall(r"^\| `([A-Z_]+)` \| \d+ \|", DOC.read_text(), re.M))
    assert set(names) == set(MEANINGS)
    assert set(names) <= documented


def test_meaning_by_number_or_name() -> None:
    assert meaning(11) == meaning("MVCC_READ_CONFLICT") == MEANINGS["MVCC_READ_CONFLICT"]
    assert meaning(999) == "see docs/validation-codes.md"
