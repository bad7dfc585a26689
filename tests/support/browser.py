"""Debian's Chromium, driven from pytest through ``tests/browser/driver.js``
(playwright-core with ``executablePath``: no browser is ever downloaded).

Each call sends one command and waits for its answer, so a test reads like what a
person does: open a page, wait for something to appear, read it, press a key.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DRIVER = ROOT / "tests" / "browser" / "driver.js"
CHROMIUM = Path("/usr/bin/chromium")


def missing() -> str:
    """Why the browser tests cannot run here ("" when they can)."""
    if not CHROMIUM.exists():
        return "chromium is not installed (deploy/install-deps.sh installs it)"
    if shutil.which("node") is None:
        return "node is not installed"
    if not (DRIVER.parent / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (deploy/install-deps.sh installs it)"
    return ""


class BrowserError(AssertionError):
    """The browser could not do what the test asked (the message says what and why)."""


class Browser:
    """One headless Chromium with a fresh profile, closed (and its profile removed) on
    ``close``; use it as a context manager."""

    def __init__(self) -> None:
        self.profile = Path(tempfile.mkdtemp(prefix="consortium-chromium-"))
        self.process = subprocess.Popen(
            ["node", str(DRIVER), str(self.profile)],
            cwd=DRIVER.parent,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # Chromium is its child: on a hang, both are ended
        )
        self._answer()  # ready

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            error = self.process.stderr.read() if self.process.stderr else ""
            raise BrowserError(f"the browser driver ended: {error[-2000:]}")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise BrowserError(answer.get("error", "failed"))
        return answer

    def do(self, action: str, **arguments: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": action, **arguments}) + "\n")
        self.process.stdin.flush()
        return self._answer().get("value")

    def open(self, url: str) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"do": "open", "url": url}) + "\n")
        self.process.stdin.flush()
        return int(self._answer()["status"])

    def wait(self, selector: str, timeout_ms: int = 30000) -> None:
        self.do("wait", selector=selector, timeout=timeout_ms)

    def text(self, selector: str) -> str:
        return str(self.do("text", selector=selector))

    def texts(self, selector: str) -> list[str]:
        return list(self.do("texts", selector=selector))

    def evaluate(self, script: str) -> Any:
        return self.do("eval", script=script)

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.do("screenshot", path=str(path.resolve()))  # the driver runs elsewhere

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                assert self.process.stdin is not None
                self.process.stdin.write(json.dumps({"do": "close"}) + "\n")
                self.process.stdin.close()
                self.process.wait(timeout=20)
            except (OSError, subprocess.TimeoutExpired):
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
