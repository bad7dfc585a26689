"""Runs the PartiQL case table (``cases.ion``) against the in-memory catalog."""

from __future__ import annotations

import pytest

from ledgerdb.partiql import execute
from tests.support.case_table import Case, catalog_from, dump, load, same, same_bag

FIXTURES, CASES = load()


def _error_names(error: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(error).__mro__}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(case: Case) -> None:
    catalog = catalog_from(FIXTURES)
    try:
        result = execute(case.statement, catalog, case.params)
        if case.then is not None:
            catalog.apply(result.changes)
            result = execute(case.then, catalog)
    except Exception as error:
        if case.error is None:
            raise
        assert case.error in _error_names(error), f"{type(error).__name__}: {error}"
        assert case.message is None or case.message in str(error), str(error)
        return
    assert case.error is None, f"expected {case.error}, got {dump(result.values)}"
    expected = list(case.expected)
    if case.ordered:
        matches = len(result.values) == len(expected) and all(map(same, result.values, expected))
    else:
        matches = same_bag(result.values, expected)
    assert matches, f"got {dump(result.values)}, expected {dump(expected)}"
    if case.plan == "index":
        assert result.plan is not None and result.plan.uses_index, result.plan
    elif case.plan == "scan":
        assert result.plan is not None and not result.plan.uses_index, result.plan


def test_the_table_is_broad() -> None:
    assert len(CASES) >= 100
