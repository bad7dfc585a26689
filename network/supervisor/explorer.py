"""The explorer (web view), started by ``up`` like any node unless the spec or
``up --no-explorer`` says not to; the reconciler restarts it if it dies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from network.localnet import CREDENTIALS
from network.processes import CONSORTIUM
from network.supervisor.base import SupervisorBase

EXPLORER = "explorer"
STATE_KEY = "explorer"  # state.json: "off" after `up --no-explorer`, else "on"


class ExplorerNode(SupervisorBase):
    """Writes the explorer's config (what a member may know: connection files, the control
    plane, where nodes listen, the orderers' journals) and runs it."""

    # set by `up`: "off" (--no-explorer) or "on"; kept in state.json for the reconciler
    explorer_choice: str = ""

    def explorer_wanted(self) -> bool:
        if self.explorer_choice and self.state.get(STATE_KEY) != self.explorer_choice:
            self.state[STATE_KEY] = self.explorer_choice
            self.home.save_state(self.state)
        return self.spec.explorer.enabled and self.state.get(STATE_KEY, "on") != "off"

    def explorer_address(self) -> str:
        """``host:port`` of the explorer: the spec's port, else one picked once and kept."""
        explorer = self.spec.explorer
        return f"{explorer.host}:{self.kept_port('explorer_ports', EXPLORER, explorer.port)}"

    def launch_explorer(self) -> None:
        """Start it (once connection files exist: it reads the ledger as a member) and wait
        until it serves; a network without it stops a running one."""
        if not self.explorer_wanted():
            for process in self.all_processes():
                if process.name == EXPLORER:
                    process.stop()
            return
        (self.home.root / EXPLORER).mkdir(parents=True, exist_ok=True)
        path = self.refresh_explorer_config()
        host, _, port = self.explorer_address().rpartition(":")
        listen = self.operations_listen(EXPLORER, "127.0.0.1", 0)
        command = [*CONSORTIUM, "node", "run", "explorer", "--config", str(path)]
        self._stop_if_moved(f"{host}:{port}")
        self._start(EXPLORER, command, host, int(port), listen)
        self._ready(EXPLORER)
        if EXPLORER in self.started:
            self.progress(f"  explorer: http://{host}:{port}/")

    def refresh_explorer_config(self) -> Path:
        """Write ``explorer/explorer.json`` again (atomically: the running explorer reads
        it whenever it changes) once the explorer has a folder, so a channel created or
        joined since ``up`` is followed without restarting it."""
        path = self.home.root / EXPLORER / "explorer.json"
        if path.parent.is_dir():
            partial = path.with_suffix(".json.partial")
            partial.write_text(json.dumps(self.explorer_config(), indent=2))
            partial.replace(path)
        return path

    def _stop_if_moved(self, address: str) -> None:
        """A running explorer on another address than the spec now gives is stopped, so
        ``_start`` runs it where the spec says."""
        for process in self.all_processes():
            if (
                process.name == EXPLORER
                and process.pid is not None
                and process.address() != address
            ):
                process.stop()

    def explorer_config(self) -> dict[str, Any]:
        """Everything the explorer reads, as paths and addresses (see
        ``network.explorer.config``)."""
        root = self.home.root
        members = [m for m in self.members if (root / "connection" / f"{m.name}.json").exists()]
        nodes = [
            {
                "name": "control-plane",
                "kind": "control-plane",
                "member": "",
                "address": self.control_plane_url.removeprefix("http://"),
            }
        ]
        for orderer in self.spec.orderers:
            nodes.append(
                {
                    "name": f"orderer-{orderer.name}",
                    "kind": "orderer",
                    "member": "",
                    "address": f"{orderer.host}:{orderer.port}",
                }
            )
        for member in members:
            nodes.append(
                {
                    "name": f"ca-{member.name}",
                    "kind": "ca",
                    "member": member.name,
                    "address": f"{member.ca.host}:{member.ca.port}",
                }
            )
            for peer in member.peers:
                nodes.append(
                    {
                        "name": f"peer-{member.name}-{peer.name}",
                        "kind": "peer",
                        "member": member.name,
                        "address": f"{peer.host}:{peer.port}",
                    }
                )
        return {
            "network": self.spec.name,
            "listen": self.explorer_address(),
            "operations": {"listen": self.operations_listen(EXPLORER, "127.0.0.1", 0)},
            "control_plane": {
                "url": self.control_plane_url,
                "network_id": self.state.get("network_id", ""),
                "account": self.spec.members[0].account,
                "credentials": str(self.home.root / CREDENTIALS),
            },
            "members": {
                m.name: {
                    "mspid": m.mspid,
                    "connection": str(root / "connection" / f"{m.name}.json"),
                    "users": str(self.home.member(m.name) / "users"),  # `ca adduser`'s
                }
                for m in members
            },
            "channels": {c.name: self.channel_members(c) for c in self.spec.channels},
            "nodes": nodes,
            "journals": {
                f"orderer-{o.name}": str(root / "ordering" / o.name / "data" / "channels")
                for o in self.spec.orderers
            },
        }
