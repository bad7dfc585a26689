"""Each operation can answer only with the error types AMB's model lists for it.

The errors an operation raises are found in its code: the ``raise`` statements of its
function and of every function it calls, transitively, within the control plane's
operation modules and the helpers they use. The REST layer's own answers (a bad
signature's AccessDeniedException, ThrottlingException, InternalServiceErrorException)
are among AWS's common errors, which every AWS API may answer.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import network.controlplane
from network.controlplane.operations import OPERATIONS
from tests.support import amb_model

ROOT = Path(network.controlplane.__file__).parent
SOURCES = [*sorted((ROOT / "operations").glob("*.py")), ROOT / "pagination.py"]
# Raised before any operation runs, by every one: the shapes, the route's ids, a reused
# ClientRequestToken (service.py) all answer InvalidRequestException.
BEFORE_ANY = {"InvalidRequestException"}


def _functions() -> dict[str, dict[str, ast.FunctionDef]]:
    """Module stem -> its top-level functions."""
    found: dict[str, dict[str, ast.FunctionDef]] = {}
    for source in SOURCES:
        tree = ast.parse(source.read_text())
        found[source.stem] = {
            node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)
        }
    return found


FUNCTIONS = _functions()


def _resolve(module: str, name: str) -> tuple[str, ast.FunctionDef] | None:
    if name in FUNCTIONS[module]:
        return module, FUNCTIONS[module][name]
    owners = [m for m, defs in FUNCTIONS.items() if name in defs and not name.startswith("_")]
    return (owners[0], FUNCTIONS[owners[0]][name]) if len(owners) == 1 else None


def _raised(module: str, function: ast.FunctionDef, seen: set[str]) -> Iterator[str]:
    key = f"{module}.{function.name}"
    if key in seen:
        return
    seen.add(key)
    for node in ast.walk(function):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            called = node.exc.func
            if isinstance(called, ast.Name) and called.id.endswith("Exception"):
                yield called.id
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            target = _resolve(module, node.func.id)
            if target is not None:
                yield from _raised(*target, seen)


def raised_by(name: str) -> set[str]:
    operation = next(o for o in OPERATIONS if o.name == name)
    module = Path(inspect.getsourcefile(operation.run) or "").stem
    return set(_raised(module, FUNCTIONS[module][operation.run.__name__], set()))


def test_the_walk_finds_errors() -> None:
    assert "ResourceLimitExceededException" in raised_by("CreateNode")
    assert "TooManyTagsException" in raised_by("CreateNetwork")  # through stage_member


@pytest.mark.parametrize("name", amb_model.SERVED)
def test_errors_are_those_the_model_lists(name: str) -> None:
    listed = {error["shape"] for error in amb_model.MODEL["operations"][name].get("errors", [])}
    unlisted = (raised_by(name) | BEFORE_ANY) - listed
    assert not unlisted, f"{name} may answer {sorted(unlisted)}; AMB lists {sorted(listed)}"
