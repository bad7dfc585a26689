"""An index lookup returns exactly the rows a scan with the same predicate returns."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from amazon.ion.core import IonType
from amazon.ion.simple_types import IonPySymbol
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerdb.partiql import MISSING, MemoryCatalog, execute

keys = st.one_of(
    st.integers(-3, 3),
    st.integers(-3, 3).map(lambda n: Decimal(n) / 2),
    st.integers(-3, 3).map(float),
    st.sampled_from(["a", "b", "1"]),
    st.sampled_from(["a", "b"]).map(lambda t: IonPySymbol.from_value(IonType.SYMBOL, t)),
    st.booleans(),
    st.none(),
    st.just(MISSING),
    st.lists(st.integers(0, 1), max_size=2),
)


def _document(number: int, key: Any) -> dict[str, Any]:
    document: dict[str, Any] = {"n": number}
    if key is not MISSING:
        document["k"] = key
    return document


@settings(max_examples=150, deadline=None)
@given(st.lists(keys, max_size=12), keys, st.lists(keys, max_size=3))
def test_lookup_equals_scan(stored: list[Any], probe: Any, probes: list[Any]) -> None:
    documents = [_document(n, key) for n, key in enumerate(stored)]
    indexed, plain = MemoryCatalog(), MemoryCatalog()
    indexed.create("T", documents, indexes=["k"])
    plain.create("T", documents)
    for statement, params in (
        ("SELECT VALUE t.n FROM T t WHERE t.k = ?", [probe]),
        ("SELECT VALUE t.n FROM T t WHERE t.k IN ?", [probes]),
    ):
        if probe is MISSING or MISSING in probes:
            continue
        with_index = execute(statement, indexed, params)
        without = execute(statement, plain, params)
        assert with_index.plan is not None and with_index.plan.uses_index
        assert sorted(with_index.values) == sorted(without.values)
