"""One error root per part (issue 17): every exception class a part defines subclasses
the part's root, says in its docstring when it is raised, and appears in the tree that
the part's ``errors.py`` docstring draws.

A caller can then catch one class per part (``except LedgerError`` also catches
PartiQL's errors), and a reader finds the whole tree in one place.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from types import ModuleType

import pytest

from ca.errors import CaError
from chaincode.errors import ChaincodeError
from ledgerdb.errors import LedgerError
from network.errors import NetworkError
from ordering.errors import OrderingError
from peers.errors import PeerError
from proto.errors import ProtoError

ROOTS: dict[str, type[Exception]] = {
    "ca": CaError,
    "chaincode": ChaincodeError,
    "ledgerdb": LedgerError,
    "network": NetworkError,
    "ordering": OrderingError,
    "peers": PeerError,
    "proto": ProtoError,
}

# Contract code imports only the Fabric contract API (DESIGN.md): the vendored client
# identity module is copied into contracts, so its error cannot import ours.
CONTRACT_CODE = ("chaincode.client_identity", "chaincode.samples")


def _modules(part: str) -> list[ModuleType]:
    package = importlib.import_module(part)
    names = [part] + [info.name for info in pkgutil.walk_packages(package.__path__, f"{part}.")]
    return [importlib.import_module(name) for name in names if not name.startswith(CONTRACT_CODE)]


def _exceptions(part: str) -> list[type[BaseException]]:
    """Every exception class defined (not merely imported) in one of the part's modules."""
    return [
        value
        for module in _modules(part)
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, BaseException)
        and value.__module__ == module.__name__
    ]


@pytest.mark.parametrize("part", sorted(ROOTS))
def test_every_exception_subclasses_the_parts_root(part: str) -> None:
    strays = [cls.__qualname__ for cls in _exceptions(part) if not issubclass(cls, ROOTS[part])]
    assert strays == [], f"{part}: not a {ROOTS[part].__name__}"


@pytest.mark.parametrize("part", sorted(ROOTS))
def test_every_exception_says_when_it_is_raised(part: str) -> None:
    silent = [cls.__qualname__ for cls in _exceptions(part) if not (cls.__doc__ or "").strip()]
    assert silent == []


@pytest.mark.parametrize("part", sorted(ROOTS))
def test_the_parts_errors_module_draws_every_class(part: str) -> None:
    tree = importlib.import_module(f"{part}.errors").__doc__ or ""
    drawn = set(re.findall(r"\w+", tree))
    assert [cls.__name__ for cls in _exceptions(part) if cls.__name__ not in drawn] == []


def test_partiql_errors_are_ledger_errors() -> None:
    from ledgerdb.partiql.errors import PartiQLError

    assert issubclass(PartiQLError, LedgerError)
