import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordering.blockcutter import BatchSize, BlockCutter


def _cutter(count: int = 10, preferred: int = 100, absolute: int = 1000) -> BlockCutter:
    return BlockCutter(BatchSize(count, absolute, preferred))


def test_max_message_count_cuts_exactly_at_the_count() -> None:
    cutter = _cutter(count=3)
    assert cutter.ordered(b"a") == ([], True)
    assert cutter.ordered(b"b") == ([], True)
    assert cutter.ordered(b"c") == ([[b"a", b"b", b"c"]], False)
    assert not cutter.pending


def test_message_that_would_overflow_preferred_bytes_starts_a_new_batch() -> None:
    cutter = _cutter(preferred=10)
    assert cutter.ordered(b"x" * 6) == ([], True)
    assert cutter.ordered(b"y" * 6) == ([[b"x" * 6]], True)
    assert cutter.cut() == [b"y" * 6]


def test_exactly_preferred_bytes_fits() -> None:
    cutter = _cutter(preferred=10)
    cutter.ordered(b"x" * 4)
    assert cutter.ordered(b"y" * 6) == ([], True)


def test_oversized_message_is_isolated_after_cutting_pending() -> None:
    cutter = _cutter(preferred=10)
    cutter.ordered(b"a")
    big = b"z" * 11
    assert cutter.ordered(big) == ([[b"a"], [big]], False)
    assert cutter.ordered(b"z" * 11) == ([[b"z" * 11]], False)


def test_cut_on_timeout_returns_pending_and_empty_when_nothing() -> None:
    cutter = _cutter()
    assert cutter.cut() == []
    cutter.ordered(b"a")
    assert cutter.cut() == [b"a"]
    assert cutter.cut() == []


@pytest.mark.parametrize(("count", "absolute", "preferred"), [(0, 10, 5), (1, 10, 0), (1, 10, 11)])
def test_invalid_batch_size_names_the_field(count: int, absolute: int, preferred: int) -> None:
    with pytest.raises(ValueError, match=r"max_message_count|preferred_max_bytes"):
        BatchSize(count, absolute, preferred)


@given(
    sizes=st.lists(st.integers(min_value=1, max_value=40), max_size=200),
    count=st.integers(min_value=1, max_value=12),
    preferred=st.integers(min_value=1, max_value=64),
)
def test_any_stream_keeps_order_and_respects_limits(
    sizes: list[int], count: int, preferred: int
) -> None:
    cutter = _cutter(count=count, preferred=preferred, absolute=64)
    envelopes = [bytes([n % 256]) * size for n, size in enumerate(sizes)]
    batches = []
    for envelope in envelopes:
        cut, pending = cutter.ordered(envelope)
        batches.extend(cut)
        assert pending == cutter.pending
    batches.append(cutter.cut())
    batches = [batch for batch in batches if batch]

    assert [envelope for batch in batches for envelope in batch] == envelopes
    for batch in batches:
        assert len(batch) <= count
        total = sum(len(envelope) for envelope in batch)
        assert total <= preferred or len(batch) == 1
