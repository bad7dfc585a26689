"""How the CLI prints: a human table by default, JSON for scripts, one line on error."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.table import Table

OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Human table, or JSON for scripts.",
)

EXIT_BAD_INPUT = 2
EXIT_REFUSED = 1
"""The command ran and the answer is no: a transaction not VALID, a journal not verified."""


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one clear line on stderr and exit non-zero."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def emit_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "") -> None:
    table = Table(title=title or None)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    Console().print(table)


def emit_record(record: Mapping[str, Any], output: str, title: str = "") -> None:
    """One record: key/value table for people, the mapping itself as JSON."""
    if output == "json":
        emit_json(record)
    else:
        emit_table(["field", "value"], record.items(), title)
