"""The analytics node when the spec has ``analytics`` (issue 22, ``docs/analytics.md``)."""

from __future__ import annotations

import json

from network.processes import CONSORTIUM
from network.supervisor.base import SupervisorBase
from network.supervisor.home import write_atomically

NAME = "analytics"


class AnalyticsNode(SupervisorBase):
    """The analytics node, supervised like the other nodes (``down``, ``status``, ``logs``,
    and the reconciler restarting it when it dies)."""

    def start_analytics(self) -> None:
        """Start the analytics node (unless it runs) and wait until it serves. Started
        after the connection files it reads; its databases and its checkpoint live in
        ``analytics/``, so a restart resumes after the last block it wrote."""
        analytics = self.spec.analytics
        if analytics is None:
            return
        folder = self.home.root / NAME
        folder.mkdir(parents=True, exist_ok=True)
        member = self.member(analytics.member)
        peer = next(p for p in member.peers if p.name == analytics.peer)
        listen = self.operations_listen(NAME, analytics.host, analytics.operations_port)
        config = {
            "network": self.spec.name,
            "channels": list(analytics.channels),
            "deliver": {
                "connection": str(self.home.root / "connection" / f"{member.name}.json"),
                "endpoint": f"{peer.host}:{peer.port}",
            },
            "databases": str(folder),
            "listen": f"{analytics.host}:{analytics.port}",
            "qldb": f"{analytics.host}:{analytics.qldb_port}",
            "operations": {"listen": listen},
        }
        path = folder / "analytics.yaml"
        text = json.dumps(config, indent=2)  # JSON is YAML
        if not path.exists() or path.read_text() != text:  # analytics query reads it
            write_atomically(path, text)
        command = [*CONSORTIUM, "node", "run", NAME, "--config", str(path)]
        self._start(NAME, command, analytics.host, analytics.port, listen)
        self._ready(NAME)
        if NAME in self.started:
            for n, channel in enumerate(analytics.channels):
                self.progress(
                    f"  analytics: {channel} over QLDB's session API (pyqldb, ledger "
                    f"{channel}) on {analytics.host}:{analytics.qldb_port + n}"
                )
