"""Dev mode: serve a contract as chaincode-as-a-service and restart it when its files change.

The contract runs in a child process (``python -m chaincode.runner``), so every restart
imports fresh code. Peers see the stream end and dial again; a contract that fails to
import is reported and dev mode waits for the next change instead of exiting.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from chaincode.errors import ContractLoadError
from proto.ports import free_port

WATCHED_SUFFIXES = (".py", ".json")


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """(mtime, size) of every watched file, the change detector's whole state."""
    found = {}
    for path in directory.rglob("*"):
        if path.suffix in WATCHED_SUFFIXES and "__pycache__" not in path.parts:
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            found[str(path)] = (stat.st_mtime_ns, stat.st_size)
    return found


def require_free(address: str, field: str = "") -> None:
    """Refuse an address something already listens on: two contracts on one port would
    each answer some of the peers' calls. ``field`` names it in the error (default
    ``--address ADDRESS``)."""
    field = field or f"--address {address}"
    host, _, port = address.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        raise ContractLoadError(f"{field}: not host:port") from None
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host or "0.0.0.0", number))
        except OSError as exc:
            raise ContractLoadError(
                f"{field}: in use ({exc.strerror}); stop what listens there or choose another"
            ) from None


def free_address(host: str = "127.0.0.1") -> str:
    """A loopback address no one listens on (dev mode's default, so it never collides
    with a network's chaincode port)."""
    return f"{host}:{free_port(host)}"


class DevServer:
    """Owns the contract child process; ``poll`` restarts it after a change."""

    def __init__(
        self,
        directory: Path,
        chaincode_id: str,
        address: str,
        log: Callable[[str], None] = print,
        runner_options: Sequence[str] = (),
    ) -> None:
        if not (directory / "__init__.py").is_file():
            raise ContractLoadError(f"directory {directory}: not a Python package")
        require_free(address)
        self.directory = directory
        self.chaincode_id = chaincode_id
        self.address = address
        self.runner_options = list(runner_options)  # e.g. TLS, as the network ran it
        self.log = log
        self.restarts = 0
        self._child: subprocess.Popen | None = None
        self._seen = snapshot(directory)

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "chaincode.runner",
            str(self.directory),
            "--id",
            self.chaincode_id,
            "--address",
            self.address,
            *self.runner_options,
        ]
        self._child = subprocess.Popen(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is None or child.poll() is not None:
            return
        child.send_signal(signal.SIGINT)
        try:
            child.wait(5)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()

    def poll(self) -> bool:
        """Restart if a watched file changed; True when a restart happened."""
        current = snapshot(self.directory)
        if current == self._seen:
            if self._child is not None and self._child.poll() not in (None, 0):
                self.log("contract process exited; waiting for a change")
                self._child = None
            return False
        self._seen = current
        self.log("change detected, restarting the contract")
        self.stop()
        self.start()
        self.restarts += 1
        return True

    def run(self, interval: float = 0.5) -> None:
        # SIGTERM (a supervisor, `kill`, a test's terminate()) must stop the contract too:
        # turn it into the same clean exit as Ctrl-C, so `finally` stops the child.
        signal.signal(signal.SIGTERM, _interrupt)
        self.start()
        try:
            while True:
                time.sleep(interval)
                self.poll()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
