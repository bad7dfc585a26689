"""Reconcile: make the running network match what the control plane says."""

from __future__ import annotations

import asyncio

from network.errors import SupervisorError
from network.supervisor.base import SupervisorBase
from network.supervisor.connections import PROFILES


class Reconciler(SupervisorBase):
    """Reconcile: make the running network match what the control plane says."""

    def reconcile(self) -> list[str]:
        try:
            return self._reconcile()
        except SupervisorError:
            raise
        except Exception as exc:
            raise SupervisorError(f"reconcile: {type(exc).__name__}: {exc}") from exc

    def _reconcile(self) -> list[str]:
        """Make the network run what the control plane says: start a newly voted-in
        member's CA and peer and write its connection file. Joining the network gives
        access to no channel (as on AMB and in Fabric): a channel's admins add an
        organization with ``channel add-member``. Every step is idempotent, so a
        reconcile that failed half-way is finished by the next."""
        self.state = self.home.load_state()
        self.processes.clear()  # a runner may have moved since the last pass (an upgrade)
        self.started.clear()  # what this pass starts is what it reports
        self._start_existing()
        self._say_who_died()
        self.report_nodes()  # a peer that died is FAILED until it runs again
        self._remove_deleted_members()
        self._record_new_members()
        self.follow_node_records()
        removed = set(self.state.get("removed", []))
        joined = [m["name"] for m in self.state.get("joined", []) if m["name"] not in removed]
        self.start_member_cas()  # (re)starts any CA, orderer, peer or contract that died
        self.start_nats()
        self.enroll_members()
        self.write_client_roots()  # a member voted in is let in, one voted out refused
        self.start_orderers()
        self.start_peers()
        self.launch_contracts()
        self._ready("orderer-")
        broken = self._contracts_ready()
        self._ready("peer-")
        asyncio.run(self._join_peers())
        self._approve_chaincodes(joined)
        self.install_on_new_peers()
        self.write_connection_files()
        self.launch_events()  # restarts the bridge (or broker) if it died
        self.events_ready()
        self.start_analytics()  # restarts it if it died; it resumes from its checkpoint
        self.register_nodes()
        self.launch_explorer()  # restarts it if it died (unless `up --no-explorer`)
        if broken:  # reported after the rest of the pass, which they must not hold up
            raise SupervisorError("; ".join(broken))
        return joined

    def _contracts_ready(self) -> list[str]:
        """Wait for each contract runner; one that does not start is reported (exit code,
        end of its log) without keeping the pass from restarting peers and the rest."""
        broken = []
        for name, process in list(self.processes.items()):
            if name.startswith("chaincode-") and process.port:
                try:
                    process.wait_ready()
                except SupervisorError as exc:
                    broken.append(str(exc))
        return broken

    def _say_who_died(self) -> None:
        """One line per node found dead (its pid file is there, its process gone), be it
        a peer, an orderer, a CA or a broker; the pass then restarts it."""
        records = self.state.get("node_ids", {})
        for process in self.all_processes():
            if process.pid is None and process.name != "reconciler":
                reported = (
                    " (its node record is reported FAILED)" if process.name in records else ""
                )
                self.progress(f"  {process.name} is not running: restarting it{reported}")

    def _remove_deleted_members(self) -> None:
        """A member the consortium voted out: its organization leaves every channel by a
        config update, its nodes stop, its connection file goes. Its data stays."""
        rows = self._network_members()
        gone = {row["Id"] for row in rows if row["Status"] in ("DELETING", "DELETED")}
        here = {row["Name"] for row in rows if row["Id"] not in gone}
        ids = self.state.get("member_ids", {})

        def voted_out(member) -> bool:
            if member.name in ids:
                return ids[member.name] in gone
            return member.name not in here and any(r["Name"] == member.name for r in rows)

        for member in [m for m in self.members if voted_out(m)]:
            for channel in self.spec.channels:
                if member.name in self.channel_members(channel):
                    asyncio.run(self._remove_organization(channel, member))
            for process in self.all_processes():
                if process.name == f"ca-{member.name}" or process.name.startswith(
                    f"peer-{member.name}-"
                ):
                    process.stop()
                    self.processes.pop(process.name, None)
            connections = self.home.root / "connection"
            (connections / f"{member.name}.json").unlink(missing_ok=True)
            (connections / PROFILES / f"{member.name}.json").unlink(missing_ok=True)
            self.report_removed(member.name)
            self.state.setdefault("removed", []).append(member.name)
            self.home.save_state(self.state)
            self.progress(f"  {member.name} removed: left the channels, nodes stopped")
