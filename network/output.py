"""How the CLI prints: a human table by default, JSON for scripts, one line on error."""

from __future__ import annotations

import json
import re
import shutil
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
_ID = re.compile(r"^[a-z]{1,2}-[A-Z2-7]{26}$|^[0-9a-f]{64}$")  # AMB ids and txids


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one clear line on stderr and exit non-zero."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def emit_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str = "") -> None:
    """A table that never cuts anything: id columns do not wrap or shorten (other columns
    give way), no cell ends in "…" (what does not fit folds onto the next line, whole),
    and piped output is as wide as its rows, so ids, txids and package IDs can be
    copied whole."""
    cells = [[str(cell) for cell in row] for row in rows]
    table = Table(title=title or None)
    for n, column in enumerate(columns):
        if _is_id_column(column, [row[n] for row in cells]):
            width = max((len(row[n]) for row in cells), default=0)
            table.add_column(
                column, no_wrap=True, min_width=max(width, len(column)), overflow="fold"
            )
        else:
            table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    Console(width=None if sys.stdout.isatty() else 10_000).print(table)


def _is_id_column(column: str, values: Sequence[str]) -> bool:
    """Named like an id (``Id``, ``NetworkId``, ``member id``) or holding only ids."""
    words = column.replace("_", " ").split()
    if column.endswith("Id") or (words and words[-1].lower() in ("id", "ids")):
        return True
    return bool(values) and all(_ID.match(value) for value in values)


def emit_record(record: Mapping[str, Any], output: str, title: str = "") -> None:
    """One record: key/value table for people, the mapping itself as JSON. A value with
    no space to break at (a package ID, a hash) that the terminal cannot show on one line
    of the table stands whole on its own line below it, so it can be copied."""
    if output == "json":
        emit_json(record)
        return
    items = [(str(key), str(value)) for key, value in record.items()]
    room = _terminal_columns() - max((len(key) for key, _ in items), default=0) - 7
    below = [(k, v) for k, v in items if len(v) > room and not any(c.isspace() for c in v)]
    rows = [(k, "(whole, below)" if (k, v) in below else v) for k, v in items]
    emit_table(["field", "value"], rows, title)
    for key, value in below:
        click.echo(f"{key}:")
        click.echo(value)


def _terminal_columns() -> int:
    """The terminal's width; piped output has no edge."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else 10_000
