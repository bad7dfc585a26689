"""Bad input never crashes the engine: it parses and runs, or raises a PartiQLError."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledgerdb.partiql import MemoryCatalog, PartiQLError, execute, parse

WORDS = [
    "SELECT", "VALUE", "*", "FROM", "WHERE", "AS", "AT", "BY", "JOIN", "ON", "LEFT", ",",
    "T", "t", "x", "@t", "t.a", "t.b[0]", "x.c", "a", "b", "?", "1", "2.5", "'s'", "NULL",
    "MISSING", "TRUE", "`{a: 1}`", "`[1, 2]`", "<<", ">>", "[", "]", "{", "}", ":", "(", ")",
    "=", "<>", "<", ">=", "+", "-", "*", "/", "%", "||", "AND", "OR", "NOT", "IN", "IS",
    "LIKE", "BETWEEN", "EXISTS", "COUNT(*)", "SUM", "MIN", "upper", "size", "CAST",
    "INT", "STRING", "GROUP BY", "ORDER BY", "DESC", "LIMIT", "INSERT INTO", "UPDATE",
    "SET", "REMOVE", "DELETE", "CREATE TABLE", "CREATE INDEX ON", "DROP", "history",
    "date_add", "day", "CASE", "WHEN", "THEN", "ELSE", "END", ";",
]  # fmt: skip

statements = st.lists(st.sampled_from(WORDS), min_size=1, max_size=14).map(" ".join)
shapes = st.sampled_from(
    [
        "SELECT {0} FROM T AS t WHERE {1}",
        "SELECT VALUE {0} FROM T t, @t.b AS x AT i WHERE {1}",
        "SELECT {0} AS p, COUNT(*) AS n FROM T t GROUP BY {1} AS g",
        "UPDATE T AS t SET t.z = {0} WHERE {1}",
        "FROM T AS t WHERE {1} INSERT INTO t.b VALUE {0}",
        "SELECT VALUE {0} FROM T t ORDER BY {1} DESC",
    ]
)
ATOMS = ["t.a", "t.b", "t.b[0]", "t.b[5]", "t.c.d", "t.e", "1", "-2", "2.5", "`1e0`", "'s'",
         "NULL", "MISSING", "`2020-01-02T`", "x", "?", "[1, 's']", "<<1, NULL>>", "{'k': t.a}",
         "TRUE", "`sym`", "t"]  # fmt: skip
BINARY = ["+", "-", "*", "/", "%", "||", "=", "<>", "<", ">=", "AND", "OR"]
UNARY = [
    "NOT {0}", "-{0}", "{0} IS NULL", "{0} IS NOT MISSING", "{0} IN ({1}, {0})",
    "{0} NOT IN {1}", "{0} BETWEEN {1} AND {0}", "{0} LIKE {1}", "{0} LIKE 'a%' ESCAPE {1}",
    "upper({0})", "lower({0})", "size({0})", "exists({0})", "char_length({0})", "abs({0})",
    "coalesce({0}, {1})", "nullif({0}, {1})", "CAST({0} AS INT)", "CAST({0} AS STRING)",
    "CAST({0} AS DECIMAL(3, 1))", "CAST({0} AS TIMESTAMP)", "CAST({0} AS BOOL)",
    "CAST({0} AS BAG)", "date_add(day, {0}, {1})", "date_diff(month, {0}, {1})",
    "EXTRACT(year FROM {0})", "substring({0}, {1})", "substring({0} FROM {1} FOR 2)",
    "trim({0})", "TRIM(LEADING {1} FROM {0})", "to_string({0}, {1})", "to_timestamp({0})",
    "to_timestamp({0}, 'yyyy')", "CASE WHEN {0} THEN {1} ELSE {0} END",
    "CASE {0} WHEN {1} THEN 1 END", "(SELECT VALUE {0} FROM T t2)", "{0}[*]", "{0}.*",
    "{0}[{1}]", "{0}.k", "({0})",
]  # fmt: skip


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pairs = st.tuples(children, children)
    return st.one_of(
        st.tuples(pairs, st.sampled_from(BINARY)).map(lambda p: f"({p[0][0]} {p[1]} {p[0][1]})"),
        st.tuples(pairs, st.sampled_from(UNARY)).map(lambda p: p[1].format(*p[0])),
    )


expressions = st.recursive(st.sampled_from(ATOMS), _combine, max_leaves=6)


def _catalog() -> MemoryCatalog:
    catalog = MemoryCatalog()
    catalog.create(
        "T",
        [
            {"a": 1, "b": [1, "two", None], "c": {"d": 1.5}, "e": "x"},
            {"a": "s", "b": {"k": 1}, "c": None},
            {"b": [], "e": True},
        ],
        indexes=["a"],
    )
    return catalog


def _run(statement: str) -> None:
    try:
        parsed = parse(statement)
    except PartiQLError:
        return
    params = [1] * statement.count("?")
    with contextlib.suppress(PartiQLError):
        execute(parsed, _catalog(), params)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(statements)
def test_token_soup_never_crashes(statement: str) -> None:
    _run(statement)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shapes, expressions, expressions)
def test_well_shaped_statements_with_odd_expressions_never_crash(
    shape: str, first: str, second: str
) -> None:
    _run(shape.format(first, second))


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    deep = "SELECT VALUE " + " + ".join(["1"] * 5000) + " FROM <<0>>"
    with pytest.raises(PartiQLError, match="nests too deeply"):
        execute(deep, _catalog())
