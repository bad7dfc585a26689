"""The planner boundary: indexed equality/IN and document-id lookups never scan."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from amazon.ion import simpleion

from ledgerdb.partiql import MemoryCatalog, MemoryTable, Row, UnknownTable, execute, explain
from ledgerdb.partiql.values import text


class ScanForbidden(MemoryTable):
    """A table that fails the test if anything scans it."""

    def scan(self) -> Iterator[Row]:
        raise AssertionError(f"{self.name} was scanned")


def _catalog(count: int = 200) -> MemoryCatalog:
    catalog = MemoryCatalog()
    table = ScanForbidden("Car", "car-table-id")
    table.add_index("vin-index", ("VIN",))
    table.add_index("owner-index", ("Owner", "Id"))
    for number in range(count):
        table.put(f"doc{number}", {"VIN": f"V{number}", "Owner": {"Id": number % 10}, "N": number})
    catalog.tables["Car"] = table
    return catalog


@pytest.mark.parametrize(
    ("statement", "params", "expected"),
    [
        ("SELECT VALUE c.N FROM Car AS c WHERE c.VIN = 'V7'", [], [7]),
        ("SELECT VALUE c.N FROM Car AS c WHERE 'V7' = c.VIN", [], [7]),
        ("SELECT VALUE N FROM Car WHERE VIN = ?", ["V8"], [8]),
        ("SELECT VALUE c.N FROM Car c WHERE c.VIN IN ('V1', 'V2', 'nope')", [], [1, 2]),
        ("SELECT VALUE c.N FROM Car c WHERE c.VIN IN ? AND c.N > 1", [["V1", "V3"]], [3]),
        ("SELECT VALUE c.N FROM Car c WHERE c.Owner.Id = 3 AND c.N < 50", [], [3, 13, 23, 33, 43]),
        ("SELECT VALUE c.N FROM Car c WHERE c.Owner.Id = 3.0 AND c.N < 20", [], [3, 13]),
        ("SELECT VALUE c.N FROM Car AS c BY cid WHERE cid = 'doc42'", [], [42]),
        ("SELECT VALUE c.N FROM Car AS c BY cid WHERE cid IN ['doc1', 'doc2']", [], [1, 2]),
        ("SELECT VALUE c.N FROM Car c WHERE c.VIN = NULL", [], []),
        ("UPDATE Car AS c SET c.Seen = true WHERE c.VIN = 'V9'", [], None),
        ("DELETE FROM Car AS c WHERE c.VIN IN ['V1', 'V2']", [], None),
        ("FROM Car AS c WHERE c.VIN = 'V5' INSERT INTO c VALUE 1 AT 'Extra'", [], None),
    ],
)
def test_indexed_predicates_never_scan(statement: str, params: list[Any], expected: Any) -> None:
    result = execute(statement, _catalog(), params)
    assert result.plan is not None and result.plan.uses_index and not result.plan.scans
    if expected is not None:
        assert sorted(result.values) == expected
    else:
        assert result.changes


def test_join_uses_the_index_of_the_inner_table_per_outer_row() -> None:
    catalog = _catalog()
    catalog.create("Person", [{"Id": 3, "Name": "three"}, {"Id": 4, "Name": "four"}])
    result = execute(
        "SELECT p.Name, c.N FROM Person p, Car c WHERE c.Owner.Id = p.Id AND c.N < 14", catalog
    )
    assert sorted((v["Name"], v["N"]) for v in result.values) == [
        ("four", 4),
        ("three", 3),
        ("three", 13),
    ]
    assert "Car AS c: index lookup on Owner.Id (=)" in result.plan.describe()
    assert "Person AS p: full scan" in result.plan.describe()


def test_plan_description_says_whether_an_index_was_used() -> None:
    catalog = _catalog()
    described = explain("SELECT * FROM Car c WHERE c.VIN = ?", catalog, ["V1"]).describe()
    assert described.splitlines() == [
        "SELECT",
        "  Car AS c: index lookup on VIN (=)",
        "  (index used)",
    ]
    catalog.create("Plain", [{"a": 1}])
    described = explain("SELECT * FROM Plain p WHERE p.a = 1", catalog).describe()
    assert described.endswith("(no index used; full scan)")


def test_non_indexed_or_non_equality_predicates_scan() -> None:
    catalog = MemoryCatalog()
    catalog.create("T", [{"a": n} for n in range(5)], indexes=["a"])
    for statement in (
        "SELECT * FROM T t WHERE t.a > 2",
        "SELECT * FROM T t WHERE t.a = 1 OR t.a = 2",
        "SELECT * FROM T t WHERE t.a NOT IN [1]",
        "SELECT * FROM T t WHERE t.a = t.a",
    ):
        plan = execute(statement, catalog).plan
        assert plan is not None and plan.scans and not plan.uses_index, statement


def test_subqueries_are_planned_too() -> None:
    catalog = _catalog()
    catalog.create("Wanted", [{"VIN": "V3"}, {"VIN": "V4"}])
    result = execute(
        "SELECT VALUE w.VIN FROM Wanted w WHERE EXISTS("
        "SELECT * FROM Car c WHERE c.VIN = w.VIN AND c.N > 3)",
        catalog,
    )
    assert result.values == ["V4"]
    assert "Car AS c: index lookup on VIN (=)" in result.plan.describe()


def test_select_star_with_by_includes_the_document_id() -> None:
    catalog = MemoryCatalog()
    table = catalog.create("T", [{"a": 1}])
    [document_id] = table.documents
    result = execute("SELECT * FROM T AS t BY tid", catalog)
    assert result.values == [{"a": 1, "tid": document_id}]


@dataclass
class _HistoryTable:
    """A stand-in for the database's history view: revisions with metadata."""

    name: str
    table_id: str
    revisions: list[Any]
    looked_up: list[Any] = field(default_factory=list)

    def indexes(self) -> Mapping[str, tuple[str, ...]]:
        return {"by-id": ("metadata", "id")}

    def scan(self) -> Iterator[Row]:
        raise AssertionError("history scanned")

    def lookup(self, path: tuple[str, ...], values: Sequence[Any]) -> Iterator[Row]:
        self.looked_up.extend(values)
        for number, revision in enumerate(self.revisions):
            if text(revision["metadata"]["id"]) in {text(v) for v in values}:
                yield Row(f"rev{number}", revision)

    def get(self, document_id: str) -> Row | None:
        return None


