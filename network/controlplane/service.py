"""The control plane's operations: AMB's semantics over the ledger-backed tables.

Every mutating operation runs in two halves. The synchronous half checks the request
against the current tables, stages the new revisions in a ``Txn`` and hands them to the
store; nothing awaits in between, so on the one event loop each operation sees and
changes the state atomically. The asynchronous half waits until the block is durable,
then publishes the governance events and answers. Reads wait for the newest submitted
block first, so nobody ever sees a change that could still be lost.

Time-driven changes (proposals and invitations expiring) are written by ``sweep`` as
their own transactions, before any operation and periodically by the server.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from network.controlplane import resources as res
from network.controlplane import validation as shapes
from network.controlplane.clock import Clock, SystemClock
from network.controlplane.errors import (
    AccessDeniedException,
    IllegalActionException,
    InternalServiceErrorException,
    InvalidRequestException,
    ResourceAlreadyExistsException,
    ResourceLimitExceededException,
    ResourceNotFoundException,
    ResourceNotReadyException,
    StoreError,
    TooManyTagsException,
)
from network.controlplane.events import EventBus, EventFeed, GovernanceEvent, events_for
from network.controlplane.pagination import by_creation, paginate
from network.controlplane.passwords import Secrets
from network.controlplane.query import run_query
from network.controlplane.store import Change, Store, compact, settled
from network.controlplane.tables import Tables
from network.controlplane.voting import Comparator, Outcome, Policy, Tally, decide

log = logging.getLogger(__name__)

LIVE_MEMBER = ("CREATING", "AVAILABLE", "UPDATING")
LIVE_NODE = ("CREATING", "AVAILABLE", "UPDATING", "UNHEALTHY", "FAILED")
MAX_TAGS = 50
Document = dict[str, Any]


class Txn:
    """Staged revisions of one transaction; a document changed twice is written once."""

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.staged: dict[tuple[str, str], Document] = {}

    def get(self, table: str, doc_id: str) -> Document | None:
        staged = self.staged.get((table, doc_id))
        return dict(staged) if staged is not None else self.tables.get(table, doc_id)

    def put(self, table: str, doc_id: str, document: Mapping[str, Any]) -> None:
        self.staged[(table, doc_id)] = compact(document)

    def changes(self) -> list[Change]:
        return [
            Change(table, doc_id, self.tables.next_version(table, doc_id), document)
            for (table, doc_id), document in self.staged.items()
        ]


@dataclass
class Pending:
    future: Future


def _fingerprint(params: Mapping[str, Any]) -> str:
    """What an idempotent retry must repeat: the request minus its token and any password."""

    def scrub(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                key: scrub(item)
                for key, item in value.items()
                if key not in ("ClientRequestToken", "AdminPassword")
            }
        return value

    text = json.dumps(scrub(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class ControlPlane:
    def __init__(
        self,
        store: Store,
        clock: Clock | None = None,
        *,
        region: str = res.DEFAULT_REGION,
        reconcile: str = "immediate",
        secrets: Secrets | None = None,
        bus: EventBus | None = None,
        member_quota: int | None = None,
    ) -> None:
        """``member_quota`` replaces the edition's member limit (AMB's quota increase)."""
        if reconcile not in ("immediate", "external"):
            raise ValueError(f"reconcile must be 'immediate' or 'external', not {reconcile!r}")
        self.store = store
        self.clock = clock or SystemClock()
        self.region = region
        self.reconcile = reconcile
        self.secrets = secrets or Secrets(None)
        self.bus = bus or EventBus()
        self.member_quota = member_quota
        self.tables = Tables()
        self._last: Future | None = None
        self._broken: str | None = None
        self.feed = EventFeed()
        for committed in store.replay():
            transitions = [
                (change.table, self.tables.get(change.table, change.id), change.document)
                for change in committed.changes
            ]
            self.tables.apply(committed.changes, committed.sequence_no)
            self.feed.record(committed.sequence_no, events_for(transitions))

    # ---- committing ----------------------------------------------------------------------

    @property
    def broken(self) -> str | None:
        """Why the ledger failed, if it did: the process must restart and replay."""
        return self._broken

    def _check_healthy(self) -> None:
        if self._broken is not None:
            raise InternalServiceErrorException(f"the control plane stopped: {self._broken}")

    def _submit(self, operation: str, caller: str, txn: Txn) -> Pending:
        changes = txn.changes()
        transitions = [
            (change.table, self.tables.get(change.table, change.id), change.document)
            for change in changes
        ]
        info = {"operation": operation, "account": caller}
        try:
            future = self.store.submit(info, changes, self.clock.now())
        except StoreError as exc:
            raise InternalServiceErrorException(str(exc)) from exc
        located = self.tables.apply(changes, None)
        events = events_for(transitions)
        loop = asyncio.get_running_loop()

        def note(done: Future) -> None:  # on the journal's committer thread
            if done.exception() is None:
                for record in located:
                    record.sequence_no = done.result()
                loop.call_soon_threadsafe(self._deliver, done.result(), events)

        future.add_done_callback(note)
        self._last = future
        return Pending(future)

    def _deliver(self, sequence_no: int, events: list[GovernanceEvent]) -> None:
        """The one place events leave: once their block is durable, in block order."""
        self.feed.record(sequence_no, events)
        self.bus.publish(events)

    async def _settle(self, pending: Pending) -> int:
        try:
            sequence_no = await settled(pending.future)
        except StoreError as exc:
            self._broken = str(exc)
            log.error("control-plane ledger failed; refusing further requests: %s", exc)
            raise InternalServiceErrorException(str(exc)) from exc
        return sequence_no

    async def barrier(self) -> None:
        """Wait until everything already accepted is durable."""
        self._check_healthy()
        if self._last is not None and not self._last.done():
            await self._settle(Pending(self._last))

    async def _mutate(self, operation: str, caller: str, build: Callable[[], Any]) -> Any:
        self._check_healthy()
        await self.sweep()
        result = build()
        response, txn = result if isinstance(result, tuple) else (result, None)
        if txn is not None and txn.staged:
            await self._settle(self._submit(operation, caller, txn))
        else:
            await self.barrier()
        return response

    async def _read(self, read: Callable[[], Any]) -> Any:
        self._check_healthy()
        await self.sweep()
        await self.barrier()
        return read()

    async def sweep(self) -> int:
        """Expire proposals and invitations whose deadline has passed; returns how many."""
        now = res.iso(self.clock.now())
        txn = Txn(self.tables)
        for proposal in self.tables.rows("proposals"):
            if proposal["Status"] == "IN_PROGRESS" and proposal["ExpirationDate"] <= now:
                txn.put("proposals", proposal["ProposalId"], {**proposal, "Status": "EXPIRED"})
        for invitation in self.tables.rows("invitations"):
            if invitation["Status"] == "PENDING" and invitation["ExpirationDate"] <= now:
                expired = {**invitation, "Status": "EXPIRED"}
                txn.put("invitations", invitation["InvitationId"], expired)
        if not txn.staged:
            return 0
        await self._settle(self._submit("Expire", res.SYSTEM, txn))
        return len(txn.staged)

    # ---- lookups shared by the operations -----------------------------------------------

    def _network(self, network_id: str) -> Document:
        network = self.tables.get("networks", network_id)
        if network is None or network["Status"] == "DELETED":
            raise ResourceNotFoundException(f"Network {network_id} not found.")
        return network

    def _participates(self, caller: str, network_id: str) -> bool:
        members = self.tables.rows("members")
        if any(
            m["NetworkId"] == network_id and m["Owner"] == caller and m["Status"] != "DELETED"
            for m in members
        ):
            return True
        return any(
            i["NetworkId"] == network_id and i["Principal"] == caller and i["Status"] == "PENDING"
            for i in self.tables.rows("invitations")
        )

    def _visible_network(self, caller: str, network_id: str) -> Document:
        network = self._network(network_id)
        if not self._participates(caller, network_id):
            raise AccessDeniedException(
                f"Account {caller} is neither a member of nor invited to network {network_id}."
            )
        return network

    def _member(self, network_id: str, member_id: str, txn: Txn | None = None) -> Document:
        member = (txn or self.tables).get("members", member_id)
        if member is None or member["NetworkId"] != network_id:
            raise ResourceNotFoundException(
                f"Member {member_id} not found in network {network_id}."
            )
        return member

    def _owned_member(self, caller: str, network_id: str, member_id: str) -> Document:
        member = self._member(network_id, member_id)
        if member["Owner"] != caller:
            raise AccessDeniedException(
                f"Member {member_id} belongs to another account; only its owner may act for it."
            )
        if member["Status"] == "DELETED":
            raise ResourceNotFoundException(f"Member {member_id} was deleted.")
        return member

    def _available(self, kind: str, document: Mapping[str, Any], doc_id: str) -> None:
        if document["Status"] != "AVAILABLE":
            raise ResourceNotReadyException(
                f"{kind} {doc_id} is {document['Status']}; it must be AVAILABLE."
            )

    def _live_members(self, network_id: str, txn: Txn | None = None) -> list[Document]:
        """Members that count (electorate, limits), as the transaction would leave them."""
        view = txn or Txn(self.tables)
        ids = {m["Id"] for m in self.tables.rows("members") if m["NetworkId"] == network_id}
        if txn is not None:
            ids |= {
                doc_id
                for (table, doc_id), document in txn.staged.items()
                if table == "members" and document["NetworkId"] == network_id
            }
        members = [view.get("members", member_id) for member_id in sorted(ids)]
        return [m for m in members if m is not None and m["Status"] in LIVE_MEMBER]

    def _edition(self, network: Mapping[str, Any]) -> res.Edition:
        return res.EDITIONS[network["FrameworkAttributes"]["Fabric"]["Edition"]]

    def _idempotent(
        self, caller: str, operation: str, params: Mapping[str, Any]
    ) -> tuple[str, Any | None]:
        """The request's key in ``requests``, and the first answer if it was already done."""
        token = params["ClientRequestToken"]
        key = hashlib.sha256(f"{caller}\0{operation}\0{token}".encode()).hexdigest()[:32]
        done = self.tables.get("requests", key)
        if done is None:
            return key, None
        if done["Fingerprint"] != _fingerprint(params):
            raise InvalidRequestException(
                f"ClientRequestToken '{token}' was already used for a different {operation} "
                "request."
            )
        return key, done["Response"]

    def _remember(
        self,
        txn: Txn,
        key: str,
        caller: str,
        operation: str,
        params: Mapping[str, Any],
        answer: Any,
    ) -> None:
        txn.put(
            "requests",
            key,
            {
                "Account": caller,
                "Operation": operation,
                "Fingerprint": _fingerprint(params),
                "Response": answer,
            },
        )

    def _tags(self, tags: Mapping[str, str] | None, arn: str) -> dict[str, str]:
        tags = dict(tags or {})
        if len(tags) > MAX_TAGS:
            raise TooManyTagsException(
                f"{arn or 'the resource'} may carry at most {MAX_TAGS} tags."
            )
        return tags

    def _created(self, status_when_immediate: str = "AVAILABLE") -> str:
        return status_when_immediate if self.reconcile == "immediate" else "CREATING"

    def _removed(self) -> str:
        return "DELETED" if self.reconcile == "immediate" else "DELETING"

    # ---- networks ------------------------------------------------------------------------

    async def create_network(self, caller: str, body: Any) -> dict[str, str]:
        params = shapes.CreateNetworkInput.check(body, "")
        return await self._mutate(
            "CreateNetwork", caller, lambda: self._create_network(caller, params)
        )

    def _create_network(self, caller: str, params: Mapping[str, Any]) -> Any:
        key, done = self._idempotent(caller, "CreateNetwork", params)
        if done is not None:
            return done
        if params["Framework"] != "HYPERLEDGER_FABRIC":
            raise InvalidRequestException(
                f"Framework {params['Framework']} is not offered: this control plane runs "
                "HYPERLEDGER_FABRIC networks."
            )
        if params["FrameworkVersion"] not in res.FABRIC_VERSIONS:
            raise InvalidRequestException(
                f"FrameworkVersion {params['FrameworkVersion']} is not supported; use one of "
                f"{', '.join(res.FABRIC_VERSIONS)}."
            )
        fabric = params.get("FrameworkConfiguration", {}).get("Fabric")
        if fabric is None:
            raise InvalidRequestException(
                "FrameworkConfiguration.Fabric.Edition is required for HYPERLEDGER_FABRIC."
            )
        threshold = params["VotingPolicy"].get("ApprovalThresholdPolicy", {})
        for name in ("ThresholdPercentage", "ProposalDurationInHours", "ThresholdComparator"):
            if name not in threshold:
                raise InvalidRequestException(
                    f"VotingPolicy.ApprovalThresholdPolicy.{name} is required."
                )
        now = self.clock.now()
        network_id = res.new_id("networks")
        network_arn = res.arn(self.region, caller, "networks", network_id)
        txn = Txn(self.tables)
        network = {
            "Id": network_id,
            "Name": params["Name"],
            "Description": params.get("Description"),
            "Framework": params["Framework"],
            "FrameworkVersion": params["FrameworkVersion"],
            "FrameworkAttributes": {"Fabric": {"Edition": fabric["Edition"]}},
            "VotingPolicy": params["VotingPolicy"],
            "Status": self._created(),
            "CreationDate": res.iso(now),
            "Tags": self._tags(params.get("Tags"), network_arn),
            "Arn": network_arn,
            "Creator": caller,
        }
        txn.put("networks", network_id, network)
        member_id = self._stage_member(txn, caller, network, params["MemberConfiguration"], None)
        answer = {"NetworkId": network_id, "MemberId": member_id}
        self._remember(txn, key, caller, "CreateNetwork", params, answer)
        return answer, txn

    async def get_network(self, caller: str, network_id: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            network = self._visible_network(caller, network_id)
            return {"Network": res.project(network, res.NETWORK)}

        return await self._read(read)

    async def list_networks(self, caller: str, query: Any) -> dict[str, Any]:
        params = shapes.ListNetworksInput.check(query, "")

        def read() -> dict[str, Any]:
            rows = [
                n
                for n in self.tables.rows("networks")
                if self._participates(caller, n["Id"])
                and params.get("name") in (None, n["Name"])
                and params.get("framework") in (None, n["Framework"])
                and params.get("status") in (None, n["Status"])
            ]
            page, token = paginate(
                rows, by_creation, params.get("maxResults"), params.get("nextToken"), 10
            )
            answer: dict[str, Any] = {
                "Networks": [res.project(n, res.NETWORK_SUMMARY) for n in page]
            }
            if token:
                answer["NextToken"] = token
            return answer

        return await self._read(read)

    # ---- members -------------------------------------------------------------------------

    def _stage_member(
        self,
        txn: Txn,
        caller: str,
        network: Mapping[str, Any],
        config: Mapping[str, Any],
        invitation_id: str | None,
    ) -> str:
        fabric = config["FrameworkConfiguration"].get("Fabric")
        if fabric is None:
            raise InvalidRequestException(
                "MemberConfiguration.FrameworkConfiguration.Fabric is required for "
                "HYPERLEDGER_FABRIC."
            )
        network_id = network["Id"]
        live = self._live_members(network_id, txn)
        if any(member["Name"] == config["Name"] for member in live):
            raise ResourceAlreadyExistsException(
                f"A member named {config['Name']} already exists in network {network_id}."
            )
        limit = self.member_quota or self._edition(network).members
        if len(live) >= limit:
            raise ResourceLimitExceededException(
                f"Network {network_id} already has {len(live)} members, its limit "
                f"({network['FrameworkAttributes']['Fabric']['Edition']} edition or quota)."
            )
        member_id = res.new_id("members")
        member_arn = res.arn(self.region, caller, "members", member_id)
        txn.put(
            "members",
            member_id,
            {
                "NetworkId": network_id,
                "Id": member_id,
                "Name": config["Name"],
                "Description": config.get("Description"),
                "FrameworkAttributes": {"Fabric": {"AdminUsername": fabric["AdminUsername"]}},
                "LogPublishingConfiguration": config.get("LogPublishingConfiguration"),
                "Status": self._created(),
                "CreationDate": res.iso(self.clock.now()),
                "Tags": self._tags(config.get("Tags"), member_arn),
                "Arn": member_arn,
                "KmsKeyArn": config.get("KmsKeyArn"),
                "Owner": caller,
                "InvitationId": invitation_id,
            },
        )
        self.secrets.put(member_id, fabric["AdminPassword"])
        return member_id

    async def create_member(self, caller: str, network_id: str, body: Any) -> dict[str, str]:
        params = shapes.CreateMemberInput.check(body, "")
        return await self._mutate(
            "CreateMember", caller, lambda: self._create_member(caller, network_id, params)
        )

    def _create_member(self, caller: str, network_id: str, params: Mapping[str, Any]) -> Any:
        key, done = self._idempotent(caller, "CreateMember", params)
        if done is not None:
            return done
        network = self._network(network_id)
        invitation_id = params["InvitationId"]
        invitation = self.tables.get("invitations", invitation_id)
        if invitation is None or invitation["NetworkId"] != network_id:
            raise ResourceNotFoundException(
                f"Invitation {invitation_id} not found for network {network_id}."
            )
        if invitation["Principal"] != caller:
            raise AccessDeniedException(
                f"Invitation {invitation_id} was issued to another account, not {caller}."
            )
        if invitation["Status"] != "PENDING":
            raise InvalidRequestException(
                f"InvitationId {invitation_id} is {invitation['Status']}; only a PENDING "
                "invitation can be accepted."
            )
        self._available("Network", network, network_id)
        txn = Txn(self.tables)
        member_id = self._stage_member(
            txn, caller, network, params["MemberConfiguration"], invitation_id
        )
        txn.put("invitations", invitation_id, {**invitation, "Status": "ACCEPTED"})
        answer = {"MemberId": member_id}
        self._remember(txn, key, caller, "CreateMember", params, answer)
        return answer, txn

    async def get_member(self, caller: str, network_id: str, member_id: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            self._visible_network(caller, network_id)
            member = self._member(network_id, member_id)
            return {"Member": res.project(member, res.MEMBER)}

        return await self._read(read)

    async def list_members(self, caller: str, network_id: str, query: Any) -> dict[str, Any]:
        params = shapes.ListMembersInput.check(query, "")

        def read() -> dict[str, Any]:
            self._visible_network(caller, network_id)
            owned = params.get("isOwned")
            rows = [
                {**m, "IsOwned": m["Owner"] == caller}
                for m in self.tables.rows("members")
                if m["NetworkId"] == network_id
                and params.get("name") in (None, m["Name"])
                and params.get("status") in (None, m["Status"])
                and owned in (None, m["Owner"] == caller)
            ]
            page, token = paginate(
                rows, by_creation, params.get("maxResults"), params.get("nextToken"), 20
            )
            fields = (*res.MEMBER_SUMMARY, "IsOwned")
            answer: dict[str, Any] = {"Members": [res.project(m, fields) for m in page]}
            if token:
                answer["NextToken"] = token
            return answer

        return await self._read(read)

    async def update_member(
        self, caller: str, network_id: str, member_id: str, body: Any
    ) -> dict[str, Any]:
        params = shapes.UpdateMemberInput.check(body, "")

        def build() -> Any:
            self._network(network_id)
            member = self._owned_member(caller, network_id, member_id)
            self._available("Member", member, member_id)
            txn = Txn(self.tables)
            if "LogPublishingConfiguration" in params:
                updated = {
                    **member,
                    "LogPublishingConfiguration": params["LogPublishingConfiguration"],
                }
                txn.put("members", member_id, updated)
            return {}, txn

        return await self._mutate("UpdateMember", caller, build)

    async def delete_member(self, caller: str, network_id: str, member_id: str) -> dict[str, Any]:
        def build() -> Any:
            self._network(network_id)
            member = self._owned_member(caller, network_id, member_id)
            self._available("Member", member, member_id)
            txn = Txn(self.tables)
            self._stage_removal(txn, member)
            return {}, txn

        return await self._mutate("DeleteMember", caller, build)

    def _stage_removal(self, txn: Txn, member: Mapping[str, Any]) -> None:
        """A member leaves: it and its nodes go; the last member takes the network along."""
        status = self._removed()
        txn.put("members", member["Id"], {**member, "Status": status})
        for node in self.tables.rows("nodes"):
            if node["MemberId"] == member["Id"] and node["Status"] in LIVE_NODE:
                txn.put("nodes", node["Id"], {**node, "Status": status})
        if not self._live_members(member["NetworkId"], txn):
            network = txn.get("networks", member["NetworkId"])
            txn.put("networks", network["Id"], {**network, "Status": status})

    # ---- nodes ---------------------------------------------------------------------------

    async def create_node(self, caller: str, network_id: str, body: Any) -> dict[str, str]:
        params = shapes.CreateNodeInput.check(body, "")
        return await self._mutate(
            "CreateNode", caller, lambda: self._create_node(caller, network_id, params)
        )

    def _create_node(self, caller: str, network_id: str, params: Mapping[str, Any]) -> Any:
        key, done = self._idempotent(caller, "CreateNode", params)
        if done is not None:
            return done
        network = self._network(network_id)
        if "MemberId" not in params:
            raise InvalidRequestException("MemberId is required for HYPERLEDGER_FABRIC nodes.")
        member_id = params["MemberId"]
        member = self._owned_member(caller, network_id, member_id)
        self._available("Member", member, member_id)
        config = params["NodeConfiguration"]
        edition = self._edition(network)
        if config["InstanceType"] not in edition.instance_types:
            raise InvalidRequestException(
                f"NodeConfiguration.InstanceType {config['InstanceType']} is not available in "
                f"the {network['FrameworkAttributes']['Fabric']['Edition']} edition; use one "
                f"of {', '.join(edition.instance_types)}."
            )
        zone = config.get("AvailabilityZone") or f"{self.region}a"
        if not (zone.startswith(self.region) and len(zone) == len(self.region) + 1):
            raise InvalidRequestException(
                f"NodeConfiguration.AvailabilityZone {zone} is not a zone of {self.region}."
            )
        nodes = [
            n
            for n in self.tables.rows("nodes")
            if n["MemberId"] == member_id and n["Status"] in LIVE_NODE
        ]
        if len(nodes) >= edition.nodes_per_member:
            raise ResourceLimitExceededException(
                f"Member {member_id} already has {len(nodes)} nodes, the per-member limit of "
                "its network's edition."
            )
        node_id = res.new_id("nodes")
        node_arn = res.arn(self.region, caller, "nodes", node_id)
        txn = Txn(self.tables)
        txn.put(
            "nodes",
            node_id,
            {
                "NetworkId": network_id,
                "MemberId": member_id,
                "Id": node_id,
                "InstanceType": config["InstanceType"],
                "AvailabilityZone": zone,
                "FrameworkAttributes": {"Fabric": {}},
                "LogPublishingConfiguration": config.get("LogPublishingConfiguration"),
                "StateDB": config.get("StateDB", "CouchDB"),
                "Status": self._created(),
                "CreationDate": res.iso(self.clock.now()),
                "Tags": self._tags(params.get("Tags"), node_arn),
                "Arn": node_arn,
                "Owner": caller,
            },
        )
        answer = {"NodeId": node_id}
        self._remember(txn, key, caller, "CreateNode", params, answer)
        return answer, txn

    def _node(self, network_id: str, node_id: str, member_id: str | None) -> Document:
        node = self.tables.get("nodes", node_id)
        if (
            node is None
            or node["NetworkId"] != network_id
            or member_id not in (None, node["MemberId"])
        ):
            raise ResourceNotFoundException(f"Node {node_id} not found in network {network_id}.")
        return node

    def _owned_node(
        self, caller: str, network_id: str, node_id: str, member_id: str | None
    ) -> Document:
        node = self._node(network_id, node_id, member_id)
        if node["Owner"] != caller:
            raise AccessDeniedException(f"Node {node_id} belongs to another account.")
        return node

    async def get_node(
        self, caller: str, network_id: str, node_id: str, query: Any
    ) -> dict[str, Any]:
        params = shapes.NodeQueryInput.check(query, "")

        def read() -> dict[str, Any]:
            self._visible_network(caller, network_id)
            node = self._node(network_id, node_id, params.get("memberId"))
            return {"Node": res.project(node, res.NODE)}

        return await self._read(read)

    async def list_nodes(self, caller: str, network_id: str, query: Any) -> dict[str, Any]:
        params = shapes.ListNodesInput.check(query, "")

        def read() -> dict[str, Any]:
            self._visible_network(caller, network_id)
            rows = [
                n
                for n in self.tables.rows("nodes")
                if n["NetworkId"] == network_id
                and params.get("memberId") in (None, n["MemberId"])
                and params.get("status") in (None, n["Status"])
            ]
            page, token = paginate(
                rows, by_creation, params.get("maxResults"), params.get("nextToken"), 20
            )
            answer: dict[str, Any] = {"Nodes": [res.project(n, res.NODE_SUMMARY) for n in page]}
            if token:
                answer["NextToken"] = token
            return answer

        return await self._read(read)

    async def update_node(
        self, caller: str, network_id: str, node_id: str, body: Any
    ) -> dict[str, Any]:
        params = shapes.UpdateNodeInput.check(body, "")

        def build() -> Any:
            self._network(network_id)
            node = self._owned_node(caller, network_id, node_id, params.get("MemberId"))
            self._available("Node", node, node_id)
            txn = Txn(self.tables)
            if "LogPublishingConfiguration" in params:
                updated = {
                    **node,
                    "LogPublishingConfiguration": params["LogPublishingConfiguration"],
                }
                txn.put("nodes", node_id, updated)
            return {}, txn

        return await self._mutate("UpdateNode", caller, build)

    async def delete_node(
        self, caller: str, network_id: str, node_id: str, query: Any
    ) -> dict[str, Any]:
        params = shapes.NodeQueryInput.check(query, "")

        def build() -> Any:
            self._network(network_id)
            node = self._owned_node(caller, network_id, node_id, params.get("memberId"))
            if node["Status"] not in ("AVAILABLE", "UNHEALTHY", "FAILED", "CREATE_FAILED"):
                raise ResourceNotReadyException(
                    f"Node {node_id} is {node['Status']}; it cannot be deleted now."
                )
            txn = Txn(self.tables)
            txn.put("nodes", node_id, {**node, "Status": self._removed()})
            return {}, txn

        return await self._mutate("DeleteNode", caller, build)

    # ---- proposals and votes -------------------------------------------------------------

    def _policy(self, network: Mapping[str, Any]) -> Policy:
        threshold = network["VotingPolicy"]["ApprovalThresholdPolicy"]
        return Policy(
            threshold["ThresholdPercentage"],
            threshold["ProposalDurationInHours"],
            Comparator(threshold["ThresholdComparator"]),
        )

    async def create_proposal(self, caller: str, network_id: str, body: Any) -> dict[str, str]:
        params = shapes.CreateProposalInput.check(body, "")
        return await self._mutate(
            "CreateProposal", caller, lambda: self._create_proposal(caller, network_id, params)
        )

    def _create_proposal(self, caller: str, network_id: str, params: Mapping[str, Any]) -> Any:
        key, done = self._idempotent(caller, "CreateProposal", params)
        if done is not None:
            return done
        network = self._network(network_id)
        self._available("Network", network, network_id)
        proposer = self._owned_member(caller, network_id, params["MemberId"])
        self._available("Member", proposer, proposer["Id"])
        actions = params["Actions"]
        invitations = actions.get("Invitations", [])
        removals = actions.get("Removals", [])
        if not invitations and not removals:
            raise InvalidRequestException(
                "Actions must hold at least one of Invitations or Removals."
            )
        for index, invite in enumerate(invitations, start=1):
            principal = invite["Principal"]
            if not (len(principal) == 12 and principal.isdigit()):
                raise InvalidRequestException(
                    f"Actions.Invitations.{index}.Principal '{principal}' is not a 12-digit "
                    "AWS account id."
                )
        for index, removal in enumerate(removals, start=1):
            target = self.tables.get("members", removal["MemberId"])
            if target is None or target["NetworkId"] != network_id:
                raise ResourceNotFoundException(
                    f"Actions.Removals.{index}.MemberId {removal['MemberId']} is not a member "
                    f"of network {network_id}."
                )
            if target["Status"] not in LIVE_MEMBER:
                raise InvalidRequestException(
                    f"Actions.Removals.{index}.MemberId {removal['MemberId']} is "
                    f"{target['Status']} and cannot be removed."
                )
        now = self.clock.now()
        electorate = sorted(m["Id"] for m in self._live_members(network_id))
        proposal_id = res.new_id("proposals")
        proposal_arn = res.arn(self.region, caller, "proposals", proposal_id)
        proposal = {
            "ProposalId": proposal_id,
            "NetworkId": network_id,
            "Description": params.get("Description"),
            "Actions": {"Invitations": invitations, "Removals": removals},
            "ProposedByMemberId": proposer["Id"],
            "ProposedByMemberName": proposer["Name"],
            "Status": "IN_PROGRESS",
            "CreationDate": res.iso(now),
            "ExpirationDate": res.iso(self._policy(network).expiration(now)),
            "YesVoteCount": 0,
            "NoVoteCount": 0,
            "OutstandingVoteCount": len(electorate),
            "Tags": self._tags(params.get("Tags"), proposal_arn),
            "Arn": proposal_arn,
        }
        txn = Txn(self.tables)
        # written once: every later revision of the proposal only carries the counts.
        # Document ids are unique across tables, as the journal's documents map needs.
        electorate_doc = {"ProposalId": proposal_id, "NetworkId": network_id, "Members": electorate}
        txn.put("electorates", f"{proposal_id}.electorate", electorate_doc)
        self._stage_outcome(txn, network, proposal, now)
        answer = {"ProposalId": proposal_id}
        self._remember(txn, key, caller, "CreateProposal", params, answer)
        return answer, txn

    def _stage_outcome(
        self, txn: Txn, network: Mapping[str, Any], proposal: Document, now: datetime
    ) -> None:
        """Record the proposal with its status; on approval its actions run in the same txn."""
        tally = Tally(
            proposal["YesVoteCount"] + proposal["NoVoteCount"] + proposal["OutstandingVoteCount"],
            proposal["YesVoteCount"],
            proposal["NoVoteCount"],
        )
        outcome = decide(self._policy(network), tally, res.parse_iso(proposal["CreationDate"]), now)
        proposal["Status"] = outcome.value
        txn.put("proposals", proposal["ProposalId"], proposal)  # first: decided, then effects
        if outcome is Outcome.APPROVED and not self._run_actions(txn, network, proposal, now):
            txn.put("proposals", proposal["ProposalId"], {**proposal, "Status": "ACTION_FAILED"})

    def _run_actions(
        self, txn: Txn, network: Mapping[str, Any], proposal: Mapping[str, Any], now: datetime
    ) -> bool:
        """Issue the invitations and remove the members; False if a removal target is gone."""
        succeeded = True
        for invite in proposal["Actions"]["Invitations"]:
            invitation_id = res.new_id("invitations")
            txn.put(
                "invitations",
                invitation_id,
                {
                    "InvitationId": invitation_id,
                    "NetworkId": network["Id"],
                    "Principal": invite["Principal"],
                    "ProposalId": proposal["ProposalId"],
                    "Status": "PENDING",
                    "CreationDate": res.iso(now),
                    "ExpirationDate": res.iso(now + timedelta(days=res.INVITATION_DAYS)),
                    "Arn": res.arn(self.region, invite["Principal"], "invitations", invitation_id),
                    "Tags": {},
                },
            )
        for removal in proposal["Actions"]["Removals"]:
            member = txn.get("members", removal["MemberId"])
            if member is None or member["Status"] not in LIVE_MEMBER:
                succeeded = False
                continue
            self._stage_removal(txn, member)
        return succeeded

    def _proposal(self, network_id: str, proposal_id: str) -> Document:
        proposal = self.tables.get("proposals", proposal_id)
        if proposal is None or proposal["NetworkId"] != network_id:
            raise ResourceNotFoundException(
                f"Proposal {proposal_id} not found in network {network_id}."
            )
        return proposal

    async def get_proposal(self, caller: str, network_id: str, proposal_id: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            self._visible_network(caller, network_id)
            return {"Proposal": res.project(self._proposal(network_id, proposal_id), res.PROPOSAL)}

        return await self._read(read)

    async def list_proposals(self, caller: str, network_id: str, query: Any) -> dict[str, Any]:
        params = shapes.PageInput.check(query, "")

        def read() -> dict[str, Any]:
            self._visible_network(caller, network_id)
            rows = [p for p in self.tables.rows("proposals") if p["NetworkId"] == network_id]
            page, token = paginate(
                rows, by_creation, params.get("maxResults"), params.get("nextToken"), 100
            )
            answer: dict[str, Any] = {
                "Proposals": [res.project(p, res.PROPOSAL_SUMMARY) for p in page]
            }
            if token:
                answer["NextToken"] = token
            return answer

        return await self._read(read)

    async def vote_on_proposal(
        self, caller: str, network_id: str, proposal_id: str, body: Any
    ) -> dict[str, Any]:
        params = shapes.VoteOnProposalInput.check(body, "")
        return await self._mutate(
            "VoteOnProposal", caller, lambda: self._vote(caller, network_id, proposal_id, params)
        )

    def _vote(
        self, caller: str, network_id: str, proposal_id: str, params: Mapping[str, Any]
    ) -> Any:
        network = self._network(network_id)
        proposal = self._proposal(network_id, proposal_id)
        voter_id = params["VoterMemberId"]
        voter = self._owned_member(caller, network_id, voter_id)
        if proposal["Status"] != "IN_PROGRESS":
            raise IllegalActionException(
                f"Proposal {proposal_id} is {proposal['Status']}; votes are no longer accepted."
            )
        electorate = self.tables.get("electorates", f"{proposal_id}.electorate") or {"Members": []}
        if voter_id not in electorate["Members"]:
            raise IllegalActionException(
                f"Member {voter_id} was not a member of the network when proposal "
                f"{proposal_id} was created, so it cannot vote on it."
            )
        vote_id = f"{proposal_id}.{voter_id}"
        if self.tables.get("votes", vote_id) is not None:
            raise IllegalActionException(
                f"Member {voter_id} has already voted on proposal {proposal_id}."
            )
        now = self.clock.now()
        txn = Txn(self.tables)
        txn.put(
            "votes",
            vote_id,
            {
                "ProposalId": proposal_id,
                "NetworkId": network_id,
                "MemberId": voter_id,
                "MemberName": voter["Name"],
                "Vote": params["Vote"],
                "Account": caller,
                "CastAt": res.iso(now),
            },
        )
        counter = "YesVoteCount" if params["Vote"] == "YES" else "NoVoteCount"
        proposal[counter] += 1
        proposal["OutstandingVoteCount"] -= 1
        self._stage_outcome(txn, network, proposal, now)
        return {}, txn

    async def list_proposal_votes(
        self, caller: str, network_id: str, proposal_id: str, query: Any
    ) -> dict[str, Any]:
        params = shapes.PageInput.check(query, "")

        def read() -> dict[str, Any]:
            self._visible_network(caller, network_id)
            self._proposal(network_id, proposal_id)
            ids = self.tables.votes_by_proposal.get(proposal_id, [])
            rows = [
                {**self.tables.get("votes", vote_id), "Order": f"{index:08d}"}
                for index, vote_id in enumerate(ids)
            ]
            page, token = paginate(
                rows,
                lambda row: (row["Order"],),
                params.get("maxResults"),
                params.get("nextToken"),
                100,
            )
            answer: dict[str, Any] = {
                "ProposalVotes": [res.project(v, res.VOTE_SUMMARY) for v in page]
            }
            if token:
                answer["NextToken"] = token
            return answer

        return await self._read(read)

    # ---- invitations ---------------------------------------------------------------------

    async def list_invitations(self, caller: str, query: Any) -> dict[str, Any]:
        params = shapes.PageInput.check(query, "")

        def read() -> dict[str, Any]:
            rows = [i for i in self.tables.rows("invitations") if i["Principal"] == caller]
            page, token = paginate(
                rows, by_creation, params.get("maxResults"), params.get("nextToken"), 100
            )
            invitations = []
            for invitation in page:
                network = self.tables.get("networks", invitation["NetworkId"])
                shown = res.project(invitation, res.INVITATION)
                shown["NetworkSummary"] = res.project(network, res.NETWORK_SUMMARY)
                invitations.append(shown)
            answer: dict[str, Any] = {"Invitations": invitations}
            if token:
                answer["NextToken"] = token
            return answer

        return await self._read(read)

    async def reject_invitation(self, caller: str, invitation_id: str) -> dict[str, Any]:
        def build() -> Any:
            invitation = self.tables.get("invitations", invitation_id)
            if invitation is None:
                raise ResourceNotFoundException(f"Invitation {invitation_id} not found.")
            if invitation["Principal"] != caller:
                raise AccessDeniedException(
                    f"Invitation {invitation_id} was issued to another account, not {caller}."
                )
            if invitation["Status"] != "PENDING":
                raise IllegalActionException(
                    f"Invitation {invitation_id} is {invitation['Status']}; only a PENDING "
                    "invitation can be rejected."
                )
            txn = Txn(self.tables)
            txn.put("invitations", invitation_id, {**invitation, "Status": "REJECTED"})
            return {}, txn

        return await self._mutate("RejectInvitation", caller, build)

    # ---- tags ----------------------------------------------------------------------------

    def _tagged(self, caller: str, resource_arn: str) -> tuple[str, str, Document]:
        shapes.ArnString.check(resource_arn, "resourceArn")
        named = res.parse_arn(resource_arn)
        document = None if named is None else self.tables.get(*named)
        if named is None or document is None or document.get("Arn") != resource_arn:
            raise ResourceNotFoundException(f"Resource {resource_arn} not found.")
        table, doc_id = named
        if table == "invitations":
            allowed = document["Principal"] == caller
        elif table in ("members", "nodes"):
            allowed = document["Owner"] == caller
        else:
            allowed = self._participates(caller, document.get("NetworkId") or document["Id"])
        if not allowed:
            raise ResourceNotFoundException(f"Resource {resource_arn} not found.")
        if document.get("Status") == "DELETED":
            raise ResourceNotReadyException(f"Resource {resource_arn} is DELETED.")
        return table, doc_id, document

    async def tag_resource(self, caller: str, resource_arn: str, body: Any) -> dict[str, Any]:
        params = shapes.TagResourceInput.check(body, "")

        def build() -> Any:
            table, doc_id, document = self._tagged(caller, resource_arn)
            tags = {**document.get("Tags", {}), **params["Tags"]}
            txn = Txn(self.tables)
            txn.put(table, doc_id, {**document, "Tags": self._tags(tags, resource_arn)})
            return {}, txn

        return await self._mutate("TagResource", caller, build)

    async def untag_resource(self, caller: str, resource_arn: str, query: Any) -> dict[str, Any]:
        params = shapes.UntagResourceInput.check(query, "")

        def build() -> Any:
            table, doc_id, document = self._tagged(caller, resource_arn)
            keys = set(params["tagKeys"])
            tags = {k: v for k, v in document.get("Tags", {}).items() if k not in keys}
            txn = Txn(self.tables)
            txn.put(table, doc_id, {**document, "Tags": tags})
            return {}, txn

        return await self._mutate("UntagResource", caller, build)

    async def list_tags(self, caller: str, resource_arn: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            return {"Tags": dict(self._tagged(caller, resource_arn)[2].get("Tags", {}))}

        return await self._read(read)

    # ---- the supervisor's side -----------------------------------------------------------

    async def desired_state(self) -> dict[str, Any]:
        """Everything the supervisor must make true, including members' CA admin passwords."""

        def read() -> dict[str, Any]:
            members = []
            for member in self.tables.rows("members"):
                shown = dict(member)
                shown["AdminPassword"] = self.secrets.get(member["Id"])
                members.append(shown)
            return {
                "Networks": [dict(n) for n in self.tables.rows("networks")],
                "Members": members,
                "Nodes": [dict(n) for n in self.tables.rows("nodes")],
            }

        return await self._read(read)

    async def report(self, body: Any) -> dict[str, Any]:
        """The supervisor says what actually runs: a status and, once up, an endpoint."""
        params = _REPORT.check(body, "")

        def build() -> Any:
            table, doc_id, status = params["Resource"], params["Id"], params["Status"]
            document = self.tables.get(table, doc_id)
            if document is None:
                raise ResourceNotFoundException(f"{table[:-1].title()} {doc_id} not found.")
            allowed = _REPORTABLE[table].enum or ()
            if status not in allowed:
                raise InvalidRequestException(
                    f"Status {status} is not a {table[:-1]} status; "
                    f"use one of {', '.join(allowed)}."
                )
            updated = {**document, "Status": status}
            endpoint = params.get("Endpoint")
            if endpoint:
                fabric = dict(updated["FrameworkAttributes"].get("Fabric", {}))
                fabric[_ENDPOINT_FIELD[table]] = endpoint
                updated["FrameworkAttributes"] = {
                    **updated["FrameworkAttributes"],
                    "Fabric": fabric,
                }
            txn = Txn(self.tables)
            txn.put(table, doc_id, updated)
            return {}, txn

        return await self._mutate("ReportStatus", res.SYSTEM, build)

    # ---- PartiQL ---------------------------------------------------------------------------

    async def query(self, caller: str, body: Any) -> dict[str, Any]:
        """A read-only PartiQL statement over the caller's view of the governance tables."""
        params = _QUERY.check(body, "")

        def read() -> dict[str, Any]:
            values = run_query(
                self.tables,
                caller,
                lambda network_id: self._participates(caller, network_id),
                params["Statement"],
                params.get("Parameters", []),
            )
            return {"Values": values}

        return await self._read(read)

    # ---- verifiable history --------------------------------------------------------------

    async def history(self, caller: str, proposal_id: str) -> dict[str, Any]:
        """The proposal's revisions and every vote, each with the evidence that proves it."""

        def read() -> dict[str, Any]:
            proposal = self.tables.get("proposals", proposal_id)
            if proposal is None:
                raise ResourceNotFoundException(f"Proposal {proposal_id} not found.")
            self._visible_network(caller, proposal["NetworkId"])
            tip = self.store.tip
            items = [
                ("proposals", proposal_id, r)
                for r in self.tables.revisions("proposals", proposal_id)
            ]
            for vote_id in self.tables.votes_by_proposal.get(proposal_id, []):
                items += [("votes", vote_id, r) for r in self.tables.revisions("votes", vote_id)]
            entries = []
            for table, doc_id, located in items:
                evidence = self.store.evidence(located.sequence_no, tip)
                entries.append(
                    {
                        "Table": table,
                        "DocumentId": doc_id,
                        "Version": located.version,
                        "Document": dict(located.document),
                        "SequenceNo": located.sequence_no,
                        "Block": base64.b64encode(evidence.block).decode(),
                        "Proof": [base64.b64encode(h).decode() for h in evidence.proof],
                    }
                )
            digest = self.store.evidence(tip, tip) if tip is not None else None
            return {
                "ProposalId": proposal_id,
                "NetworkId": proposal["NetworkId"],
                "Digest": base64.b64encode(digest.digest).decode() if digest else None,
                "DigestTip": tip,
                "Entries": entries,
            }

        return await self._read(read)


class _Values:
    """PartiQL parameters: a JSON list of values, passed on as they are."""

    def check(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise InvalidRequestException(f"{path} must be a list of values.")
        return value


_REPORTABLE = {
    "networks": shapes.NetworkStatus,
    "members": shapes.MemberStatus,
    "nodes": shapes.NodeStatus,
}
_ENDPOINT_FIELD = {
    "networks": "OrderingServiceEndpoint",
    "members": "CaEndpoint",
    "nodes": "PeerEndpoint",
}
_QUERY = shapes.Struct(
    {"Statement": shapes.Str(min=1, max=4096), "Parameters": _Values()},
    required=("Statement",),
)
_REPORT = shapes.Struct(
    {
        "Resource": shapes.Str(enum=tuple(_REPORTABLE)),
        "Id": shapes.ResourceIdString,
        "Status": shapes.Str(min=1, max=32),
        "Endpoint": shapes.Str(max=256),
    },
    required=("Resource", "Id", "Status"),
)
