"""A clustered NATS JetStream, the replicated ordering journal's servers: their configs
and their processes, for the supervisor and the tests alike.

Each server is a ``nats-server -c CONF`` process with its own folder (config, JetStream
store, log, pid file), a client port, a cluster port routed to every other server, and an
HTTP monitoring port; the monitoring port is how readiness is judged, because a server
that accepts TCP connections may still have no JetStream meta leader, and until it has
one (and enough peers) a stream replicated on three servers cannot be created.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from network.errors import SupervisorError
from network.processes import NodeProcess
from proto.ports import free_port

MAX_PAYLOAD = 8 * 1024 * 1024
"""The largest message the servers take, so the largest journal block (one block is one
message). nats-server's default, 1 MB, is below what a Fabric block may reach; 8 MB is
the most the NATS documentation recommends (the hard limit is 64 MB)."""

CLUSTER_NAME = "ledgerdb"
READY_POLL_SECONDS = 0.05


class NatsClusterError(SupervisorError):
    """A NATS server did not start, or the cluster did not become ready in time."""


MINIMUM_VERSION = (2, 10)
"""The oldest nats-server the ordering service runs on. 2.9.10 (Debian 12's) can elect,
after a partition, a stream leader that lacks blocks the stream had acknowledged; the
cut-off cutter then holds a block no other node will ever hold (docs/architecture.md,
"nats-server 2.10"). ``deploy/install-deps.sh`` installs Debian 13's 2.10."""


def nats_server_binary() -> str | None:
    return shutil.which("nats-server") or next(
        (p for p in ("/usr/sbin/nats-server", "/usr/local/bin/nats-server") if Path(p).exists()),
        None,
    )


@functools.cache
def nats_server_version(binary: str) -> tuple[int, ...] | None:
    """``binary``'s version from ``--version`` ("nats-server: v2.10.27"); None when it
    does not say."""
    try:
        said = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r"v(\d+)\.(\d+)\.(\d+)", said)
    return tuple(int(part) for part in found.groups()) if found else None


def usable_nats_server() -> str:
    """The nats-server to run: installed, and not older than ``MINIMUM_VERSION``."""
    binary = nats_server_binary()
    if binary is None:
        raise NatsClusterError("nats-server is not installed (deploy/install-deps.sh installs it)")
    version = nats_server_version(binary)
    if version is not None and version[:2] < MINIMUM_VERSION:
        raise NatsClusterError(
            f"{binary} is nats-server {'.'.join(map(str, version))}, older than "
            f"{'.'.join(map(str, MINIMUM_VERSION))}: after a partition it can lose blocks "
            "the ordering stream acknowledged (deploy/install-deps.sh installs Debian 13's "
            "nats-server)"
        )
    return binary


@dataclass(frozen=True)
class NatsNode:
    """One server of the cluster: where it listens and where its files are."""

    name: str
    host: str
    client_port: int
    cluster_port: int
    monitor_port: int
    directory: Path

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.client_port}"

    @property
    def route(self) -> str:
        return f"nats-route://{self.host}:{self.cluster_port}"

    @property
    def config_path(self) -> Path:
        return self.directory / "nats-server.conf"

    def process(self, binary: str) -> NodeProcess:
        return NodeProcess(
            name=f"nats-server {self.name}",
            command=(binary, "-c", str(self.config_path)),
            host=self.host,
            port=self.client_port,
            log=self.directory / "nats-server.log",
            pid_file=self.directory / "nats-server.pid",
        )


def server_config(
    node: NatsNode, peers: Sequence[NatsNode], cluster: str = CLUSTER_NAME, max_payload: int = 0
) -> str:
    """The nats-server config of ``node`` in a cluster of ``peers`` (``node`` among them)."""
    routes = ", ".join(json.dumps(peer.route) for peer in peers if peer.name != node.name)
    return (
        f"server_name: {json.dumps(node.name)}\n"
        f"listen: {json.dumps(f'{node.host}:{node.client_port}')}\n"
        f"http: {json.dumps(f'{node.host}:{node.monitor_port}')}\n"
        f"max_payload: {max_payload or MAX_PAYLOAD}\n"
        f"jetstream {{\n  store_dir: {json.dumps(str(node.directory / 'jetstream'))}\n}}\n"
        "cluster {\n"
        f"  name: {json.dumps(cluster)}\n"
        f"  listen: {json.dumps(f'{node.host}:{node.cluster_port}')}\n"
        f"  routes: [{routes}]\n"
        "}\n"
    )


