"""``consortium up``: a whole multi-member network from one spec, the AMB way.

The supervisor is split by concern, one module each: ``home`` (the network's folder and
its ``state.json``), ``base`` (what every part shares: members, channels, processes),
``governance`` (network and members by proposal and vote, node records),
``nodes`` (control plane, CAs, ordering organization, orderers, peers),
``chaincodes`` (chaincode-as-a-service and the lifecycle), ``connections``,
``events`` (the MQTT bridge), ``analytics`` (the analytics node), ``explorer`` (the
web view), ``channels`` (adding or removing an organization by config update),
``certs`` (certificate rotation), ``revocation`` (revoking an identity and sending the CRL
to the channels) and
``reconcile`` (keeping the network matching the control plane).

``up`` runs the steps of ``UP_STEPS`` in order (listed at the end of this docstring,
from that list, so the two cannot disagree). Everything lives under
``.consortium/<network>/``; every node is its own process with its log in ``logs/`` and
pid in ``pids/``. ``down`` stops them; ``down --purge`` also deletes the folder. ``up``
on an existing folder starts the nodes again with their data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from network.errors import SupervisorError
from network.supervisor.analytics import AnalyticsNode
from network.supervisor.certs import CertificateRotation
from network.supervisor.chaincodes import Chaincodes
from network.supervisor.channels import ChannelUpdates
from network.supervisor.connections import ConnectionFiles
from network.supervisor.events import EventsBridge
from network.supervisor.explorer import ExplorerNode
from network.supervisor.governance import Governance
from network.supervisor.home import Home
from network.supervisor.nodes import Nodes
from network.supervisor.reconcile import Reconciler
from network.supervisor.revocation import Revocation

__all__ = ["UP_STEPS", "Home", "Step", "Supervisor"]


@dataclass(frozen=True)
class Step:
    """One step of ``up``: what it does (printed as progress) and the method that does it."""

    title: str
    method: str


UP_STEPS: tuple[Step, ...] = (
    Step("launching the control plane, member CAs and contracts", "launch_first"),
    Step("network and members (proposals and votes)", "create_network_and_members"),
    Step("member enrollment", "enroll_members"),
    Step("events broker and bridge (launch)", "launch_events"),
    Step("ordering organization", "prepare_ordering_org"),
    Step("orderers and peers", "start_orderers_and_peers"),
    Step("channels", "join_channels"),
    Step("channel settings (config updates where the spec changed them)", "apply_channel_settings"),
    Step("chaincodes", "deploy_chaincodes"),
    Step("connection files", "write_connection_files"),
    Step("events bridge", "events_ready"),
    Step("analytics (each channel's data in ledgerdb)", "start_analytics"),
    Step("node records in the control plane", "register_nodes"),
    Step("explorer (web view)", "launch_explorer"),
)

__doc__ += "\nThe steps of ``up``:\n\n" + "\n".join(
    f"{n}. ``{step.method}`` — {step.title}" for n, step in enumerate(UP_STEPS, 1)
)


@dataclass
class Supervisor(
    Nodes,
    Governance,
    Chaincodes,
    ConnectionFiles,
    EventsBridge,
    AnalyticsNode,
    ExplorerNode,
    ChannelUpdates,
    CertificateRotation,
    Revocation,
    Reconciler,
):
    """Runs one network: ``up``, ``down``, ``reconcile`` and channel membership changes."""

    def up(self) -> list[tuple[str, str, int, str]]:
        """Run ``UP_STEPS`` in order; a step that fails stops everything started."""
        started = time.monotonic()
        self.state = self.home.load_state()
        try:
            for step in UP_STEPS:
                self.progress(f"{step.title} …")
                self._run_step(step.title, getattr(self, step.method))
        except SupervisorError:
            self.stop_started()
            raise
        self.progress(f"network {self.spec.name} is up in {time.monotonic() - started:.1f}s")
        return [(name, p.host, p.port, p.operations) for name, p in self.processes.items()]

    @staticmethod
    def _run_step(title: str, step: Callable[[], None]) -> None:
        try:
            step()
        except SupervisorError:
            raise
        except Exception as exc:  # a CA, control-plane or gateway call failed
            raise SupervisorError(f"{title}: {type(exc).__name__}: {exc}") from exc


assert all(hasattr(Supervisor, step.method) for step in UP_STEPS)
