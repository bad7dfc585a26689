"""CouchDB Mango queries over JSON values: one evaluator for the harness and the peer.

Semantics follow CouchDB's ``_find``: a missing field fails every condition except
``{"$exists": false}``; range operators compare across types with CouchDB's collation
(null < false < true < numbers < strings < arrays < objects); an object value without
operators is a selector on the nested field. Strings compare by code point, not ICU.
Errors raise ``MangoError`` naming the bad operator or field.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from chaincode.errors import MangoError

_MISSING = object()
_COMBINATORS = {"$and", "$or", "$nor", "$not"}
_TYPE_NAMES = {"null", "boolean", "number", "string", "array", "object"}


@dataclass(frozen=True)
class Query:
    selector: dict[str, Any]
    sort: list[tuple[str, bool]] = field(default_factory=list)
    fields: list[str] | None = None
    limit: int | None = None
    skip: int = 0
    bookmark: str = ""


@dataclass(frozen=True)
class Page:
    """Matching (key, value bytes) pairs and the bookmark to resume after the last one."""

    results: list[tuple[str, bytes]]
    bookmark: str


# --- collation ---------------------------------------------------------------------------


def _rank(value: Any) -> int:
    if value is None:
        return 0
    if value is False:
        return 1
    if value is True:
        return 2
    if isinstance(value, int | float):
        return 3
    if isinstance(value, str):
        return 4
    if isinstance(value, list):
        return 5
    return 6


def collate(a: Any, b: Any) -> int:
    """CouchDB view collation: -1, 0 or 1."""
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra in (3, 4):
        return (a > b) - (a < b)
    if ra == 5:
        for x, y in zip(a, b, strict=False):
            c = collate(x, y)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ra == 6:
        return collate(sorted(a.items()), sorted(b.items()))
    return 0


class _Collated:
    """Sort key wrapper so ``sorted`` uses CouchDB collation."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: _Collated) -> bool:
        return collate(self.value, other.value) < 0

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Collated) and collate(self.value, other.value) == 0


# --- parsing -----------------------------------------------------------------------------


