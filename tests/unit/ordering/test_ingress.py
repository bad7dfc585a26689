"""When a cutter gives up on its ingress consumer (``Ingress.reading_stalled``): the
consumer's bookkeeping against a stand-in clock (the consumer itself is nats-py's, on a
real stream in tests/integration/test_ordering_cluster.py)."""

from __future__ import annotations

import pytest

from ordering import ingress as ingress_module
from ordering.ingress import READ_STALL_SECONDS, Ingress


def test_a_consumer_silent_while_the_stream_holds_more_is_stalled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(ingress_module.time, "monotonic", lambda: now[0])
    ingress = Ingress(None, "mychannel", 3)  # type: ignore[arg-type]
    ingress.delivered, ingress.delivered_at = 40, now[0]
    assert not ingress.reading_stalled(60)  # no read running: nothing to judge
    ingress.reading = True
    now[0] += READ_STALL_SECONDS + 1
    assert ingress.reading_stalled(60)
    assert not ingress.reading_stalled(40)  # the stream holds nothing more: idle, not stalled
    assert not ingress.reading_stalled(30)  # fell back: the mend's case, not this one
    ingress.delivered_at = now[0] - READ_STALL_SECONDS + 1
    assert not ingress.reading_stalled(60)  # delivered lately: slow, not stalled
