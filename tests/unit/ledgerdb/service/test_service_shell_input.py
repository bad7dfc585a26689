"""How the ledger shell cuts its input into commands and statements."""

from __future__ import annotations

import io

from network.commands.ledger_shell import Shell, _pipe_reader, statements


def _cut(text: str) -> list[str]:
    shell = Shell(backend=None, out=io.StringIO(), err=io.StringIO())
    return list(statements(_pipe_reader(io.StringIO(text)), shell))


def test_semicolon_ends_a_multi_line_statement() -> None:
    assert _cut("SELECT *\n  FROM t\n  WHERE a = 1;\nSELECT 1;\n") == [
        "SELECT *\n  FROM t\n  WHERE a = 1",
        "SELECT 1",
    ]


def test_blank_line_ends_a_statement_and_end_of_input_flushes() -> None:
    assert _cut("SELECT 1\n\n\nSELECT\n2") == ["SELECT 1", "SELECT\n2"]


def test_commands_stand_alone_with_or_without_semicolon() -> None:
    assert _cut("begin\nINSERT INTO t VALUE {'a': 1};\nCOMMIT;\nstart   transaction\nabort\n") == [
        "begin",
        "INSERT INTO t VALUE {'a': 1}",
        "COMMIT",
        "start   transaction",
        "abort",
    ]


def test_a_command_word_inside_a_statement_is_statement_text() -> None:
    assert _cut("SELECT *\ncommit\n;\n") == ["SELECT *\ncommit\n"]
