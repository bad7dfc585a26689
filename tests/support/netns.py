"""Several hosts on one machine, as Linux network namespaces, for multi-host tests
(``pytest_plugins = ["tests.support.netns"]``, fixture ``hosts``).

Each host is a namespace with its own loopback and one interface (``eth0``, address
``10.77.S.<n+1>/24``); the hosts' interfaces are veth pairs plugged into a bridge that
lives in a namespace of its own (the "switch"), so no bridge or firewall of this machine
is involved. One more veth pair joins the switch to the namespace the test runs in
(``10.77.S.254``, the "operator" host), so ``consortium up`` and the test's clients
reach every host the way an operator's machine reaches a data centre's.

A fault is made on the switch: ``cut(n)`` takes host n's port down (the host keeps its
own loopback, so its processes keep running and talking to each other, as in a real
partition), ``heal(n)`` brings it back, ``throttle(n)`` makes the link slow and small
enough that packets are dropped. Namespaces are named ``orderha-<pid>-…`` so several
test processes never collide, and those left by a test process that died are removed
before new ones are made. Whatever happens, the fixture kills every process still inside
its namespaces (they were all started by the test) and deletes them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

PREFIX = "orderha-"
OPERATOR_OCTET = 254


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=check)


def why_not_available() -> str | None:
    """Why this machine cannot make network namespaces (None when it can)."""
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root"
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _namespaces() -> list[str]:
    listed = _ip("netns", "list", check=False).stdout.splitlines()
    return [line.split()[0] for line in listed if line.strip()]


def remove_stale() -> None:
    """Namespaces (and their processes) left by test processes that no longer exist."""
    for name in _namespaces():
        if not name.startswith(PREFIX):
            continue
        owner = name[len(PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and not _alive(int(owner)):
            _kill_inside(name)
            _ip("netns", "del", name, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_inside(namespace: str) -> None:
    """SIGKILL every process in ``namespace`` (stopped ones too)."""
    pids = _ip("netns", "pids", namespace, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def _free_subnet() -> int:
    """A third octet S such that nothing on this machine uses 10.77.S.0/24."""
    used = _ip("-o", "addr", check=False).stdout + _ip("route", check=False).stdout
    start = os.getpid() % 200 + 20
    for offset in range(200):
        octet = (start + offset) % 250 + 1
        if f"10.77.{octet}." not in used:
            return octet
    raise RuntimeError("no free 10.77.x.0/24 subnet")


@dataclass
class Hosts:
    """``count`` hosts joined by a switch, and the operator's link to it."""

    count: int = 3
    owner: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    subnet: int = 0
    made: list[str] = field(default_factory=list)

    @property
    def switch(self) -> str:
        return f"{self.owner}-sw"

    @property
    def operator_link(self) -> str:
        return self.owner  # ≤ 15 characters: "orderha-" and a pid

    def namespace(self, index: int) -> str:
        return f"{self.owner}-h{index}"

    def address(self, index: int) -> str:
        return f"10.77.{self.subnet}.{index + 1}"

    @property
    def addresses(self) -> list[str]:
        return [self.address(n) for n in range(self.count)]

    @property
    def operator(self) -> str:
        """The address of the namespace the test runs in, as the hosts see it."""
        return f"10.77.{self.subnet}.{OPERATOR_OCTET}"

    def index_of(self, address: str) -> int:
        return self.addresses.index(address)

    def create(self) -> Hosts:
        remove_stale()
        self.subnet = self.subnet or _free_subnet()
        self._add_namespace(self.switch)
        _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        for index in range(self.count):
            self._add_host(index)
        _ip("link", "add", self.operator_link, "type", "veth", "peer", "name", "op",
            "netns", self.switch)  # fmt: skip
        self._plug("op")
        _ip("addr", "add", f"{self.operator}/24", "dev", self.operator_link)
        _ip("link", "set", self.operator_link, "up")
        _ip("-n", self.switch, "link", "set", "br0", "up")
        return self

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self.made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _add_host(self, index: int) -> None:
        host = self.namespace(index)
        self._add_namespace(host)
        port = f"p{index}"
        _ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
            "netns", host)  # fmt: skip
        self._plug(port)
        _ip("-n", host, "addr", "add", f"{self.address(index)}/24", "dev", "eth0")
        _ip("-n", host, "link", "set", "eth0", "up")

    def _plug(self, port: str) -> None:
        _ip("-n", self.switch, "link", "set", port, "master", "br0")
        _ip("-n", self.switch, "link", "set", port, "up")

    def cut(self, index: int) -> None:
        """Host ``index`` loses its link: nothing reaches it, nothing leaves it."""
        _ip("-n", self.switch, "link", "set", f"p{index}", "down")

    def heal(self, index: int) -> None:
        """Host ``index``'s link is back (and any throttle removed)."""
        self._tc(index, "del", check=False)
        _ip("-n", self.switch, "link", "set", f"p{index}", "up")

    def throttle(self, index: int, rate: str = "256kbit", limit: str = "8kb") -> None:
        """Host ``index``'s link in both directions becomes slow with a short queue, so
        packets beyond it are dropped: a congested, lossy link. (A token bucket, because
        this kernel has no ``netem`` qdisc for random loss.)"""
        self._tc(index, "add", "tbf", "rate", rate, "burst", "4kb", "limit", limit)

    def _tc(self, index: int, action: str, *qdisc: str, check: bool = True) -> None:
        for namespace, device in ((self.switch, f"p{index}"), (self.namespace(index), "eth0")):
            subprocess.run(
                ["ip", "netns", "exec", namespace, "tc", "qdisc", action, "dev", device,
                 "root", *qdisc],
                capture_output=True, text=True, timeout=20, check=check,
            )  # fmt: skip

    def destroy(self) -> None:
        """Kill what still runs inside, delete the namespaces (their interfaces go with
        them) and the operator's end of the link."""
        for name in reversed(self.made):
            _kill_inside(name)
        for name in reversed(self.made):
            _ip("netns", "del", name, check=False)
        self.made.clear()
        _ip("link", "del", self.operator_link, check=False)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    """Three hosts as network namespaces; skipped where the machine cannot make them."""
    reason = why_not_available()
    if reason is not None:
        pytest.skip(f"no network namespaces on this machine: {reason}")
    made = Hosts()
    try:
        yield made.create()
    finally:
        made.destroy()
