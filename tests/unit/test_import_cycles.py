"""No two modules of ours import each other, directly or around a loop (issue 17).

Every import counts, wherever it stands: at module level, inside a function, or under
``TYPE_CHECKING``. An import moved into a function still ties the two modules together
(and fails at run time instead of import time), so a loop is broken by moving what both
need to a third module, not by hiding an import.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.unit.test_layering import PARTS, ROOT


def _module_names() -> dict[str, Path]:
    names = {}
    for part in sorted(PARTS):
        for path in (ROOT / part).rglob("*.py"):
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            names[dotted.removesuffix(".__init__")] = path
    return names


MODULES = _module_names()


def _ours(name: str) -> str | None:
    """The module of ours that importing ``name`` loads (a package for a name in it)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str, path: Path) -> Iterator[str | None]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (_ours(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}".rstrip(".")
            yield from (_ours(f"{base}.{alias.name}") for alias in node.names)


def _graph() -> dict[str, set[str]]:
    return {
        module: {name for name in _imported(module, path) if name and name != module}
        for module, path in MODULES.items()
    }


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    """A shortest loop of imports that leads from ``start`` back to it, if any."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for module in frontier:
            for imported in sorted(graph[module]):
                if imported == start:
                    return [*paths[module], start]
                if imported not in paths:
                    paths[imported] = [*paths[module], imported]
                    following.append(imported)
        frontier = following
    return None


def test_no_module_imports_itself_around_a_loop() -> None:
    graph = _graph()
    loops = {" -> ".join(loop) for module in graph if (loop := _cycle_from(module, graph))}
    assert sorted(loops) == []


def test_the_check_sees_a_loop() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycle_from("a", graph) == ["a", "b", "c", "a"]
    assert _cycle_from("d", graph) is None
