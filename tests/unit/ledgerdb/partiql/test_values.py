"""The value model: equality, index keys and the total order agree with each other."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from amazon.ion import simpleion
from hypothesis import given, settings
from hypothesis import strategies as st

from ledgerdb.partiql.values import MISSING, Bag, Kind, SortKey, equal, index_key, kind, plain

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=4),
    st.datetimes(min_value=dt.datetime(1900, 1, 1), timezones=st.sampled_from([dt.UTC, None])),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(max_size=2), inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(values, values)
def test_equal_values_share_an_index_key(a: Any, b: Any) -> None:
    if equal(a, b):
        assert index_key(a) == index_key(b)
    if index_key(a) != index_key(b):
        assert not equal(a, b)


@settings(max_examples=300, deadline=None)
@given(values, values, values)
def test_sort_order_is_a_total_order(a: Any, b: Any, c: Any) -> None:
    ka, kb, kc = SortKey(a), SortKey(b), SortKey(c)
    assert ka.compare(ka) == 0
    assert ka.compare(kb) == -kb.compare(ka)
    if ka.compare(kb) <= 0 and kb.compare(kc) <= 0:
        assert ka.compare(kc) <= 0


@settings(max_examples=200, deadline=None)
@given(values)
def test_values_survive_an_ion_round_trip_equal(value: Any) -> None:
    loaded = simpleion.loads(simpleion.dumps(plain(value)))
    assert equal(loaded, value)


def test_numbers_compare_across_ion_types() -> None:
    loaded = simpleion.loads("[1, 1.0, 1e0, 1.00]")
    assert all(equal(loaded[0], other) for other in loaded)
    assert len({index_key(v) for v in loaded}) == 1
    assert not equal(1, "1")


def test_text_equality_spans_strings_and_symbols() -> None:
    string, symbol = simpleion.loads('["a", a]')
    assert kind(symbol) is Kind.TEXT
    assert equal(string, symbol)


def test_bags_ignore_order_and_lists_do_not() -> None:
    assert equal(Bag([1, 2, 2]), Bag([2, 1, 2]))
    assert not equal(Bag([1, 2]), Bag([1, 2, 2]))
    assert not equal([1, 2], [2, 1])


def test_null_and_missing_order_first_and_differ() -> None:
    ordered = sorted([3, "a", None, MISSING, True, Decimal("0.5")], key=SortKey)
    assert ordered[:2] == [MISSING, None]
    assert ordered[2:] == [True, Decimal("0.5"), 3, "a"]
    assert not equal(None, MISSING)


def test_typed_nulls_are_null() -> None:
    assert kind(simpleion.loads("null.string")) is Kind.NULL
