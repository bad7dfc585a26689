"""The import direction of DESIGN.md, enforced: a part imports only the parts below it.

Every module's imports are read with ``ast`` (nothing is executed), so a violation is
found even in code no test imports.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ALLOWED: dict[str, set[str]] = {
    "proto": set(),
    "ledgerdb": {"proto"},
    "ca": {"proto"},
    "chaincode": {"proto"},
    "ordering": {"proto", "ledgerdb", "ca"},
    "peers": {"proto", "ledgerdb", "ca", "chaincode"},
    "network": {"proto", "ledgerdb", "ca", "chaincode", "ordering", "peers"},
}
PARTS = set(ALLOWED)
SAMPLES = ROOT / "chaincode" / "samples"


def imported_parts(source: str) -> set[str]:
    """The project parts a module's source imports (absolute imports only)."""
    return {name.split(".")[0] for name in imported_names(source)} & PARTS


def imported_names(source: str) -> set[str]:
    """The modules a source imports by absolute name, wherever the import stands."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def violations(part: str, source: str) -> set[str]:
    return imported_parts(source) - ALLOWED[part] - {part}


def _modules() -> list[tuple[str, Path]]:
    return [
        (part, path)
        for part in sorted(PARTS)
        for path in sorted((ROOT / part).rglob("*.py"))
        if SAMPLES not in path.parents
    ]


@pytest.mark.parametrize(
    ("part", "path"), _modules(), ids=lambda value: str(value).replace(str(ROOT) + "/", "")
)
def test_module_imports_only_allowed_parts(part: str, path: Path) -> None:
    bad = violations(part, path.read_text())
    assert not bad, f"{path.relative_to(ROOT)} ({part}) imports {sorted(bad)}, not allowed"


def test_sample_contracts_import_no_project_part() -> None:
    """Contracts must run unchanged on real Fabric, so they see only the contract API."""
    for path in sorted(SAMPLES.rglob("*.py")):
        assert not imported_parts(path.read_text()), f"{path} imports a project part"


@pytest.mark.parametrize(
    ("part", "source", "expected"),
    [
        ("peers", "from ordering.broadcast import x", {"ordering"}),
        ("ledgerdb", "import ca.msp", {"ca"}),
        ("proto", "from ledgerdb import journal", {"ledgerdb"}),
        ("ordering", "from ledgerdb import journal\nimport ca", set()),
        ("network", "import peers, ordering", set()),
        ("chaincode", "from . import shim\nimport json", set()),
    ],
)
def test_checker_catches_what_the_design_forbids(part: str, source: str, expected: set) -> None:
    assert violations(part, source) == expected


def _imports_unit_tests(source: str) -> bool:
    return any(name.split(".")[:2] == ["tests", "unit"] for name in imported_names(source))


def test_only_unit_tests_import_unit_tests() -> None:
    """Helpers that other kinds of tests share live in ``tests/support``, so a unit test
    can change without breaking an integration, conformance or bench test."""
    tests = ROOT / "tests"
    unit = tests / "unit"
    outside = [
        path.relative_to(ROOT)
        for path in sorted(tests.rglob("*.py"))
        if unit not in path.parents
        and "node_modules" not in path.parts
        and _imports_unit_tests(path.read_text(encoding="utf-8"))
    ]
    assert outside == []