def _monitor(node: NatsNode, path: str) -> dict[str, Any] | None:
    """A monitoring endpoint's JSON (``/healthz`` answers 503 with JSON when unhealthy)."""
    url = f"http://{node.host}:{node.monitor_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            return json.loads(exc.read())
        except ValueError:
            return None
    except (OSError, ValueError):
        return None


class NatsCluster:
    """Servers that form one JetStream cluster; start, stop, kill and restart any of them."""

    def __init__(
        self,
        nodes: Sequence[NatsNode],
        cluster: str = CLUSTER_NAME,
        max_payload: int = MAX_PAYLOAD,
    ) -> None:
        binary = usable_nats_server()
        self.nodes = list(nodes)
        self.cluster = cluster
        self.max_payload = max_payload
        self._processes = {node.name: node.process(binary) for node in self.nodes}

    @classmethod
    def on_loopback(
        cls,
        directory: Path,
        size: int = 3,
        port: Callable[[], int] = free_port,
        **options: Any,
    ) -> NatsCluster:
        """``size`` servers on free loopback ports, in ``directory``/n0, n1, …"""
        nodes = [
            NatsNode(f"n{index}", "127.0.0.1", port(), port(), port(), directory / f"n{index}")
            for index in range(size)
        ]
        return cls(nodes, **options)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, name: str) -> NatsNode:
        return next(node for node in self.nodes if node.name == name)

    def running(self) -> list[NatsNode]:
        return [node for node in self.nodes if self._processes[node.name].pid is not None]

    def start(self, timeout: float = 20.0) -> NatsCluster:
        """Write every config, start every server, and wait until the cluster is ready."""
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            node.config_path.write_text(
                server_config(node, self.nodes, self.cluster, self.max_payload)
            )
        for node in self.nodes:
            self.start_node(node.name)
        self.wait_ready(timeout)
        return self

    def start_node(self, name: str) -> None:
        """(Re)start one server with its existing config and store."""
        process = self._processes[name]
        if process.pid is None:
            process.start()

    def stop_node(self, name: str, timeout: float = 10.0) -> None:
        """A graceful stop (SIGTERM, then SIGKILL after ``timeout``)."""
        self._processes[name].stop(timeout)

    def kill_node(self, name: str) -> None:
        """``kill -9``: the server gets no chance to flush or say goodbye."""
        process = self._processes[name]
        pid = process.pid
        if pid is not None:
            os.killpg(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while process.pid is not None and time.monotonic() < deadline:
                time.sleep(0.01)

    def stop(self) -> None:
        for node in self.nodes:
            self.stop_node(node.name, timeout=5)

    def meta_leader(self) -> str | None:
        """The server leading JetStream's meta group (stream and consumer placement) as the
        running servers see it, or None while they have none."""
        for node in self.running():
            leader = ((_monitor(node, "/jsz") or {}).get("meta_cluster") or {}).get("leader")
            if leader:
                return str(leader)
        return None

    def wait_ready(self, timeout: float = 20.0, every_node: bool = True) -> None:
        """Until the running servers agree on a JetStream meta leader, each is healthy, and
        the leader sees every server current (``every_node``) or a majority of them."""
        try:
            await_readiness(self.nodes, self._running, self.restart_node, timeout, every_node)
        except NatsClusterError as exc:
            logs = "\n".join(
                f"--- {node.name}:\n{self._processes[node.name].tail(5)}" for node in self.nodes
            )
            raise NatsClusterError(f"{exc} ({self.cluster})\n{logs}") from None

    def restart_node(self, name: str) -> None:
        self.stop_node(name, timeout=5)
        self.start_node(name)

    def _running(self, every_node: bool) -> list[NatsNode]:
        """The servers up; an error when one of them exited and every one is needed."""
        running = self.running()
        stopped = [node.name for node in self.nodes if node not in running]
        if every_node and stopped:
            raise NatsClusterError(f"nats-server {', '.join(stopped)} exited; see its log")
        return running


NUDGE_SECONDS = 10.0
"""How long a running, healthy server may stay behind the meta leader before it is
restarted, once. nats-server 2.10 now and then leaves a server that joined after the meta
leader's election behind for good (seen under a full test suite's load: over 60 s, its
routes up and its health ok); a restart rejoins it. Its store is kept."""


def await_readiness(
    nodes: Sequence[NatsNode],
    running: Callable[[bool], Sequence[NatsNode]],
    restart: Callable[[str], None],
    timeout: float,
    every_node: bool = True,
) -> None:
    """Wait until ``readiness_problem`` finds none, restarting once each server the meta
    leader has reported behind for ``NUDGE_SECONDS``. ``running(every_node)`` names the
    servers up (it may raise when one exited)."""
    deadline = time.monotonic() + timeout
    behind_since: dict[str, float] = {}
    restarted: set[str] = set()
    while True:
        metas = {node.name: _meta(node) for node in nodes}  # one poll serves both questions
        problem = readiness_problem(nodes, running(every_node), every_node, metas)
        if problem is None:
            return
        now = time.monotonic()
        if now >= deadline:
            raise NatsClusterError(f"NATS cluster not ready in {timeout:g}s: {problem}")
        lagging = [name for name, role in _roles(metas).items() if role == "behind"]
        behind_since = {name: behind_since.get(name, now) for name in lagging}
        for name, since in behind_since.items():
            if name not in restarted and now - since >= NUDGE_SECONDS:
                restart(name)
                restarted.add(name)
        time.sleep(READY_POLL_SECONDS)


def readiness_problem(
    nodes: Sequence[NatsNode],
    running: Sequence[NatsNode],
    every_node: bool = True,
    metas: dict[str, dict[str, Any] | None] | None = None,
) -> str | None:
    """Why servers ``running`` of the cluster ``nodes`` cannot yet hold streams replicated
    on all (``every_node``) or a majority of them, or None when they can: the running
    servers agree on a JetStream meta leader, each is healthy, and the leader sees enough
    of them current. ``metas``: each server's meta-group section, when the caller polled
    them already."""
    if len(running) <= len(nodes) // 2:
        return f"only {len(running)} of {len(nodes)} servers are running"
    if metas is None:
        metas = {node.name: _meta(node) for node in running}
    leaders = set()
    for node in running:
        health = _monitor(node, "/healthz")
        if not health or health.get("status") != "ok":
            return f"{node.name} is not healthy: {(health or {}).get('error', 'no answer')}"
        leaders.add((metas.get(node.name) or {}).get("leader"))
    if len(leaders) != 1 or None in leaders:
        return f"no agreed meta leader (servers name {sorted(map(str, leaders))})"
    name = leaders.pop()
    if name not in {node.name for node in nodes}:
        return f"meta leader {name} is not one of this cluster's servers"
    replicas = (metas.get(name) or {}).get("replicas")
    current = 1 + sum(1 for peer in replicas or [] if peer.get("current"))
    needed = len(nodes) if every_node else len(nodes) // 2 + 1
    if current < needed:
        return f"meta leader {name} sees {current} current servers, needs {needed}"
    return None


def jetstream_roles(nodes: Sequence[NatsNode]) -> dict[str, str]:
    """Each server's place in JetStream's meta group, as the servers' monitoring ports
    report it: ``leader``; ``current`` (a follower the leader sees up to date);
    ``behind`` (one it does not); ``no leader`` (the server sees none: an election, or
    it is cut off from a majority); ``no answer`` (its monitoring port is silent).
    A second per server at most, so ``status`` stays quick with a server down."""
    return _roles({node.name: _meta(node) for node in nodes})


def _roles(metas: dict[str, dict[str, Any] | None]) -> dict[str, str]:
    """``jetstream_roles`` from each server's meta-group section (None: no answer)."""
    leaders = {str(m["leader"]) for m in metas.values() if m and m.get("leader")}
    current = set()
    for name in leaders & metas.keys():
        current |= {r.get("name") for r in metas[name].get("replicas") or [] if r.get("current")}
    roles = {}
    for name, meta in metas.items():
        if meta is None:
            roles[name] = "no answer"
        elif not meta.get("leader"):
            roles[name] = "no leader"
        elif meta.get("leader") == name:
            roles[name] = "leader"
        else:
            roles[name] = "current" if name in current else "behind"
    return roles


def _meta(node: NatsNode) -> dict[str, Any] | None:
    """The server's ``/jsz`` meta-group section ({} when JetStream answers without one)."""
    answer = _monitor(node, "/jsz")
    return None if answer is None else (answer.get("meta_cluster") or {})
