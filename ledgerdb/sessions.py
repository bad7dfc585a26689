"""The server's table of sessions and their open transactions, with expiry and paging.

QLDB's session model: a client starts a session, runs one transaction at a time in it,
reads a statement's result page by page, and commits or aborts. The table keeps what
that needs between calls — the database transaction, its unread pages, when it
started — and forgets what is abandoned: a transaction older than its lifetime (30 s,
QLDB's limit) is aborted, a session idle for longer than its timeout is ended. Either
way nothing is written, because only a commit writes.

Every method is safe to call from several worker threads at once; one transaction's
statements are serialized by its own lock (the database allows one thread at a time per
transaction).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ledgerdb.block import new_id
from ledgerdb.errors import LedgerError
from ledgerdb.limits import TRANSACTION_SECONDS

TRANSACTION_LIFETIME_SECONDS = TRANSACTION_SECONDS
SESSION_IDLE_SECONDS = 15 * 60.0
PAGE_VALUES = 200
PAGE_BYTES = 1024 * 1024
_REMEMBERED = 16  # finished transaction ids a session remembers, for a clear error


class UnknownSession(LedgerError):
    """No such session: never started, ended, or reaped after being idle too long."""


class TransactionNotOpen(LedgerError):
    """The session has no open transaction with this id (finished, expired or never begun)."""


class SessionBusy(LedgerError):
    """The session already runs a transaction; QLDB allows one at a time per session."""


class UnknownPage(LedgerError):
    """A page token that this transaction never handed out, or that was already read."""


def split_pages(
    values: Sequence[bytes], max_values: int = PAGE_VALUES, max_bytes: int = PAGE_BYTES
) -> list[list[bytes]]:
    """Values cut into pages of at most ``max_values`` values and about ``max_bytes``.

    A page always holds at least one value, so one value larger than ``max_bytes`` still
    travels (alone). There is always at least one page, possibly empty.
    """
    pages: list[list[bytes]] = [[]]
    size = 0
    for value in values:
        page = pages[-1]
        if page and (len(page) >= max_values or size + len(value) > max_bytes):
            page = []
            pages.append(page)
            size = 0
        page.append(value)
        size += len(value)
    return pages


@dataclass
class OpenTransaction:
    """A database transaction held between calls, with the pages not yet fetched."""

    transaction: Any  # ledgerdb.database.Transaction
    started: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    pages: dict[str, list[list[bytes]]] = field(default_factory=dict)

    @property
    def transaction_id(self) -> str:
        return str(self.transaction.transaction_id)

    def first_page(self, values: Sequence[bytes]) -> tuple[list[bytes], str]:
        """The first page of a statement's values and the token of the rest ('' if none)."""
        return self._hand_out(split_pages(values))

    def next_page(self, token: str) -> tuple[list[bytes], str]:
        pages = self.pages.pop(token, None)
        if pages is None:
            raise UnknownPage(
                f"next_page_token {token!r} is not a page of transaction "
                f"{self.transaction_id} (already read, or never issued)"
            )
        return self._hand_out(pages)

    def _hand_out(self, pages: list[list[bytes]]) -> tuple[list[bytes], str]:
        first, rest = pages[0], pages[1:]
        if not rest:
            return first, ""
        token = new_id()
        self.pages[token] = rest
        return first, token


@dataclass
class Session:
    token: str
    last_used: float
    current: OpenTransaction | None = None
    finished: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def remember(self, transaction_id: str, outcome: str) -> None:
        self.finished[transaction_id] = outcome
        while len(self.finished) > _REMEMBERED:
            self.finished.popitem(last=False)


