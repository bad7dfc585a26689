"""A contract author's own test suite, using the pytest plugin exactly as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CONFTEST = """
import pytest

pytest_plugins = ["chaincode.testing.plugin"]


@pytest.fixture
def contract():
    return str(__import__("pathlib").Path(__file__).parent / "my_contract")
"""

CONTRACT = """
import json

from fabric_chaincode_python.fabric_contract_api import Contract, TransactionContext


class Counter(Contract):
    Name = "counter"

    async def Add(self, ctx: TransactionContext, key: str, amount: int) -> int:
        current = await ctx.get_stub().get_state(key)
        total = (int(current) if current else 0) + amount
        await ctx.get_stub().put_state(key, str(total).encode())
        ctx.get_stub().set_event("Added", json.dumps({"key": key, "total": total}).encode())
        return total
"""

TESTS = """
import pytest


@pytest.fixture
def chaincode_name():
    return "counter"


async def test_add(chaincode_harness):
    first = await chaincode_harness.invoke("Add", "c", 2)
    second = await chaincode_harness.invoke("Add", "c", 3)
    assert second.text == "5" and second.event.json() == {"key": "c", "total": 5}
    assert second.reads()["c"] is not None and first.reads()["c"] is None


@pytest.mark.parametrize("n", range(200))
async def test_many_cases(chaincode_harness, n):
    assert (await chaincode_harness.invoke("Add", f"k{n}", n)).text == str(n)
"""


@pytest.mark.slow  # a whole pytest run in a subprocess: about five seconds
def test_plugin_runs_an_authors_suite_of_200_cases(tmp_path):
    (tmp_path / "my_contract").mkdir()
    (tmp_path / "my_contract" / "__init__.py").write_text(CONTRACT)
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_counter.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert "201 passed" in result.stdout, result.stdout + result.stderr
