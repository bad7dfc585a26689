"""Mango selector table tests: each operator, combinations, sort/fields/limit/skip/bookmarks."""

from __future__ import annotations

import itertools
import json

import pytest

from chaincode.errors import MangoError
from chaincode.mango import collate, execute, matches, parse_query

DOC = {
    "name": "widget",
    "size": 10,
    "price": 2.5,
    "tags": ["red", "small", "sale"],
    "owner": {"name": "ann", "org": "Org1"},
    "parts": [{"id": 1, "qty": 3}, {"id": 2, "qty": 0}],
    "active": True,
    "note": None,
}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"name": "widget"}, True),
        ({"name": "gadget"}, False),
        ({"size": {"$eq": 10}}, True),
        ({"size": {"$ne": 10}}, False),
        ({"missing": {"$ne": 1}}, False),
        ({"size": {"$gt": 9}}, True),
        ({"size": {"$gt": 10}}, False),
        ({"size": {"$gte": 10}}, True),
        ({"size": {"$lt": 11}}, True),
        ({"size": {"$lte": 9}}, False),
        ({"name": {"$gt": 5}}, True),  # strings collate after numbers
        ({"note": {"$lt": False}}, True),
        ({"size": {"$in": [1, 10]}}, True),
        ({"size": {"$nin": [1, 10]}}, False),
        ({"tags": {"$in": ["blue", "sale"]}}, True),
        ({"size": {"$exists": True}}, True),
        ({"missing": {"$exists": False}}, True),
        ({"missing": {"$exists": True}}, False),
        ({"tags": {"$all": ["red", "sale"]}}, True),
        ({"tags": {"$all": ["red", "blue"]}}, False),
        ({"tags": {"$size": 3}}, True),
        ({"tags": {"$size": 2}}, False),
        ({"size": {"$mod": [3, 1]}}, True),
        ({"size": {"$mod": [5, 1]}}, False),
        ({"price": {"$mod": [2, 0]}}, False),  # $mod only matches integers
        ({"name": {"$regex": "^wid"}}, True),
        ({"name": {"$regex": "^gad"}}, False),
        ({"name": {"$beginsWith": "wid"}}, True),
        ({"owner.org": {"$beginsWith": "Org2"}}, False),
        ({"size": {"$regex": "1"}}, False),
        ({"parts": {"$elemMatch": {"qty": {"$gt": 2}}}}, True),
        ({"parts": {"$elemMatch": {"qty": {"$gt": 5}}}}, False),
        ({"tags": {"$elemMatch": {"$eq": "small"}}}, True),
        ({"parts": {"$allMatch": {"id": {"$gt": 0}}}}, True),
        ({"owner.name": "ann"}, True),
        ({"owner": {"org": "Org1"}}, True),
        ({"owner": {"org": "Org2"}}, False),
        ({"$and": [{"size": 10}, {"active": True}]}, True),
        ({"$and": [{"size": 10}, {"active": False}]}, False),
        ({"$or": [{"size": 1}, {"name": "widget"}]}, True),
        ({"$or": [{"size": 1}, {"name": "x"}]}, False),
        ({"$nor": [{"size": 1}, {"name": "x"}]}, True),
        ({"$not": {"size": 10}}, False),
        ({"size": {"$not": {"$lt": 5}}}, True),
        ({"size": {"$gt": 5, "$lt": 20}}, True),
        ({"size": {"$type": "number"}, "tags": {"$type": "array"}}, True),
        ({"note": {"$type": "null"}}, True),
        ({"_id": "k1"}, True),
    ],
)
def test_selector(selector, expected):
    parse_query({"selector": selector})
    assert matches(selector, {**DOC, "_id": "k1"}) is expected


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"selector": {"a": {"$near": 1}}}, "$near"),
        ({"selector": {"$where": "x"}}, "$where"),
        ({"selector": {"a": {"$in": 3}}}, "$in"),
        ({"selector": {"a": {"$nin": "x"}}}, "$nin"),
        ({"selector": {"a": {"$all": {}}}}, "$all"),
        ({"selector": {"a": {"$size": -1}}}, "$size"),
        ({"selector": {"a": {"$mod": [0, 1]}}}, "$mod"),
        ({"selector": {"a": {"$mod": [2]}}}, "$mod"),
        ({"selector": {"a": {"$regex": "("}}}, "$regex"),
        ({"selector": {"a": {"$exists": "yes"}}}, "$exists"),
        ({"selector": {"a": {"$beginsWith": 1}}}, "$beginsWith"),
        ({"selector": {"a": {"$type": "date"}}}, "$type"),
        ({"selector": {"$and": {}}}, "$and"),
        ({"selector": {"$or": []}}, "$or"),
        ({"selector": {"a": {"$elemMatch": 3}}}, "$elemMatch"),
        ({"selector": {"a": {"$eq": 1, "b": 2}}}, "field a"),
        ({"selector": []}, "selector"),
        ({"selector": {}, "limit": -1}, "limit"),
        ({"selector": {}, "sort": [{"a": "up"}]}, "sort"),
        ({"selector": {}, "fields": "a"}, "fields"),
        ({"selector": {}, "frobnicate": 1}, "frobnicate"),
    ],
)
def test_malformed_query_names_the_bad_part(query, names):
    with pytest.raises(MangoError, match=names.replace("$", r"\$")):
        parse_query(json.dumps(query))


def test_non_json_query_is_refused():
    with pytest.raises(MangoError, match="not valid JSON"):
        parse_query("{selector")


def _docs(n: int) -> list[tuple[str, bytes]]:
    return [(f"k{i:02d}", json.dumps({"n": i % 4, "i": i}).encode()) for i in range(n)] + [
        ("raw", b"not json")
    ]


def test_default_order_is_by_key_and_non_json_values_never_match():
    page = execute(parse_query({"selector": {}}), _docs(5))
    assert [k for k, _ in page.results] == ["k00", "k01", "k02", "k03", "k04"]


def test_sort_fields_limit_skip():
    query = parse_query(
        {
            "selector": {"i": {"$gte": 0}},
            "sort": [{"n": "desc"}, {"i": "asc"}],
            "fields": ["i"],
            "skip": 1,
            "limit": 3,
        }
    )
    page = execute(query, _docs(8))
    assert [json.loads(v) for _, v in page.results] == [{"i": 7}, {"i": 2}, {"i": 6}]


def test_bookmarks_walk_every_result_exactly_once():
    query = parse_query({"selector": {}, "sort": [{"n": "asc"}]})
    seen, bookmark = [], ""
    while True:
        page = execute(query, _docs(10), page_size=3, bookmark=bookmark)
        if not page.results:
            break
        seen += [k for k, _ in page.results]
        bookmark = page.bookmark
    assert sorted(seen) == [f"k{i:02d}" for i in range(10)]
    assert len(seen) == 10


def test_foreign_bookmark_is_refused():
    with pytest.raises(MangoError, match="bookmark"):
        execute(parse_query({"selector": {}}), _docs(2), bookmark="@@@")


def test_collation_order_across_types():
    ordered = [None, False, True, -1, 2.5, "A", "a", [1], [1, 2], {"a": 1}]
    for lower, higher in itertools.pairwise(ordered):
        assert collate(lower, higher) < 0, (lower, higher)