class SessionTable:
    """Sessions by token; each holds at most one open transaction of ``database``."""

    def __init__(
        self,
        database: Any,
        *,
        transaction_lifetime: float = TRANSACTION_LIFETIME_SECONDS,
        session_idle: float = SESSION_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.transaction_lifetime = transaction_lifetime
        self.session_idle = session_idle
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._sessions)

    def start_session(self) -> str:
        token = new_id()
        with self._lock:
            self._sessions[token] = Session(token, self._clock())
        return token

    def end_session(self, token: str) -> None:
        """End the session, aborting its open transaction (ending twice is not an error)."""
        with self._lock:
            session = self._sessions.pop(token, None)
        if session is not None and session.current is not None:
            _abort_quietly(session.current)

    def _session(self, token: str) -> Session:
        """The live session (caller holds the lock); touching it keeps it alive."""
        session = self._sessions.get(token)
        if session is None:
            raise UnknownSession(
                f"session_token {token!r} names no live session (ended, or idle for more "
                f"than {self.session_idle:g} s)"
            )
        session.last_used = self._clock()
        return session

    def start_transaction(self, token: str) -> OpenTransaction:
        with self._lock:
            session = self._session(token)
            current = session.current
            if current is not None and not self._expired(current):
                raise SessionBusy(
                    f"session already runs transaction {current.transaction_id}; "
                    "commit or abort it first"
                )
            session.current = None
        if current is not None:
            _abort_quietly(current)
            session.remember(current.transaction_id, "expired")
        opened = OpenTransaction(self.database.start_transaction(), self._clock())
        with self._lock:
            session.current = opened
        return opened

    def _expired(self, opened: OpenTransaction) -> bool:
        return self._clock() - opened.started > self.transaction_lifetime

    def _transaction(self, token: str, transaction_id: str) -> tuple[Session, OpenTransaction]:
        with self._lock:
            session = self._session(token)
            current = session.current
            if current is None or current.transaction_id != transaction_id:
                outcome = session.finished.get(transaction_id)
                state = f"was {outcome}" if outcome else "was never started in this session"
                raise TransactionNotOpen(f"transaction_id {transaction_id!r} {state}")
            if self._expired(current):
                session.current = None
                session.remember(transaction_id, "expired")
                expired = current
            else:
                return session, current
        _abort_quietly(expired)
        raise TransactionNotOpen(
            f"transaction_id {transaction_id!r} expired: transactions live at most "
            f"{self.transaction_lifetime:g} s"
        )

    @contextmanager
    def using(self, token: str, transaction_id: str) -> Iterator[OpenTransaction]:
        """The open transaction, held by its lock while the caller runs a statement."""
        _, opened = self._transaction(token, transaction_id)
        with opened.lock:
            yield opened

    @contextmanager
    def finishing(self, token: str, transaction_id: str, outcome: str) -> Iterator[Any]:
        """Hold the transaction to commit or abort it; afterwards the session is free.

        The transaction leaves the session whatever happens: a failed commit (an OCC
        conflict) has aborted it, as in QLDB, and the client starts a new one.
        """
        session, opened = self._transaction(token, transaction_id)
        try:
            with opened.lock:
                yield opened.transaction
        except BaseException:
            outcome = "aborted by a failed commit" if outcome == "committed" else outcome
            raise
        finally:
            with self._lock:
                if session.current is opened:
                    session.current = None
                session.remember(transaction_id, outcome)

    def reap(self) -> int:
        """Abort expired transactions and end idle sessions; returns how many were dropped."""
        now = self._clock()
        doomed: list[OpenTransaction] = []
        dropped = 0
        with self._lock:
            for token, session in list(self._sessions.items()):
                current = session.current
                if current is not None and now - current.started > self.transaction_lifetime:
                    session.current = None
                    session.remember(current.transaction_id, "expired")
                    doomed.append(current)
                    dropped += 1
                if now - session.last_used > self.session_idle:
                    del self._sessions[token]
                    if session.current is not None:
                        doomed.append(session.current)
                    dropped += 1
        for opened in doomed:
            _abort_quietly(opened)
        return dropped

    def close(self) -> None:
        """End every session (server shutdown)."""
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
        for session in sessions:
            if session.current is not None:
                _abort_quietly(session.current)


def _abort_quietly(opened: OpenTransaction) -> None:
    """Abort an abandoned transaction; it may already be finished, which is fine."""
    try:
        with opened.lock:
            opened.transaction.abort()
    except LedgerError:
        pass