def parse_query(text: str | bytes | dict) -> Query:
    """Validate a ``_find`` body and return it as a ``Query``."""
    if isinstance(text, dict):
        body = text
    else:
        try:
            body = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MangoError(f"query: not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise MangoError("query: must be a JSON object")
    unknown = set(body) - {"selector", "sort", "fields", "limit", "skip", "bookmark", "use_index"}
    unknown -= {"execution_stats", "r", "conflicts", "update", "stable", "stale"}
    if unknown:
        raise MangoError(f"query: unknown field {sorted(unknown)[0]!r}")
    selector = body.get("selector")
    if not isinstance(selector, dict):
        raise MangoError("query: selector must be a JSON object")
    check_selector(selector)
    return Query(
        selector=selector,
        sort=_parse_sort(body.get("sort", [])),
        fields=_parse_fields(body.get("fields")),
        limit=_non_negative(body, "limit", None),
        skip=_non_negative(body, "skip", 0) or 0,
        bookmark=_parse_bookmark_field(body.get("bookmark", "")),
    )


def _non_negative(body: dict, name: str, default: int | None) -> int | None:
    value = body.get(name, default)
    if value is default:
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MangoError(f"query: {name} must be a non-negative integer")
    return value


def _parse_bookmark_field(value: Any) -> str:
    if not isinstance(value, str):
        raise MangoError("query: bookmark must be a string")
    return value


def _parse_sort(sort: Any) -> list[tuple[str, bool]]:
    if not isinstance(sort, list):
        raise MangoError("query: sort must be an array")
    result = []
    for item in sort:
        if isinstance(item, str):
            result.append((item, True))
        elif isinstance(item, dict) and len(item) == 1:
            ((name, direction),) = item.items()
            if direction not in ("asc", "desc"):
                raise MangoError(f"query: sort direction for {name!r} must be 'asc' or 'desc'")
            result.append((name, direction == "asc"))
        else:
            raise MangoError("query: sort entries must be a field name or {field: 'asc'|'desc'}")
    return result


def _parse_fields(fields: Any) -> list[str] | None:
    if fields is None:
        return None
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise MangoError("query: fields must be an array of field names")
    return fields


def check_selector(selector: Any, where: str = "selector") -> None:
    """Reject unknown operators and badly typed operator arguments before evaluating."""
    if not isinstance(selector, dict):
        raise MangoError(f"{where}: must be a JSON object")
    for name, value in selector.items():
        if name in ("$and", "$or", "$nor"):
            if not isinstance(value, list) or not value:
                raise MangoError(f"operator {name}: argument must be a non-empty array")
            for sub in value:
                check_selector(sub, f"operator {name}")
        elif name == "$not":
            check_selector(value, "operator $not")
        elif name.startswith("$"):
            raise MangoError(f"operator {name}: unknown or not allowed at the top of a selector")
        else:
            _check_condition(name, value)


def _check_condition(field_name: str, condition: Any) -> None:
    if not isinstance(condition, dict) or not condition:
        return
    operators = [k for k in condition if k.startswith("$")]
    if not operators:
        check_selector(condition, f"field {field_name}")
        return
    if len(operators) != len(condition):
        raise MangoError(f"field {field_name}: cannot mix operators and field names")
    for op, arg in condition.items():
        checker = _ARG_CHECKS.get(op)
        if checker is None:
            raise MangoError(f"operator {op}: unknown operator (field {field_name})")
        checker(op, arg)


def _need(predicate: Callable[[Any], bool], text: str) -> Callable[[str, Any], None]:
    def check(op: str, arg: Any) -> None:
        if not predicate(arg):
            raise MangoError(f"operator {op}: argument must be {text}")

    return check


def _check_regex(op: str, arg: Any) -> None:
    if not isinstance(arg, str):
        raise MangoError(f"operator {op}: argument must be a string")
    try:
        re.compile(arg)
    except re.error as exc:
        raise MangoError(f"operator {op}: invalid regular expression ({exc})") from None


def _check_mod(op: str, arg: Any) -> None:
    ok = (
        isinstance(arg, list)
        and len(arg) == 2
        and all(isinstance(x, int) and not isinstance(x, bool) for x in arg)
        and arg[0] != 0
    )
    if not ok:
        raise MangoError(f"operator {op}: argument must be [divisor, remainder], divisor non-zero")


def _check_elem_match(op: str, arg: Any) -> None:
    if not isinstance(arg, dict):
        raise MangoError(f"operator {op}: argument must be an object")
    if any(k.startswith("$") and k not in _COMBINATORS for k in arg):
        for k, v in arg.items():
            _check_condition("<element>", {k: v})
    else:
        check_selector(arg, f"operator {op}")


def _is_array(arg: Any) -> bool:
    return isinstance(arg, list)


def _is_int(arg: Any) -> bool:
    return isinstance(arg, int) and not isinstance(arg, bool) and arg >= 0


def _any_arg(op: str, arg: Any) -> None:
    return None


def _check_not(op: str, arg: Any) -> None:
    if not isinstance(arg, dict):
        raise MangoError(f"operator {op}: argument must be an object")
    _check_condition("<$not>", arg)


_ARG_CHECKS: dict[str, Callable[[str, Any], None]] = {
    "$eq": _any_arg,
    "$ne": _any_arg,
    "$gt": _any_arg,
    "$gte": _any_arg,
    "$lt": _any_arg,
    "$lte": _any_arg,
    "$in": _need(_is_array, "an array"),
    "$nin": _need(_is_array, "an array"),
    "$all": _need(_is_array, "an array"),
    "$exists": _need(lambda a: isinstance(a, bool), "true or false"),
    "$type": _need(lambda a: a in _TYPE_NAMES, f"one of {sorted(_TYPE_NAMES)}"),
    "$size": _need(_is_int, "a non-negative integer"),
    "$mod": _check_mod,
    "$regex": _check_regex,
    "$beginsWith": _need(lambda a: isinstance(a, str), "a string"),
    "$elemMatch": _check_elem_match,
    "$allMatch": _check_elem_match,
    "$not": _check_not,
}


# --- matching ----------------------------------------------------------------------------


def _get_path(doc: Any, path: str) -> Any:
    value = doc
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def matches(selector: dict[str, Any], doc: Any) -> bool:
    """Whether ``doc`` (already checked by ``check_selector``) satisfies ``selector``."""
    for name, cond in selector.items():
        if name == "$and":
            ok = all(matches(s, doc) for s in cond)
        elif name == "$or":
            ok = any(matches(s, doc) for s in cond)
        elif name == "$nor":
            ok = not any(matches(s, doc) for s in cond)
        elif name == "$not":
            ok = not matches(cond, doc)
        else:
            ok = _match_condition(_get_path(doc, name), cond)
        if not ok:
            return False
    return True


def _match_condition(value: Any, cond: Any) -> bool:
    if isinstance(cond, dict) and cond and all(k.startswith("$") for k in cond):
        return all(_OPERATORS[op](value, arg) for op, arg in cond.items())
    if isinstance(cond, dict) and cond:
        return value is not _MISSING and matches(cond, value)
    return value is not _MISSING and collate(value, cond) == 0


def _present(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    return lambda value, arg: value is not _MISSING and fn(value, arg)


def _in(value: Any, arg: list) -> bool:
    candidates = value if isinstance(value, list) else [value]
    return any(collate(v, a) == 0 for v in candidates for a in arg)


def _all(value: Any, arg: list) -> bool:
    return isinstance(value, list) and all(any(collate(v, a) == 0 for v in value) for a in arg)


def _elem(value: Any, arg: dict) -> bool:
    return isinstance(value, list) and any(_match_element(v, arg) for v in value)


def _all_elem(value: Any, arg: dict) -> bool:
    return isinstance(value, list) and bool(value) and all(_match_element(v, arg) for v in value)


def _match_element(element: Any, arg: dict) -> bool:
    if all(k.startswith("$") and k not in _COMBINATORS for k in arg):
        return _match_condition(element, arg)
    return matches(arg, element)


def _type_of(value: Any) -> str:
    return ["null", "boolean", "boolean", "number", "string", "array", "object"][_rank(value)]


def _mod(value: Any, arg: list) -> bool:
    if isinstance(value, bool) or not isinstance(value, int):
        return False
    divisor, remainder = arg
    # CouchDB uses Erlang's rem: the sign follows the dividend.
    return int(value - divisor * int(value / divisor)) == remainder


def _regex(value: Any, arg: str) -> bool:
    return isinstance(value, str) and re.search(arg, value) is not None


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": _present(lambda v, a: collate(v, a) == 0),
    "$ne": _present(lambda v, a: collate(v, a) != 0),
    "$gt": _present(lambda v, a: collate(v, a) > 0),
    "$gte": _present(lambda v, a: collate(v, a) >= 0),
    "$lt": _present(lambda v, a: collate(v, a) < 0),
    "$lte": _present(lambda v, a: collate(v, a) <= 0),
    "$in": _present(_in),
    "$nin": _present(lambda v, a: not _in(v, a)),
    "$all": _present(_all),
    "$exists": lambda v, a: (v is not _MISSING) == a,
    "$type": _present(lambda v, a: _type_of(v) == a),
    "$size": _present(lambda v, a: isinstance(v, list) and len(v) == a),
    "$mod": _present(_mod),
    "$regex": _present(_regex),
    "$beginsWith": _present(lambda v, a: isinstance(v, str) and v.startswith(a)),
    "$elemMatch": _present(_elem),
    "$allMatch": _present(_all_elem),
    "$not": _present(lambda v, a: not _match_condition(v, a)),
}


# --- execution ---------------------------------------------------------------------------


def project(doc: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Keep only ``fields`` (dotted paths allowed), as CouchDB's ``fields`` does."""
    out: dict[str, Any] = {}
    for path in fields:
        value = _get_path(doc, path)
        if value is _MISSING:
            continue
        target = out
        parts = path.split(".")
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return out


def _sort_key(query: Query, key: str, doc: dict) -> list:
    values = []
    for name, _asc in query.sort:
        value = _get_path(doc, name)
        values.append(None if value is _MISSING else value)
    values.append(key)
    return values


def encode_bookmark(position: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode()


def decode_bookmark(bookmark: str) -> list:
    try:
        position = json.loads(base64.urlsafe_b64decode(bookmark.encode()))
    except (ValueError, UnicodeDecodeError):
        raise MangoError(f"bookmark: {bookmark!r} is not a bookmark this query returned") from None
    if not isinstance(position, list) or not position or not isinstance(position[-1], str):
        raise MangoError(f"bookmark: {bookmark!r} is not a bookmark this query returned")
    return position


def _compare_positions(query: Query, a: list, b: list) -> int:
    for (_name, asc), x, y in zip(query.sort, a, b, strict=False):
        c = collate(x, y)
        if c:
            return c if asc else -c
    return (a[-1] > b[-1]) - (a[-1] < b[-1])


def execute(
    query: Query,
    documents: Iterable[tuple[str, bytes]],
    page_size: int = 0,
    bookmark: str = "",
) -> Page:
    """Run ``query`` over (key, JSON value) pairs in key order; non-JSON values never match.

    ``page_size`` > 0 (Fabric's paginated query) overrides the query's ``limit``; the
    returned bookmark resumes after the last result, in the query's sort order.
    """
    candidates = []
    for key, raw in documents:
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue
        if not isinstance(doc, dict):
            continue
        view = {**doc, "_id": key}
        if matches(query.selector, view):
            candidates.append((_sort_key(query, key, view), key, raw, view))
    if query.sort:
        candidates.sort(
            key=functools.cmp_to_key(lambda x, y: _compare_positions(query, x[0], y[0]))
        )
    start = bookmark or query.bookmark
    if start:
        after = decode_bookmark(start)
        candidates = [c for c in candidates if _compare_positions(query, c[0], after) > 0]
    candidates = candidates[query.skip :]
    limit = page_size if page_size > 0 else query.limit
    if limit is not None:
        candidates = candidates[:limit]
    results = [
        (key, raw if query.fields is None else json.dumps(project(view, query.fields)).encode())
        for _pos, key, raw, view in candidates
    ]
    next_bookmark = encode_bookmark(candidates[-1][0]) if candidates else start
    return Page(results, next_bookmark)
