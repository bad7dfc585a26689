"""Start real ``consortium`` processes for tests and always clean them up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

CONSORTIUM = [sys.executable, "-c", "from network.cli import main; main()"]


def consortium(
    cwd: Path, *args: str, check: bool = True, stdin: str = ""
) -> subprocess.CompletedProcess:
    """Run one ``consortium`` command to its end, as a user types it (``stdin`` piped
    in); with ``check`` a non-zero exit fails the test with what the command printed."""
    result = subprocess.run(
        [*CONSORTIUM, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=180
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


class NodeProcess:
    """A child process whose output is collected, so tests can wait for a line in it."""

    def __init__(self, args: Sequence[str], cwd: Path | None = None) -> None:
        self.args = list(args)
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.process = subprocess.Popen(
            [*CONSORTIUM, *self.args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()
        with self._seen:
            self._seen.notify_all()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        """The first output line matching ``pattern``; fails with the output so far."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        checked = 0
        with self._seen:
            while True:
                for line in self.lines[checked:]:
                    if match := regex.search(line):
                        return match
                checked = len(self.lines)
                if self.process.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        f"process exited ({self.process.returncode}) before printing "
                        f"{pattern!r}:\n{self.output}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no line matched {pattern!r} in {timeout}s:\n{self.output}"
                    )
                self._seen.wait(min(remaining, 0.5))

    def kill(self) -> None:
        """``kill -9``: the crash every durability test is about."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self, timeout: float = 10.0) -> int:
        """Graceful stop (SIGTERM), escalating to SIGKILL."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reader.join(timeout=5)
        return self.process.returncode
