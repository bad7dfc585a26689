"""The server's session table: one transaction per session, expiry, idle reaping, paging.

A tiny transaction stand-in records aborts; the table only ever calls ``start_transaction``,
``transaction_id`` and ``abort``, so the stand-in is the whole contract.
"""

from __future__ import annotations

import pytest

from ledgerdb.block import new_id
from ledgerdb.sessions import (
    SessionBusy,
    SessionTable,
    TransactionNotOpen,
    UnknownPage,
    UnknownSession,
    split_pages,
)


class _Transaction:
    def __init__(self) -> None:
        self.transaction_id = new_id()
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


class _Database:
    def __init__(self) -> None:
        self.started: list[_Transaction] = []

    def start_transaction(self) -> _Transaction:
        self.started.append(_Transaction())
        return self.started[-1]


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def table(clock: _Clock) -> SessionTable:
    return SessionTable(_Database(), transaction_lifetime=30.0, session_idle=60.0, clock=clock)


def test_unknown_session_is_named(table: SessionTable) -> None:
    with pytest.raises(UnknownSession, match="session_token 'nope'"):
        table.start_transaction("nope")


def test_one_transaction_at_a_time_per_session(table: SessionTable) -> None:
    token = table.start_session()
    opened = table.start_transaction(token)
    with pytest.raises(SessionBusy, match=opened.transaction_id):
        table.start_transaction(token)


def test_finished_transaction_is_reported_as_such(table: SessionTable) -> None:
    token = table.start_session()
    opened = table.start_transaction(token)
    with table.finishing(token, opened.transaction_id, "committed"):
        pass
    with (
        pytest.raises(TransactionNotOpen, match="was committed"),
        table.using(token, opened.transaction_id),
    ):
        pass
    table.start_transaction(token)  # the session is free again


def test_failed_commit_frees_the_session(table: SessionTable) -> None:
    token = table.start_session()
    opened = table.start_transaction(token)
    with (
        pytest.raises(RuntimeError),
        table.finishing(token, opened.transaction_id, "committed"),
    ):
        raise RuntimeError("conflict")
    table.start_transaction(token)  # the session is free for a new transaction
    with (
        pytest.raises(TransactionNotOpen, match="aborted by a failed commit"),
        table.using(token, opened.transaction_id),
    ):
        pass


def test_transaction_expires_after_its_lifetime(table: SessionTable, clock: _Clock) -> None:
    token = table.start_session()
    opened = table.start_transaction(token)
    clock.now += 31
    with (
        pytest.raises(TransactionNotOpen, match="expired"),
        table.using(token, opened.transaction_id),
    ):
        pass
    assert opened.transaction.aborted


def test_expired_transaction_does_not_block_a_new_one(table: SessionTable, clock: _Clock) -> None:
    token = table.start_session()
    first = table.start_transaction(token)
    clock.now += 31
    second = table.start_transaction(token)
    assert first.transaction.aborted and second.transaction_id != first.transaction_id


def test_reap_aborts_expired_transactions_and_ends_idle_sessions(
    table: SessionTable, clock: _Clock
) -> None:
    busy, idle = table.start_session(), table.start_session()
    opened = table.start_transaction(busy)
    clock.now += 31
    assert table.reap() == 1  # the expired transaction; both sessions were used < 60 s ago
    assert opened.transaction.aborted and len(table) == 2
    clock.now += 30
    assert table.reap() == 2
    with pytest.raises(UnknownSession):
        table.start_transaction(idle)


def test_ending_a_session_aborts_its_transaction(table: SessionTable) -> None:
    token = table.start_session()
    opened = table.start_transaction(token)
    table.end_session(token)
    table.end_session(token)  # twice is fine
    assert opened.transaction.aborted


def test_pages_split_by_count_and_size() -> None:
    assert split_pages([]) == [[]]
    assert [len(p) for p in split_pages([b"x"] * 450, max_values=200)] == [200, 200, 50]
    big = b"y" * 600
    assert [len(p) for p in split_pages([big, big, b"z"], max_bytes=1000)] == [1, 2]
    assert split_pages([b"w" * 5000], max_bytes=1000) == [[b"w" * 5000]]


def test_pages_are_handed_out_once_in_order(table: SessionTable) -> None:
    token = table.start_session()
    opened = table.start_transaction(token)
    values = [bytes([i % 256]) for i in range(450)]
    first, next_token = opened.first_page(values)
    seen = list(first)
    while next_token:
        page, following = opened.next_page(next_token)
        with pytest.raises(UnknownPage, match="already read"):
            opened.next_page(next_token)
        seen += page
        next_token = following
    assert seen == values
