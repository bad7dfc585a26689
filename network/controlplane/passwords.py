"""Members' CA admin passwords, kept out of the immutable journal.

The journal is verifiable and never forgets, so a password written there could never be
taken back; the supervisor needs it once, to bootstrap the member's CA. It lives in a
0600 JSON file next to the ledger instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class Secrets:
    """Members' CA admin passwords: kept out of the immutable journal, in a 0600 file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._values: dict[str, str] = {}
        if path is not None and path.exists():
            self._values = json.loads(path.read_text())

    def put(self, member_id: str, password: str) -> None:
        self._values[member_id] = password
        if self.path is None:
            return
        # durable before the member's block is written, so a crash never leaves a member
        # whose CA password is lost
        temporary = self.path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(self._values))
            handle.flush()
            os.fsync(handle.fileno())
        temporary.replace(self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def get(self, member_id: str) -> str | None:
        return self._values.get(member_id)
