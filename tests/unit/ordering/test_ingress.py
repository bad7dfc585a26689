"""When a cutter gives up on its ingress consumer (``Ingress.reading_stalled``): the
consumer's bookkeeping against a stand-in clock (the consumer itself is nats-py's, on a
real stream in tests/integration/test_ordering_cluster.py); and how admission reads a
leader's answers, from a stand-in leader."""

from __future__ import annotations

import pytest
from nats.js.api import PubAck

from ordering import ingress as ingress_module
from ordering.ingress import READ_STALL_SECONDS, Ingress, IngressUnavailable


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


class _StagedFirst:
    """A JetStream context whose stream leader answers the first sends of an envelope as
    nats-server does while the envelope's id is staged for a send it has not stored:
    "duplicate", sequence 0."""

    def __init__(self, staged_answers: int, then: int) -> None:
        self.staged_answers, self.then, self.sends = staged_answers, then, 0

    async def publish(self, subject: str, data: bytes, timeout: float, headers: dict) -> PubAck:
        self.sends += 1
        if self.sends <= self.staged_answers:
            return PubAck(stream="INGRESS", seq=0, duplicate=True)
        return PubAck(stream="INGRESS", seq=self.then)


async def test_a_duplicate_answer_naming_no_position_is_asked_again() -> None:
    js = _StagedFirst(staged_answers=2, then=7)
    ingress = Ingress(js, "mychannel", 3)  # type: ignore[arg-type]
    assert await ingress.admit(b"envelope", False) == 7
    assert js.sends == 3


async def test_an_envelope_staged_for_good_is_unavailable_naming_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(ingress_module.time, "monotonic", lambda: now[0])

    async def sleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(ingress_module.asyncio, "sleep", sleep)
    ingress = Ingress(_StagedFirst(staged_answers=10**6, then=7), "mychannel", 3)  # type: ignore[arg-type]
    with pytest.raises(IngressUnavailable, match="duplicate of a send not stored yet"):
        await ingress.admit(b"envelope", False)
