"""PartiQL's errors: every error names the input it is about.

A ``PartiQLError`` is a ``LedgerError`` (the tree is drawn in ``ledgerdb/errors.py``).
The database maps ``PartiQLError`` to QLDB's ``BadRequestException``; the subclasses let
callers (and tests) tell a syntax error from a type error or an unknown table.
"""

from __future__ import annotations

from ledgerdb.errors import LedgerError


class PartiQLError(LedgerError):
    """Base class of everything the PartiQL engine raises on purpose."""


class PartiQLSyntaxError(PartiQLError):
    """The statement does not parse; names the line, column and offending token."""

    def __init__(
        self, line: int, column: int, token: str, detail: str = "", lexer: bool = False
    ) -> None:
        self.line = line
        self.column = column
        self.token = token
        where = f"at line {line}, column {column}"
        if lexer:
            head, what = "Lexer Error", f"invalid character {token!r}"
        else:
            head = "Parser Error"
            what = "unexpected end of statement" if token == "" else f"unexpected token {token!r}"
        super().__init__(f"{head}: {where}: {what}" + (f" ({detail})" if detail else ""))


class PartiQLSemanticError(PartiQLError):
    """The statement parses but is not meaningful (e.g. an aggregate inside WHERE)."""


class PartiQLEvaluationError(PartiQLError):
    """Evaluation failed for a reason other than a type mismatch (e.g. a missing parameter)."""


class PartiQLTypeError(PartiQLEvaluationError):
    """An operator or function got a value of a type it does not accept; names both."""

    def __init__(self, operation: str, detail: str) -> None:
        self.operation = operation
        self.detail = detail
        super().__init__(f"Evaluation Error: {operation}: {detail}")


class UnknownTable(PartiQLEvaluationError):
    """A statement names a table (or table id) the catalog does not have."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Semantic Error: no such table: {name}")


class UnknownIndex(PartiQLEvaluationError):
    """DROP INDEX names an index the table does not have."""

    def __init__(self, index_id: str, table: str) -> None:
        self.index_id = index_id
        self.table = table
        super().__init__(f"Semantic Error: no index {index_id!r} on table {table}")


class UnknownVariable(PartiQLEvaluationError):
    """A name that is neither a variable, a field of the FROM row, nor a table."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Semantic Error: no such variable or table: {name}")
