"""The replicated journal's pure parts: names, message layout, answers, tip waiters, and
the interface it shares with the local journal."""

from __future__ import annotations

import asyncio
import inspect
import json
import socket
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from ledgerdb.block import ChainHead, Payload, decode, prepare
from ledgerdb.errors import InvalidInput, LedgerClosed, ReplicationUnavailable
from ledgerdb.jetstream import (
    EXPECTED_LAST_MSG_ID,
    EXPECTED_LAST_SEQUENCE,
    MSG_ID,
    NoAnswer,
    Refused,
    Stored,
    answer_outcome,
    connect,
    layout,
    message,
)
from ledgerdb.journal import AsyncBlockJournal, AsyncJournal
from ledgerdb.replicated import ReplicatedJournal, TipWaiters
from ledgerdb.segments import unframe


def test_a_journal_is_one_stream_with_one_subject_and_an_agreed_strand() -> None:
    where = layout("orderers-mychannel")
    assert where.stream == "LEDGERDB_orderers-mychannel"
    assert where.subject == "ledgerdb.journal.orderers-mychannel"
    assert where.strand_id == layout("orderers-mychannel").strand_id
    assert where.strand_id != layout("orderers-other").strand_id
    config = where.config(3)
    assert config.subjects == [where.subject] and config.num_replicas == 3
    assert config.deny_delete and config.deny_purge


@pytest.mark.parametrize("name", ["my.channel", "a b", "*", ">", "", "x" * 129, 7])
def test_a_journal_name_that_cannot_be_a_stream_name_is_refused(name: object) -> None:
    with pytest.raises(InvalidInput, match="journal name"):
        layout(name)  # type: ignore[arg-type]


def test_a_block_message_is_its_segment_record_with_conditions() -> None:
    head = ChainHead("S" * 22, 0, b"")
    first = head.seal(prepare([Payload(b"genesis")]), 1)
    second = head.seal(prepare([Payload(b"next")]), 2)
    data, headers = message(first)
    assert decode(unframe(data)) == first
    assert headers == {MSG_ID: first.block_hash.hex(), EXPECTED_LAST_SEQUENCE: "0"}
    data, headers = message(second)
    assert decode(unframe(data)) == second
    assert headers[EXPECTED_LAST_SEQUENCE] == "1"  # the stream holds blocks 0..0
    assert headers[EXPECTED_LAST_MSG_ID] == first.block_hash.hex()  # ... and 0 is its link


def _answer(body: dict | None, status: str | None = None) -> Msg:
    headers = {"Status": status} if status else None
    return Msg(None, subject="_INBOX.x.1", data=json.dumps(body or {}).encode(), headers=headers)


def test_publish_answers_are_read_as_stored_refused_or_no_answer() -> None:
    assert answer_outcome(_answer({"stream": "S", "seq": 4})) == Stored(4)
    assert answer_outcome(_answer({"stream": "S", "seq": 4, "duplicate": True})) == Stored(4, True)
    conflict = {"code": 400, "err_code": 10071, "description": "wrong last sequence: 5"}
    refused = answer_outcome(_answer({"error": conflict}))
    assert isinstance(refused, Refused) and refused.conflict and not refused.transient
    unavailable = answer_outcome(_answer({"error": {"code": 503, "description": "unavailable"}}))
    assert isinstance(unavailable, Refused) and unavailable.transient
    assert isinstance(answer_outcome(_answer(None, status="503")), NoAnswer)


async def test_no_server_at_start_is_an_error_naming_every_server_tried(tmp_path: Path) -> None:
    ports = []
    for _ in range(2):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
    servers = [f"nats://127.0.0.1:{port}" for port in ports]
    with pytest.raises(ReplicationUnavailable) as caught:
        await ReplicatedJournal.open(
            tmp_path / "copy", servers=servers, name="orderers", connect_timeout=1.0
        )
    assert all(server in str(caught.value) for server in servers)
    assert "within 1s" in str(caught.value)
    assert not (tmp_path / "copy").exists()  # nothing made before the servers answered
    with pytest.raises(InvalidInput, match="name at least one NATS server"):
        await connect([], timeout=1.0)


async def test_tip_waiters_resolve_in_order_and_all_fail_together() -> None:
    waiters = TipWaiters(-1)
    early, late = waiters.wait(0), waiters.wait(5)
    waiters.advance(3)
    assert early.done() and not late.done()
    assert waiters.wait(2).done()
    waiters.fail(LedgerClosed("closed"))
    with pytest.raises(LedgerClosed):
        await late
    with pytest.raises(LedgerClosed):
        await waiters.wait(9)
    await asyncio.sleep(0)


@pytest.mark.parametrize("backend", [AsyncJournal, ReplicatedJournal])
def test_both_backends_offer_the_orderer_the_same_interface(backend: type) -> None:
    for name, wanted in vars(AsyncBlockJournal).items():
        if name.startswith("_"):
            continue
        offered = getattr(backend, name, None)
        assert offered is not None, f"{backend.__name__} has no {name}"
        if isinstance(wanted, property):
            assert isinstance(offered, property), name
            continue
        assert inspect.iscoroutinefunction(offered), f"{backend.__name__}.{name} is not async"
        assert list(inspect.signature(offered).parameters) == list(
            inspect.signature(wanted).parameters
        ), f"{backend.__name__}.{name} takes other parameters"


def test_redaction_on_the_replicated_journal_is_refused_naming_why() -> None:
    """Redaction must take the data out of every copy; JetStream keeps the original record
    on every server, so the replicated journal refuses it (issue 25) and changes nothing."""
    from ledgerdb.redaction import RedactionRefused

    journal = ReplicatedJournal.__new__(ReplicatedJournal)  # no servers needed to refuse
    journal.stream = "LEDGERDB_orderers-mychannel"
    with pytest.raises(RedactionRefused) as refused:
        asyncio.run(journal.redact(3, {0: b"x"}))
    message = str(refused.value)
    assert "LEDGERDB_orderers-mychannel" in message and "block 3" in message
    assert "denies delete and purge" in message and "replicas" in message
