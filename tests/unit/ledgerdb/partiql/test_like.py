"""LIKE matches exactly what the equivalent regular expression matches, without backtracking."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerdb.partiql import MemoryCatalog, execute, operators
from ledgerdb.partiql.operators import like, like_pattern


def _reference(value: str, pattern: str, escape: str | None) -> bool:
    parts, chars = [], iter(pattern)
    for char in chars:
        if escape is not None and char == escape:
            parts.append(re.escape(next(chars)))
        elif char in "%_":
            parts.append(".*" if char == "%" else ".")
        else:
            parts.append(re.escape(char))
    return re.fullmatch("".join(parts), value, re.DOTALL) is not None


@settings(max_examples=500, deadline=None)
@given(st.text("ab%_!", max_size=8), st.text("ab%_!\n", max_size=10), st.sampled_from([None, "!"]))
def test_like_agrees_with_a_regular_expression(
    pattern: str, value: str, escape: str | None
) -> None:
    if escape is not None and pattern.endswith(escape):
        pattern += "a"
    assert like(value, like_pattern(pattern, escape)) == _reference(value, pattern, escape)


def test_like_work_is_bounded_by_value_times_segments(monkeypatch) -> None:
    calls = 0
    real = operators._segment_at

    def counting(value: str, segment: tuple[str | None, ...], start: int) -> bool:
        nonlocal calls
        calls += 1
        return real(value, segment, start)

    monkeypatch.setattr(operators, "_segment_at", counting)
    value = "a" * 3000
    result = execute(
        "SELECT VALUE x LIKE '%a%a%a%a%a%a%a%a%a%b' FROM <<?>> AS x", MemoryCatalog(), [value]
    )
    assert result.values == [False]
    assert calls <= 11 * (len(value) + 1)  # a backtracking matcher needs ~len(value) ** 9
