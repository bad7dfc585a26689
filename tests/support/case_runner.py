"""Runs the PartiQL case table (``partiql/cases.ion``) through any way of executing a
statement: the embedded database here, the gRPC client elsewhere.

``execute(statement, params)`` runs one statement in its own committed transaction and
returns an object with ``values`` (the result documents) and ``plan`` (``None`` when the
transport does not report plans, else anything with ``uses_index``); it raises the
statement's error. ``load_fixtures`` creates the fixture tables through it; ``run_case``
checks one case against a database holding exactly the fixtures. A case ``mutates``
when it writes (it has a follow-up query); the others leave the database unchanged, so
they can share one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from ledgerdb.partiql.values import text
from tests.support.case_table import Case, dump, load, same, same_bag


class Outcome(Protocol):
    values: list[Any]
    plan: Any


Execute = Callable[[str, Sequence[Any]], Outcome]
ErrorNames = Callable[[BaseException], set[str]]

FIXTURES, ALL_CASES = load()
# Cases about the engine used without a transaction; in a database there always is one.
WITHOUT_TRANSACTION = {"txid outside a transaction"}
CASES = [case for case in ALL_CASES if case.name not in WITHOUT_TRANSACTION]


def class_names(error: BaseException) -> set[str]:
    """The error's class and base class names (how cases name the expected error)."""
    return {cls.__name__ for cls in type(error).__mro__}


def load_fixtures(execute: Execute, fixtures: Any = FIXTURES) -> None:
    for name, table in fixtures.items():
        execute(f"CREATE TABLE {name}", [])
        for field in table["indexes"]:
            execute(f"CREATE INDEX ON {name} ({text(field)})", [])
        execute(f"INSERT INTO {name} ?", [list(table["documents"])])


def mutates(case: Case) -> bool:
    return case.then is not None


def run_case(case: Case, execute: Execute, error_names: ErrorNames = class_names) -> None:
    """Run ``case``; fails with an AssertionError that shows what came back."""
    try:
        outcome = execute(case.statement, case.params)
        if case.then is not None:
            outcome = execute(case.then, [])
    except Exception as error:
        if case.error is None:
            raise
        names = error_names(error)
        assert case.error in names, f"{type(error).__name__}: {error}"
        assert case.message is None or case.message in str(error), str(error)
        return
    assert case.error is None, f"expected {case.error}, got {dump(outcome.values)}"
    expected = list(case.expected)
    values = list(outcome.values)
    if case.ordered:
        matches = len(values) == len(expected) and all(map(same, values, expected))
    else:
        matches = same_bag(values, expected)
    assert matches, f"got {dump(values)}, expected {dump(expected)}"
    if case.plan is not None and outcome.plan is not None:
        wanted = case.plan == "index"
        assert outcome.plan.uses_index is wanted, outcome.plan
