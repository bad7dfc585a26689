"""The ``limits:`` setting and the stream counter behind RESOURCE_EXHAUSTED."""

from __future__ import annotations

import pytest

from proto.limits import Limits, LimitsError, StreamCounter, parse_limits, service_name


def test_absent_limits_are_fabrics_defaults() -> None:
    limits = parse_limits(None)
    assert limits.max_message_bytes == 100 * 1024 * 1024
    assert limits.streams_per_service == 2500


def test_limits_are_read_and_checked() -> None:
    limits = parse_limits({"streams_per_client": 3, "write_timeout_seconds": 1.5})
    assert (limits.streams_per_client, limits.write_timeout_seconds) == (3, 1.5)
    for raw, words in [
        ([1], "must be a mapping"),
        ({"streams": 1}, "unknown setting limits.streams"),
        ({"streams_per_client": 0}, "limits.streams_per_client must be a positive number"),
        ({"streams_per_client": True}, "must be a positive number"),
        ({"max_message_bytes": 1.5}, "limits.max_message_bytes must be a whole number"),
    ]:
        with pytest.raises(LimitsError, match=words):
            parse_limits(raw)


def test_counter_refuses_past_each_limit_and_frees_on_release() -> None:
    counter = StreamCounter(Limits(streams_per_service=3, streams_per_client=2))
    method = service_name("/protos.Deliver/Deliver")
    assert counter.refusal(method, "a") is None
    assert counter.refusal(method, "a") is None
    assert "per client (2)" in (counter.refusal(method, "a") or "")
    assert counter.refusal("protos.Deliver/DeliverFiltered", "a") is None  # another method
    assert counter.refusal(method, "b") is None
    refused = counter.refusal(method, "c") or ""
    assert refused == (
        "too many requests for protos.Deliver/Deliver, exceeding concurrency limit (3)"
    )
    counter.release(method, "a")
    assert counter.refusal(method, "c") is None
