"""The commit digest a QLDB driver sends with CommitTransaction, computed on the server side.

QLDB's drivers keep a running hash of everything they asked a transaction to do and send
it at commit; the server computes the same hash over what it actually executed and refuses
the commit when the two differ, so a statement or parameter changed (or lost) on the way
can never be committed. The rule, as the driver applies it:

    digest = H(transaction id)
    for each statement executed:  digest = dot(digest, H(statement) dot H(p1) dot H(p2) ...)

where H is the Ion Hash (SHA-256) of the value (the transaction id and the statement text
as Ion strings, parameters as the Ion values received) and ``dot`` is QLDB's commutative
pairing (`ledgerdb.hashing.dot`). Vectors produced by pyqldb 3.2.4 itself check this
module (`tests/unit/ledgerdb/qldb_session/digest_vectors.jsonl`).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from typing import Any

from ledgerdb.hashing import dot
from ledgerdb.ionhash import ion_hash

__all__ = ["CommitDigest", "statement_hash"]


def statement_hash(statement: str, parameters: Iterable[Any] = ()) -> bytes:
    """H(statement) dotted with each parameter's Ion Hash, in order (``dot`` commutes)."""
    digest = ion_hash(statement)
    for parameter in parameters:
        digest = dot(digest, ion_hash(parameter))
    return digest


class CommitDigest:
    """The running digest of one transaction: start from its id, add each statement run."""

    def __init__(self, transaction_id: str) -> None:
        self.transaction_id = transaction_id
        self._digest = ion_hash(transaction_id)

    def add_statement(self, statement: str, parameters: Iterable[Any] = ()) -> None:
        """Fold in one statement the transaction was asked to run.

        The driver hashes a statement before sending it, whatever its outcome, so the server
        folds in every statement it accepted for the transaction, failed ones included.
        """
        self._digest = dot(self._digest, statement_hash(statement, parameters))

    @property
    def value(self) -> bytes:
        """The 32-byte digest over the transaction id and every statement added so far."""
        return self._digest

    def matches(self, claimed: bytes) -> bool:
        """Whether a driver's CommitDigest equals ours."""
        return hmac.compare_digest(self._digest, claimed)
