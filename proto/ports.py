"""Free ports for servers that another process will bind later.

The usual trick — bind port 0, read the number, close — returns a port from the
kernel's *ephemeral* range, the same range the kernel draws from for every outgoing
connection on the machine. Between the probe and the moment a child process binds the
port, any ``connect()`` anywhere may take it, and the child dies with "address already
in use" (seen in `make test`: a CA and Mosquitto lost their ports that way). Ports below
the ephemeral range are handed out only to explicit binds, so they are picked there, at
random (concurrent pickers rarely meet) and never twice by one process.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

LOWEST = 20000  # below this live well-known and registered services' fixed ports
PORT_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
ATTEMPTS = 500

_given: set[tuple[str, int]] = set()
_lock = threading.Lock()


def ephemeral_start() -> int:
    """The first port the kernel hands to outgoing connections (Linux's default 32768)."""
    try:
        return int(PORT_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` no one listens on, outside the ephemeral range when there is
    room below it, and not given out before by this process."""
    top = ephemeral_start()
    with _lock:
        if top - LOWEST >= 1000:
            for _ in range(ATTEMPTS):
                port = random.randrange(LOWEST, top)
                if (host, port) not in _given and _bindable(host, port):
                    _given.add((host, port))
                    return port
        while True:  # no room below the ephemeral range: the kernel's choice
            with socket.socket() as probe:
                probe.bind((host, 0))
                port = probe.getsockname()[1]
            if (host, port) not in _given:
                _given.add((host, port))
                return port
