"""Statements end to end: DDL flows, changes, parameters, the clock, parser details."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from amazon.ion import simpleion

from ledgerdb.partiql import (
    CreateIndex,
    CreateTable,
    DeleteDocument,
    DropIndex,
    DropTable,
    InsertDocument,
    MemoryCatalog,
    PartiQLSemanticError,
    PartiQLSyntaxError,
    PartiQLTypeError,
    UndropTable,
    UnknownTable,
    UpdateDocument,
    ast,
    execute,
    parse,
)


def _run(catalog: MemoryCatalog, statement: str, *params: object) -> list[object]:
    result = execute(statement, catalog, params)
    catalog.apply(result.changes)
    return result.values


def test_table_and_index_lifecycle() -> None:
    catalog = MemoryCatalog()
    created = execute("CREATE TABLE Car", catalog)
    [change] = created.changes
    assert isinstance(change, CreateTable) and change.table == "Car"
    assert created.values == [{"tableId": change.table_id}]
    catalog.apply(created.changes)

    indexed = execute("CREATE INDEX ON Car (VIN)", catalog)
    [index] = indexed.changes
    assert isinstance(index, CreateIndex) and index.path == ("VIN",)
    catalog.apply(indexed.changes)
    for field in "ABCD":
        _run(catalog, f"CREATE INDEX ON Car ({field})")
    with pytest.raises(PartiQLSemanticError, match="5 indexes"):
        execute("CREATE INDEX ON Car (E)", catalog)

    dropped_index = execute(f'DROP INDEX "{index.index_id}" ON Car WITH (purge = true)', catalog)
    assert dropped_index.changes == [DropIndex("Car", change.table_id, index.index_id)]
    catalog.apply(dropped_index.changes)

    _run(catalog, "INSERT INTO Car VALUE {'VIN': 'V1'}")
    dropped = execute("DROP TABLE Car", catalog)
    assert dropped.changes == [DropTable("Car", change.table_id)]
    catalog.apply(dropped.changes)
    assert catalog.table("Car") is None

    undropped = execute(f"UNDROP TABLE '{change.table_id}'", catalog)
    assert undropped.changes == [UndropTable("Car", change.table_id)]
    catalog.apply(undropped.changes)
    assert _run(catalog, "SELECT VALUE c.VIN FROM Car c") == ["V1"]
    with pytest.raises(UnknownTable):
        execute(f'UNDROP TABLE "{change.table_id}"', catalog)


def test_dml_changes_carry_whole_documents_and_qldb_results() -> None:
    catalog = MemoryCatalog()
    catalog.create("T", [], indexes=["k"])
    inserted = execute("INSERT INTO T << {'k': 1, 'v': 'a'}, {'k': 2, 'v': 'b'} >>", catalog)
    assert [type(c) for c in inserted.changes] == [InsertDocument, InsertDocument]
    ids = [c.document_id for c in inserted.changes]
    assert inserted.values == [{"documentId": i} for i in ids]
    assert all(len(i) == 22 and i.isalnum() for i in ids)
    catalog.apply(inserted.changes)

    updated = execute("UPDATE T AS t SET t.v = upper(t.v) WHERE t.k = 1", catalog)
    assert updated.changes == [UpdateDocument("T", ids[0], {"k": 1, "v": "A"})]
    assert updated.values == [{"documentId": ids[0]}]
    deleted = execute("DELETE FROM T AS t WHERE t.k IN (1, 2)", catalog)
    assert sorted(deleted.changes, key=lambda c: c.document_id) == sorted(
        (DeleteDocument("T", i) for i in ids), key=lambda c: c.document_id
    )


def test_evaluation_writes_nothing_itself() -> None:
    catalog = MemoryCatalog()
    table = catalog.create("T", [{"a": 1}])
    before = dict(table.documents)
    execute("UPDATE T SET a = 2", catalog)
    execute("INSERT INTO T VALUE {'a': 3}", catalog)
    execute("DELETE FROM T", catalog)
    assert table.documents == before


def test_parameters_are_ion_values_in_order() -> None:
    catalog = MemoryCatalog()
    catalog.create("T", [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    params = simpleion.loads('[2, "y"]')
    result = execute("SELECT VALUE t.a FROM T t WHERE t.a = ? AND t.b = ?", catalog, params)
    assert result.values == [2]


def test_utcnow_reads_the_injected_clock() -> None:
    moment = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    result = execute("SELECT VALUE utcnow() FROM <<0>>", MemoryCatalog(), clock=lambda: moment)
    assert simpleion.dumps(result.values[0], binary=False, omit_version_marker=True) == (
        "2024-05-06T07:08:09.123Z"
    )


def test_results_dump_as_ion() -> None:
    catalog = MemoryCatalog()
    catalog.create("T", simpleion.loads("[{a: 1.50, t: 2020-01-01T, s: sym}]"))
    result = execute("SELECT t.a, t.t, t.s, <<1>> AS b FROM T t", catalog)
    text = simpleion.dumps(result.values, binary=False, omit_version_marker=True)
    assert text == "[{a:1.50,t:2020-01-01,s:sym,b:[1]}]"


def test_parse_builds_typed_frozen_nodes() -> None:
    statement = parse("select * from T as t at i by d where t.a = ? and t.b in (?, 3);")
    assert isinstance(statement, ast.Query) and isinstance(statement.expr, ast.Select)
    select = statement.expr
    assert select.sources == (ast.FromItem(ast.Var("T"), "t", "i", "d"),)
    assert select.where == ast.Binary(
        "and",
        ast.Binary("=", ast.Path(ast.Var("t"), (ast.FieldStep("a"),)), ast.Param(0)),
        ast.InTest(
            ast.Path(ast.Var("t"), (ast.FieldStep("b"),)),
            ast.ListCtor((ast.Param(1), ast.Literal(3))),
            False,
        ),
    )
    with pytest.raises(AttributeError):
        select.where = None  # type: ignore[misc]


def test_literals_and_quoting() -> None:
    statement = parse("SELECT VALUE [\"select\", 'it''s', 1.50, 2e1, -3] FROM <<0>>")
    items = statement.expr.projection.expr.items  # type: ignore[attr-defined]
    assert items[0] == ast.Var("select")
    assert items[1:] == (
        ast.Literal("it's"),
        ast.Literal(Decimal("1.50")),
        ast.Literal(Decimal("2e1")),
        ast.Literal(-3),
    )


@pytest.mark.parametrize(
    ("statement", "line", "column", "token"),
    [
        ("SELECT * FROM T WHERE a ==", 1, 26, "="),
        ("SELECT *\n  FROM T\n  WHERE (a = 1", 3, 15, ""),
        ("INSERT INTO T VALUES {'a': 1}", 1, 22, "{"),
        ("CREATE TABLE", 1, 13, ""),
        ("SELECT value FROM T", 1, 14, "FROM"),
        ("SELECT FROM T", 1, 8, "FROM"),
        ('SELECT *\nFROM T WHERE a = "x', 2, 18, '"'),
        ("SELECT x.value, count FROM T x", 1, 23, "FROM"),
    ],
)
def test_syntax_errors_name_line_column_and_token(
    statement: str, line: int, column: int, token: str
) -> None:
    with pytest.raises(PartiQLSyntaxError) as raised:
        parse(statement)
    assert (raised.value.line, raised.value.column, raised.value.token) == (line, column, token)
    assert f"Error: at line {line}, column {column}: " in str(raised.value)


def test_duplicate_from_variables_are_rejected() -> None:
    with pytest.raises(PartiQLSemanticError, match="bound twice"):
        parse("SELECT * FROM T AS x, U AS x")


def test_parameters_must_be_ion_values() -> None:
    with pytest.raises(PartiQLTypeError, match="parameter 2 is not an Ion value: set"):
        execute("SELECT * FROM <<?, ?>> AS x", MemoryCatalog(), [1, {1}])


def test_txid_returns_the_transaction_id_the_database_passes() -> None:
    result = execute(
        "SELECT TXID() FROM <<0>>", MemoryCatalog(), transaction_id="L7S9iJqcn9W2M4qOEn27ay"
    )
    assert result.values == [{"_1": "L7S9iJqcn9W2M4qOEn27ay"}]


def test_updates_keep_the_annotations_of_untouched_values() -> None:
    catalog = MemoryCatalog()
    catalog.create("T", [simpleion.loads("{k: 1, a: tag::{b: 1}, c: t2::[1, 2], d: x::5}")])
    result = execute("UPDATE T AS t SET t.a.z = 2, t.e = 3 WHERE t.k = 1", catalog)
    [change] = result.changes
    text = simpleion.dumps(change.document, binary=False, omit_version_marker=True)
    assert text == "{k:1,a:tag::{b:1,z:2},c:t2::[1,2],d:x::5,e:3}"
