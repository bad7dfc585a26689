"""The PartiQL case table (``cases.ion``) through the gRPC service and the Python client.

The same runner as the embedded test (``tests/support/case_runner.py``),
with ``execute`` going over the wire: parameters and results travel as Ion binary, errors
come back as statuses and are raised as the database's own exception classes, plans as
the server described them. Reading cases share one ``consortium ledger serve`` process
over a database loaded with the fixtures (and must not write a block); each writing case
gets a copy of that database behind its own server in this process (same gRPC service,
same database code, much cheaper than a process per case).
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledgerdb.client import LedgerClient
from ledgerdb.database import LedgerDatabase
from ledgerdb.service import LedgerServer
from tests.support.case_runner import CASES, load_fixtures, mutates, run_case
from tests.support.case_table import Case
from tests.support.processes import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
READING = [c for c in CASES if not mutates(c)]
WRITING = [c for c in CASES if mutates(c)]


def _executor(client: LedgerClient) -> Any:
    def execute(statement: str, params: Any) -> Any:
        return client.execute_with_summary(statement, *params, include_plan=True)[0]

    return execute


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("grpc-cases") / "template"
    with LedgerDatabase.open(path) as db:
        load_fixtures(lambda statement, params: db.execute(statement, *params))
    return path


@pytest.fixture(scope="module")
def shared(template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LedgerClient]:
    path = tmp_path_factory.mktemp("grpc-cases") / "shared"
    shutil.copytree(template, path)
    node = NodeProcess(["ledger", "serve", "--ledger", str(path), "--port", "0"], cwd=ROOT)
    try:
        port = node.wait_for(r"ledgerdb serving .* on 127\.0\.0\.1:(\d+)").group(1)
        with LedgerClient(f"127.0.0.1:{port}") as client:
            tip = client.digest().tip
            yield client
            assert client.digest().tip == tip, "a case that should only read wrote a block"
    finally:
        node.stop()


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop thread for the per-case servers."""
    running = asyncio.new_event_loop()
    thread = threading.Thread(target=running.run_forever, daemon=True)
    thread.start()
    yield running
    running.call_soon_threadsafe(running.stop)
    thread.join(5)


@pytest.mark.parametrize("case", READING, ids=[c.name for c in READING])
def test_reading_case_over_grpc(case: Case, shared: LedgerClient) -> None:
    run_case(case, _executor(shared))


@pytest.mark.parametrize("case", WRITING, ids=[c.name for c in WRITING])
def test_writing_case_over_grpc(
    case: Case, template: Path, tmp_path: Path, loop: asyncio.AbstractEventLoop
) -> None:
    shutil.copytree(template, tmp_path / "db")
    with LedgerDatabase.open(tmp_path / "db") as database:
        server = LedgerServer(database)
        port = asyncio.run_coroutine_threadsafe(server.start("127.0.0.1:0"), loop).result(10)
        try:
            with LedgerClient(f"127.0.0.1:{port}") as client:
                run_case(case, _executor(client))
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(1), loop).result(10)