class _LedgerCatalog(MemoryCatalog):
    def __init__(self) -> None:
        super().__init__()
        revisions = simpleion.loads(
            "[{blockAddress: {sequenceNo: 1}, data: {a: 1}, metadata: {id: d1, version: 0}},"
            " {blockAddress: {sequenceNo: 2}, data: {a: 2}, metadata: {id: d1, version: 1}},"
            " {blockAddress: {sequenceNo: 2}, data: {b: 1}, metadata: {id: d2, version: 0}}]"
        )
        self.history_table = _HistoryTable("T", "tid", list(revisions))
        self.bounds: list[Any] = []
        self.create("information_schema.user_tables", [{"name": "T", "status": "ACTIVE"}])

    def history(self, name_or_id: str, start: Any, end: Any) -> Any:
        self.bounds.append((name_or_id, start, end))
        return self.history_table if name_or_id in ("T", "tid") else None


def test_history_is_a_from_source_with_its_own_indexes() -> None:
    catalog = _LedgerCatalog()
    result = execute(
        "SELECT h.data.a, h.metadata.version FROM history(T, `2020T`) AS h "
        "WHERE h.metadata.id = ? ORDER BY h.metadata.version",
        catalog,
        ["d1"],
    )
    assert result.values == [{"a": 1, "version": 0}, {"a": 2, "version": 1}]
    assert catalog.history_table.looked_up == ["d1"]
    assert catalog.bounds[0][0] == "T" and catalog.bounds[0][1].year == 2020
    assert "history(T) AS h: index lookup on metadata.id (=)" in result.plan.describe()
    by_id = execute(
        "SELECT VALUE h.data FROM history('tid') AS h WHERE h.metadata.id = 'd2'", catalog
    )
    assert by_id.values == [{"b": 1}]
    with pytest.raises(UnknownTable):
        execute("SELECT * FROM history(Nope) AS h", catalog)


def test_dotted_system_view_names_resolve_through_the_catalog() -> None:
    catalog = _LedgerCatalog()
    result = execute("SELECT VALUE t.name FROM information_schema.user_tables AS t", catalog)
    assert result.values == ["T"]


def test_join_on_document_id_as_qldb_documents_it() -> None:
    catalog = MemoryCatalog()
    people = catalog.create("Person", [{"Name": "Raul"}, {"Name": "Brent"}])
    raul = next(i for i, d in people.documents.items() if d["Name"] == "Raul")
    catalog.create("DriversLicense", [{"PersonId": raul, "Class": "A"}, {"PersonId": "x"}])
    result = execute(
        "SELECT * FROM DriversLicense AS d INNER JOIN Person AS p BY pid "
        "ON d.PersonId = pid WHERE pid = ?",
        catalog,
        [raul],
    )
    assert result.values == [{"PersonId": raul, "Class": "A", "Name": "Raul", "pid": raul}]
    assert "Person AS p: document id lookup" in result.plan.describe()
