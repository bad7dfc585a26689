"""The shared-credentials file a strict control plane verifies signatures against.

``consortium up`` runs its control plane in strict SigV4 mode: every account that may
call it has a secret in ``<network>/control-plane/credentials`` (mode 0600, the AWS
shared-credentials format, one ``[account-<id>]`` section each). The supervisor, the
CLI, the explorer and ``status`` read the secret of the account they act as from there;
an account invited later (a proposal can invite any account) gets a secret the first
time the supervisor acts for it. The control plane reads the file again whenever it
changes, so such an account can call at once, without a restart.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path

from network.controlplane import sigv4


class KeyFile(Mapping[str, sigv4.Key]):
    """The keys of a credentials file, read again when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: int | None = None
        self._keys: dict[str, sigv4.Key] = {}
        self._refresh()  # a bad file stops the control plane at start, naming it

    def _refresh(self) -> None:
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            return  # gone meanwhile: keep the keys last read
        if stamp != self._stamp:
            self._keys = sigv4.load_credentials(self.path)
            self._stamp = stamp

    def __getitem__(self, access_key_id: str) -> sigv4.Key:
        self._refresh()
        return self._keys[access_key_id]

    def __iter__(self) -> Iterator[str]:
        self._refresh()
        return iter(self._keys)

    def __len__(self) -> int:
        self._refresh()
        return len(self._keys)


def secret_for(path: Path, account: str) -> str:
    """The secret of ``account`` (its access key id is the account id) in ``path``,
    added with a new random secret if the account has none yet."""
    keys = sigv4.load_credentials(path) if path.exists() else {}
    if account in keys:
        return keys[account].secret
    secret = secrets.token_urlsafe(30)
    section = (
        f"[account-{account}]\naws_access_key_id = {account}\n"
        f"aws_secret_access_key = {secret}\naws_account_id = {account}\n\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(descriptor, section.encode())
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return secret


def local_secret(path: Path, account: str) -> str | None:
    """The secret of ``account`` in ``path`` if the file gives it one (read only)."""
    if not path.exists():
        return None
    key = sigv4.load_credentials(path).get(account)
    return key.secret if key else None
