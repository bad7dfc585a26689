"""A node that dies is reported by how it died (exit code or signal) and the end of its
log, read from the process that started it."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from network.errors import SupervisorError
from network.processes import NodeProcess, exit_reason
from proto.ports import free_port


def _node(tmp_path: Path, code: str, port: int = 1) -> NodeProcess:
    return NodeProcess(
        "probe",
        (sys.executable, "-c", code),
        "127.0.0.1",
        port,  # 1: nothing listens there, wait_ready can only end by the process dying
        tmp_path / "probe.log",
        tmp_path / "probe.pid",
    )


def test_an_exit_code_and_the_log_tail_are_reported(tmp_path: Path) -> None:
    node = _node(
        tmp_path, "import sys; print('cannot load the contract', file=sys.stderr); sys.exit(3)"
    )
    node.start()
    with pytest.raises(SupervisorError) as failed:
        node.wait_ready(timeout=20)
    assert "probe exited while starting (exit code 3)" in str(failed.value)
    assert "cannot load the contract" in str(failed.value)


def test_a_signal_is_named(tmp_path: Path) -> None:
    node = _node(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    pid = node.start()
    with pytest.raises(
        SupervisorError, match=r"killed by SIGKILL\); the last lines .*\n\(the log is empty\)"
    ):
        node.wait_ready(timeout=20)
    assert exit_reason(pid) == "killed by SIGKILL"


def test_a_process_started_elsewhere_is_unknown() -> None:
    assert exit_reason(1) == "exit status unknown: another process started it"


def test_a_node_that_keeps_logging_is_waited_for_past_the_timeout(tmp_path: Path) -> None:
    """A restored peer replays its blocks, a line each, before it listens."""
    port = free_port()
    code = (
        "import socket, time\n"
        "for n in range(16):\n"
        "    print(f'replayed block {n}', flush=True); time.sleep(0.25)\n"
        f"s = socket.socket(); s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(30)\n"
    )
    node = _node(tmp_path, code, port)
    node.start()
    try:
        node.wait_ready(timeout=2)  # 4 s of replay: twice the timeout
    finally:
        node.stop()


def test_a_silent_node_is_given_up_on_at_the_timeout(tmp_path: Path) -> None:
    node = _node(tmp_path, "import time; time.sleep(30)")
    node.start()
    try:
        with pytest.raises(SupervisorError, match=r"did not listen on 1 in 0\.5s"):
            node.wait_ready(timeout=0.5)
    finally:
        node.stop()


def test_reload_sends_sighup_to_a_running_node_only(tmp_path: Path) -> None:
    marker = tmp_path / "hup"
    code = (
        "import signal, time, pathlib\n"
        f"signal.signal(signal.SIGHUP, lambda *_: pathlib.Path({str(marker)!r}).touch())\n"
        f"pathlib.Path({str(tmp_path / 'ready')!r}).touch()\n"
        "time.sleep(60)\n"
    )
    node = _node(tmp_path, code)
    node.start()
    deadline = time.monotonic() + 30
    while not (tmp_path / "ready").exists():
        assert time.monotonic() < deadline, node.tail()
        time.sleep(0.02)
    assert node.reload()
    deadline = time.monotonic() + 30  # its own wait: a loaded machine starts Python slowly
    while not marker.exists():
        # the child's status names blocked (SigBlk) and ignored (SigIgn) signals
        assert time.monotonic() < deadline, Path(f"/proc/{node.pid}/status").read_text()
        time.sleep(0.02)
    node.stop()
    assert not node.reload()  # not running: it reads its files when it starts
