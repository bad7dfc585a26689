"""In-place edits of a document copy, for UPDATE and FROM … SET / REMOVE / INSERT.

A path is a list of steps: field names (``str``) and list positions (``int``).
"""

from __future__ import annotations

from typing import Any

from ledgerdb.partiql.errors import PartiQLEvaluationError, PartiQLSemanticError, PartiQLTypeError
from ledgerdb.partiql.values import MISSING, Kind, is_integer, kind, text


def apply_removals(document: Any, removals: list[list[str | int]]) -> bool:
    """Removes paths deepest and highest-positioned first; True if the document itself goes."""
    if any(not steps for steps in removals):
        return True
    unique = {tuple(steps): steps for steps in removals}.values()
    ordered = sorted(unique, key=lambda p: [(1, s) if isinstance(s, int) else (0, s) for s in p])
    for steps in reversed(ordered):
        remove(document, steps)
    return False


def navigate(document: Any, steps: list[str | int]) -> Any:
    current = document
    for step in steps:
        current = _child(current, step)
        if current is MISSING:
            where = ".".join(map(str, steps))
            raise PartiQLEvaluationError(f"INSERT INTO: no value at {where}")
    return current


def _child(container: Any, step: str | int) -> Any:
    if isinstance(step, int):
        if isinstance(container, list) and 0 <= step < len(container):
            return container[step]
        return MISSING
    if kind(container) is Kind.STRUCT:
        return container.get(step, MISSING)
    return MISSING


def assign(document: Any, steps: list[str | int], value: Any) -> None:
    """SET: writes ``value`` at the path, creating missing structs on the way (as QLDB)."""
    current = document
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(current, list) or not 0 <= step < len(current):
                raise PartiQLEvaluationError(f"SET: no list element [{step}] to assign")
            if last:
                current[step] = value
                return
            current = current[step]
            continue
        if kind(current) is not Kind.STRUCT:
            raise PartiQLTypeError("SET", f"cannot set field {step!r} of a non-struct value")
        if last:
            current[step] = value
            return
        if kind(current.get(step)) not in (Kind.STRUCT, Kind.LIST, Kind.SEXP):
            current[step] = {}
        current = current[step]


def remove(document: Any, steps: list[str | int]) -> None:
    parent = document
    for step in steps[:-1]:
        parent = _child(parent, step)
        if parent is MISSING:
            return
    last = steps[-1]
    if isinstance(last, int) and isinstance(parent, list) and 0 <= last < len(parent):
        del parent[last]
    elif isinstance(last, str) and kind(parent) is Kind.STRUCT:
        parent.pop(last, None)


def insert_into(target: Any, value: Any, key: Any) -> None:
    """Adds ``value`` to a list (at the end, or at position ``key``) or to a struct (as
    field ``key``, which must not exist yet)."""
    if isinstance(target, list):
        if key is None:
            target.append(value)
        elif is_integer(key) and 0 <= int(key) <= len(target):
            target.insert(int(key), value)
        else:
            raise PartiQLEvaluationError(
                f"INSERT INTO a list: AT {key!r} is not a position from 0 to {len(target)}"
            )
        return
    if kind(target) is not Kind.STRUCT:
        raise PartiQLTypeError("INSERT INTO", "the target must be a list or a struct")
    if key is None or kind(key) is not Kind.TEXT:
        raise PartiQLSemanticError("INSERT INTO a struct needs AT 'field name'")
    if text(key) in target:
        raise PartiQLEvaluationError(f"INSERT INTO: field {text(key)!r} already exists")
    target[text(key)] = value
