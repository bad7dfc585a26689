"""The one error root of ``ledgerdb``: every failure names the input it is about.

Callers (the orderer, the CLI, a database user) catch ``LedgerError`` to tell a user's or
an operator's problem apart from a bug; the subclasses say which kind of problem it is.
Classes kept next to the code that raises them are marked with their module::

    LedgerError
    ├── LedgerNotFound
    ├── LedgerUnavailable
    │   └── ReplicationUnavailable
    ├── LedgerClosed
    ├── StorageFailure
    ├── CorruptRecord
    ├── InvalidInput
    │   ├── BlockNotFound
    │   ├── LimitExceeded
    │   └── RedactionRefused                   redaction
    ├── VerificationError
    │   └── ReplicaMismatch
    ├── OccConflict
    ├── TransactionClosed
    │   └── TransactionExpired
    ├── JournalConflict
    ├── IonHashError (also a ValueError)       ionhash
    ├── _Unhashable                            ionhash (never leaves it)
    ├── NotPlain                               ionhash (never leaves plain hashing/writing)
    ├── _Stopped                               replicated (never leaves it)
    ├── UnknownSession                         sessions
    ├── TransactionNotOpen                     sessions
    ├── SessionBusy                            sessions
    ├── UnknownPage                            sessions
    ├── PartiQLError                           partiql.errors
    │   ├── PartiQLSyntaxError
    │   ├── PartiQLSemanticError
    │   └── PartiQLEvaluationError
    │       ├── PartiQLTypeError
    │       ├── UnknownTable
    │       ├── UnknownIndex
    │       └── UnknownVariable
    ├── SignatureProblem                       sigv4
    ├── LedgerExists                           qldb_ledgers
    ├── LedgerProtected                        qldb_ledgers
    ├── QldbControlError                       qldb_control (QLDB control-plane errors)
    │   ├── InvalidParameterException
    │   ├── ResourceNotFoundException
    │   ├── ResourcePreconditionNotMetException
    │   ├── ResourceAlreadyExistsException
    │   └── UnknownOperation
    └── QldbSessionError                       qldb_session (QLDB's wire errors)
        ├── BadRequestException
        ├── InvalidSessionException
        ├── OccConflictException
        ├── RateExceededException
        ├── LimitExceededException
        ├── SerializationException
        ├── UnknownOperationException
        ├── MissingAuthenticationTokenException
        ├── IncompleteSignatureException
        ├── InvalidSignatureException
        ├── UnrecognizedClientException
        ├── AccessDeniedException
        └── InternalFailure
"""

from __future__ import annotations

from pathlib import Path


class LedgerError(Exception):
    """Base class of everything the journal raises on purpose."""


class LedgerNotFound(LedgerError):
    """The directory holds no journal (and the caller did not ask to create one)."""


class LedgerUnavailable(LedgerError):
    """The directory cannot be used: unreadable, not a directory, or locked by a writer."""


class LedgerClosed(LedgerError):
    """The journal was closed, or stopped after a storage failure; nothing more is accepted."""


class StorageFailure(LedgerError):
    """A write or fsync failed; the journal refuses further appends (fsync cannot be retried)."""


class CorruptRecord(LedgerError):
    """A record that should be whole is not: the journal will not skip it.

    ``sequence_no`` is the block the record would have held, when it is known.
    """

    def __init__(
        self, segment: Path, offset: int, reason: str, sequence_no: int | None = None
    ) -> None:
        self.segment = segment
        self.offset = offset
        self.reason = reason
        self.sequence_no = sequence_no
        block = f"block {sequence_no}: " if sequence_no is not None else ""
        super().__init__(f"{block}{reason} in segment {segment} at offset {offset}")


class InvalidInput(LedgerError):
    """A caller passed something the journal cannot store or answer (names the field)."""


class BlockNotFound(InvalidInput):
    """A sequence number beyond the tip (or below zero) was asked for."""


class VerificationError(LedgerError):
    """A block, chain link, proof or digest does not check out.

    ``sequence_no`` names the first bad block when the failure is about one.
    """

    def __init__(self, message: str, sequence_no: int | None = None) -> None:
        self.sequence_no = sequence_no
        super().__init__(message)


class OccConflict(LedgerError):
    """Something the transaction read changed before it committed; it wrote nothing.

    Optimistic concurrency control, as QLDB's ``OccConflictException``: retry the whole
    transaction (``LedgerDatabase.execute_lambda`` does).
    """


class TransactionClosed(LedgerError):
    """The transaction was already committed or aborted; it takes no more statements."""


class TransactionExpired(TransactionClosed):
    """The transaction outlived its 30-second lifetime (QLDB's limit); it wrote nothing."""


class LimitExceeded(InvalidInput):
    """A QLDB limit was passed: ``limit`` names it, ``value`` is what was asked for."""

    def __init__(self, limit: str, value: int, maximum: int, detail: str = "") -> None:
        self.limit = limit
        self.value = value
        self.maximum = maximum
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"limit exceeded: {limit} is {maximum}, got {value}{suffix}")


class JournalConflict(LedgerError):
    """Another writer's block took the position this append was sealed for.

    A replicated journal's stream accepts one block per position; the loser's block was
    not stored anywhere (no fork). ``appended`` lists this call's blocks that did land
    before the conflict (usually none). Catch up, then append again on the new tip.
    """

    def __init__(
        self, stream: str, sequence_no: int, detail: str, appended: list | None = None
    ) -> None:
        self.stream = stream
        self.sequence_no = sequence_no
        self.detail = detail
        self.appended = appended or []
        super().__init__(
            f"stream {stream}: block {sequence_no} was taken by another writer ({detail}); "
            "catch up and append on the new tip"
        )


class ReplicationUnavailable(LedgerUnavailable):
    """The replicated journal's servers (or its stream) did not answer in time."""


class ReplicaMismatch(VerificationError):
    """A replicated journal's stream and a local copy do not hold the same chain.

    Either the stream holds something that is not one of this journal's blocks (foreign
    data, a broken chain), or the local copy disagrees with the stream; ``stream`` and
    ``sequence_no`` name where. Nothing is rewritten on either side.
    """

    def __init__(self, stream: str, sequence_no: int, message: str) -> None:
        self.stream = stream
        super().__init__(f"stream {stream}, block {sequence_no}: {message}", sequence_no)
