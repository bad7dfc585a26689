"""The AMB side: the network and its members created by proposal and vote, members
voted in later recorded, and the peers reported as the control plane's nodes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from network.errors import SupervisorError
from network.spec import Member
from network.supervisor.base import SupervisorBase
from network.supervisor.home import NODE_INSTANCE_TYPE
from proto.ports import free_port


class Governance(SupervisorBase):
    """The AMB side: network, members, votes, node records."""

    def create_network_and_members(self) -> None:
        if self.state.get("network_id"):
            return
        first, *others = self.spec.members
        policy = self.spec.voting_policy
        passwords = self.state["passwords"]
        created = self._client(first.account).call(
            "POST",
            "/networks",
            {
                "ClientRequestToken": str(uuid.uuid4()),
                "Name": self.spec.name,
                "Framework": "HYPERLEDGER_FABRIC",
                "FrameworkVersion": "2.2",
                "FrameworkConfiguration": {"Fabric": {"Edition": "STANDARD"}},
                "VotingPolicy": {
                    "ApprovalThresholdPolicy": {
                        "ThresholdPercentage": policy.threshold_percentage,
                        "ProposalDurationInHours": policy.proposal_duration_hours,
                        "ThresholdComparator": policy.threshold_comparator,
                    }
                },
                "MemberConfiguration": self._member_configuration(first, passwords),
            },
        )
        network_id = created["NetworkId"]
        member_ids = {first.name: created["MemberId"]}
        # Reported at once: this `up` starts the ordering service and the CAs next, and
        # the members must be AVAILABLE to propose and vote the others in.
        orderer = self.spec.orderers[0]
        self._report("networks", network_id, "AVAILABLE", f"{orderer.host}:{orderer.port}")
        self._report_member(first, created["MemberId"])
        self.progress(f"  network {self.spec.name} ({network_id}) created by {first.name}")
        for member in others:
            member_ids[member.name] = self._vote_in(network_id, member, member_ids, passwords)
            self._report_member(member, member_ids[member.name])
        self.state.update(network_id=network_id, member_ids=member_ids)
        self.home.save_state(self.state)

    def _member_configuration(self, member: Member, passwords: dict[str, str]) -> dict:
        return {
            "Name": member.name,
            "FrameworkConfiguration": {
                "Fabric": {"AdminUsername": "admin", "AdminPassword": passwords[member.name]}
            },
        }

    def _vote_in(
        self, network_id: str, member: Member, member_ids: dict[str, str], passwords: dict
    ) -> str:
        proposer = self.member(next(iter(member_ids)))
        proposal = self._client(proposer.account).call(
            "POST",
            f"/networks/{network_id}/proposals",
            {
                "ClientRequestToken": str(uuid.uuid4()),
                "MemberId": member_ids[proposer.name],
                "Actions": {"Invitations": [{"Principal": member.account}]},
                "Description": f"invite {member.name}",
            },
        )["ProposalId"]
        base = f"/networks/{network_id}/proposals/{proposal}"
        for voter, voter_id in member_ids.items():
            status = self._client(self.member(voter).account).call("GET", base)["Proposal"][
                "Status"
            ]
            if status != "IN_PROGRESS":
                break
            self._client(self.member(voter).account).call(
                "POST", f"{base}/votes", {"VoterMemberId": voter_id, "Vote": "YES"}
            )
        invitations = self._client(member.account).call("GET", "/invitations")["Invitations"]
        invitation = next(
            i["InvitationId"]
            for i in invitations
            if i["NetworkSummary"]["Id"] == network_id and i["Status"] == "PENDING"
        )
        created = self._client(member.account).call(
            "POST",
            f"/networks/{network_id}/members",
            {
                "ClientRequestToken": str(uuid.uuid4()),
                "InvitationId": invitation,
                "MemberConfiguration": self._member_configuration(member, passwords),
            },
        )
        self.progress(f"  {member.name} invited by proposal, voted in, member created")
        return created["MemberId"]

    def _desired(self) -> dict[str, Any]:
        import urllib.request

        with urllib.request.urlopen(f"{self.control_plane_url}/internal/desired", timeout=10) as r:
            return json.loads(r.read())

    def _network_members(self) -> list[dict[str, Any]]:
        """The control plane's member records of this network (every status)."""
        network_id = self.state.get("network_id")
        return [row for row in self._desired()["Members"] if row["NetworkId"] == network_id]

    def _record_new_members(self) -> list[str]:
        """Members the control plane has that this network does not run yet. A member is
        known by its id: a company voted out and invited back under its old name is a new
        member (a new CA, new identities), so its old files are set aside first."""
        ids = self.state.setdefault("member_ids", {})
        running = {m.name for m in self.members}
        spec_names = {m.name for m in self.spec.members}
        added = []
        for row in self._network_members():
            name, member_id = row["Name"], row["Id"]
            if row["Status"] not in ("CREATING", "AVAILABLE") or ids.get(name) == member_id:
                continue
            if name in running:  # a state file older than member ids
                ids.setdefault(name, member_id)
                continue
            if name in self.state.get("removed", []):
                self._set_aside(name)
            if name not in spec_names:
                self.state.setdefault("joined", []).append(
                    {
                        "name": name,
                        "account": row["Owner"],
                        "mspid": f"{name[:1].upper()}{name[1:]}MSP",
                        "ca_port": free_port(),
                        "peer_port": free_port(),
                    }
                )
            ids[name] = member_id
            self.state["passwords"][name] = row["AdminPassword"]
            added.append(name)
        self.home.save_state(self.state)
        return added

    def _set_aside(self, name: str) -> None:
        """Forget a voted-out member before its name comes back: its folder is kept as
        ``members/<name>.removed-<n>`` and every record of it leaves the state."""
        folder = self.home.member(name)
        if folder.exists():
            n = 1
            while folder.with_name(f"{name}.removed-{n}").exists():
                n += 1
            folder.rename(folder.with_name(f"{name}.removed-{n}"))
        state = self.state
        state["removed"] = [n for n in state.get("removed", []) if n != name]
        state["joined"] = [m for m in state.get("joined", []) if m["name"] != name]
        for listing in ("approved", "joined_channels", "left_channels"):
            for names in state.get(listing, {}).values():
                while name in names:
                    names.remove(name)
        prefix = f"peer-{name}-"
        for nodes in ("node_ids", "node_status"):
            state[nodes] = {
                k: v for k, v in state.get(nodes, {}).items() if not k.startswith(prefix)
            }
        state.get("api_peers", {}).pop(name, None)
        for record in state.get("chaincodes", {}).values():
            record["installed"] = [
                p for p in record.get("installed", []) if not p.startswith(prefix)
            ]
            record["approved"] = [m for m in record.get("approved", []) if m != name]
        self.progress(f"  {name} was voted out before: its old files are set aside")

    def _report(self, resource: str, resource_id: str, status: str, endpoint: str = "") -> None:
        body = {"Resource": resource, "Id": resource_id, "Status": status}
        if endpoint:
            body["Endpoint"] = endpoint
        self._post_internal("/internal/report", body)

    def _report_member(self, member: Member, member_id: str) -> None:
        self._report("members", member_id, "AVAILABLE", f"{member.ca.host}:{member.ca.port}")

    def report_members(self) -> None:
        """A member the control plane shows CREATING (one that accepted its invitation)
        becomes AVAILABLE, with its CA's endpoint, once its CA runs."""
        ids = self.state.get("member_ids", {})
        creating = {row["Id"] for row in self._network_members() if row["Status"] == "CREATING"}
        for member in self.members:
            member_id = ids.get(member.name)
            if member_id not in creating:
                continue
            ca = self.processes.get(f"ca-{member.name}")
            if ca is not None and ca.pid is not None:
                self._report_member(member, member_id)

    def report_removed(self, member_name: str) -> None:
        """A member voted out whose nodes are stopped: it and its peers are DELETED."""
        member_id = self.state.get("member_ids", {}).get(member_name)
        prefix = f"peer-{member_name}-"
        desired = self._desired()
        statuses = {row["Id"]: row["Status"] for row in desired["Members"] + desired["Nodes"]}
        node_ids = [i for n, i in self.state.get("node_ids", {}).items() if n.startswith(prefix)]
        for resource, resource_id in [("nodes", i) for i in node_ids] + [("members", member_id)]:
            if resource_id and statuses.get(resource_id) == "DELETING":
                self._report(resource, resource_id, "DELETED")

    def register_nodes(self) -> None:
        """Each member's peers as nodes of that member in the control plane (created once
        by the member's own account, as on AMB), then their status and endpoint reported,
        so `aws managedblockchain list-nodes` shows what runs and where."""
        network_id = self.state.get("network_id")
        if not network_id:
            return
        self.report_members()
        node_ids = self.state.setdefault("node_ids", {})
        removed = set(self.state.get("removed", []))
        unregistered = [
            (member, f"peer-{member.name}-{peer.name}")
            for member in self.members
            if member.name not in removed
            for peer in member.peers
            if f"peer-{member.name}-{peer.name}" not in node_ids
        ]
        if unregistered:  # asked only then: reconcile runs this every pass
            member_ids = {row["Name"]: row["Id"] for row in self._live_members(network_id)}
        for member, name in unregistered:
            if member.name not in member_ids:
                continue  # voted out: the control plane deleted its nodes
            created = self._client(member.account).call(
                "POST",
                f"/networks/{network_id}/nodes",
                {
                    "ClientRequestToken": str(uuid.uuid4()),
                    "MemberId": member_ids[member.name],
                    "NodeConfiguration": {"InstanceType": NODE_INSTANCE_TYPE},
                },
            )
            node_ids[name] = created["NodeId"]
            self.home.save_state(self.state)
        self.report_nodes()

    def follow_node_records(self) -> None:
        """Nodes made or deleted through AMB's API (boto3 ``create_node`` /
        ``delete_node``), not by the supervisor: a new node of a member this network runs
        becomes a peer of that member (``peer<N>``, a free loopback port, kept in
        ``state.json``: enrolled, started, joined to the member's channels, given their
        chaincodes by the rest of the pass, then reported AVAILABLE with its endpoint); a
        deleted one is stopped and reported DELETED."""
        network_id = self.state.get("network_id")
        if not network_id:
            return
        node_ids = self.state.setdefault("node_ids", {})
        ours = set(node_ids.values())
        members = {row["Id"]: row["Name"] for row in self._live_members(network_id)}
        running = {m.name for m in self.members}
        added = self.state.setdefault("api_peers", {})
        for row in self._desired()["Nodes"]:
            if row["NetworkId"] != network_id:
                continue
            gone = row["Status"] in ("DELETING", "DELETED")
            if gone and row["Id"] in ours:
                self._retire_node(row, node_ids, added)
            elif not gone and row["Id"] not in ours and members.get(row["MemberId"]) in running:
                member = members[row["MemberId"]]
                taken = {p.name for m in self.members if m.name == member for p in m.peers}
                name = next(f"peer{n}" for n in range(1, 100) if f"peer{n}" not in taken)
                added.setdefault(member, []).append({"name": name, "port": free_port()})
                node_ids[f"peer-{member}-{name}"] = row["Id"]
                ours.add(row["Id"])
                self.progress(f"  node {row['Id']}: {member}/{name} (created through the API)")
        self.home.save_state(self.state)

    def _retire_node(self, row: dict[str, Any], node_ids: dict, added: dict) -> None:
        name = next(n for n, i in node_ids.items() if i == row["Id"])
        process = self.processes.pop(name, None) or self.home.process(name, [], "", 0)
        process.stop()
        del node_ids[name]
        self.state.setdefault("node_status", {}).pop(name, None)
        for member, peers in added.items():
            added[member] = [p for p in peers if f"peer-{member}-{p['name']}" != name]
        if row["Status"] == "DELETING":
            self._post_internal(
                "/internal/report", {"Resource": "nodes", "Id": row["Id"], "Status": "DELETED"}
            )
        self.progress(f"  node {row['Id']} ({name}) deleted through the API: stopped")

    def _live_members(self, network_id: str) -> list[dict[str, Any]]:
        return [
            row
            for row in self._desired()["Members"]
            if row["NetworkId"] == network_id and row["Status"] not in ("DELETING", "DELETED")
        ]

    def report_nodes(self) -> None:
        """Tell the control plane which peers run (AVAILABLE, with their endpoint) and which
        died (FAILED); only changes are sent. Reconcile reports a dead peer FAILED before
        it restarts it, and AVAILABLE once it listens again."""
        reported = self.state.setdefault("node_status", {})
        removed = {f"peer-{member}-" for member in self.state.get("removed", [])}
        for name, node_id in self.state.get("node_ids", {}).items():
            if any(name.startswith(prefix) for prefix in removed):
                continue  # voted out: its nodes are the control plane's to delete
            process = self.processes.get(name) or self.home.process(name, [], "", 0)
            status = "AVAILABLE" if process.pid is not None else "FAILED"
            if reported.get(name) == status:
                continue
            body = {"Resource": "nodes", "Id": node_id, "Status": status}
            if process.address():
                body["Endpoint"] = process.address()
            try:
                self._post_internal("/internal/report", body)
            except OSError as exc:
                self.progress(f"  could not report {name} {status}: {exc}")
                continue
            reported[name] = status
            self.home.save_state(self.state)

    def _post_internal(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            f"{self.control_plane_url}{path}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"content-type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as failure:  # a refusal names its reason: say it
            raise SupervisorError(
                f"control plane refused {path}: {failure.read().decode(errors='replace')}"
            ) from None
