"""Run AWS's Python DMV tutorial's own integration test, unchanged, against ledgerdb.

Runs in ``.venv-pyqldb`` with the tutorial's checkout on ``sys.path`` (argument 1: its
folder, e.g. a clone of aws-samples/amazon-qldb-dmv-sample-python; nothing of it is kept
in this repository). The tutorial's ``tests/test_integration.py`` is a pytest class whose
only pytest use is a fixture setting ``ledger_suffix``; this runner sets that attribute
and runs the class with unittest, so pytest need not be installed beside pyqldb. Exit
status 0 when every step passed.
"""

from __future__ import annotations

import sys
import types
import unittest


def _pytest_stand_in() -> types.ModuleType:
    """``pytest.mark.usefixtures(...)`` as the class decorator it is, doing nothing."""
    module = types.ModuleType("pytest")
    module.mark = types.SimpleNamespace(usefixtures=lambda *_: lambda cls: cls)  # type: ignore[attr-defined]
    module.fixture = lambda *a, **k: lambda fn: fn  # type: ignore[attr-defined]
    return module


def main() -> int:
    sys.path.insert(0, sys.argv[1])
    sys.modules.setdefault("pytest", _pytest_stand_in())
    from tests.test_integration import TestIntegration  # the tutorial's own test

    TestIntegration.ledger_suffix = sys.argv[2] if len(sys.argv) > 2 else ""
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(TestIntegration)
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
