"""A folder on a size-limited tmpfs, for the disk-full tests of the orderer and peers: a
real filesystem that fills up (ENOSPC) and gets room back by a remount, no restart."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_filesystem(folder: Path, size: str = "1m") -> Iterator[None]:
    """``folder`` as a tmpfs of ``size`` bytes (root only: skipped otherwise), unmounted
    afterwards."""
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def grow(folder: Path, size: str = "64m") -> None:
    """Give the tmpfs at ``folder`` room again (a remount keeps its files)."""
    subprocess.run(["mount", "-o", f"remount,size={size}", str(folder)], check=True)


def leave_room(folder: Path, room: int) -> None:
    """Shrink the tmpfs at ``folder`` to what it holds now plus ``room`` bytes (a remount:
    the node writing there sees its filesystem fill, as a real disk would)."""
    stats = os.statvfs(folder)
    used = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    subprocess.run(
        ["mount", "-o", f"remount,size={(used + room) // 1024}k", str(folder)], check=True
    )


def fill(folder: Path, leave: int = 0) -> Path:
    """Write a ballast file into ``folder`` until at most ``leave`` bytes are free;
    returns it (delete it to give the room back)."""
    ballast = folder / "ballast"
    chunk = b"\0" * 65536
    with open(ballast, "wb") as out:
        while True:
            stats = os.statvfs(folder)
            free = stats.f_bavail * stats.f_frsize
            if free <= leave:
                break
            try:
                out.write(chunk[: min(len(chunk), free - leave)])
                out.flush()
            except OSError:
                break
    return ballast
