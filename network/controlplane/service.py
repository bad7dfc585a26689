"""The control plane's operations: AMB's semantics over its ledgerdb tables.

Every operation is one database transaction (``network/controlplane/ledger.py``): it
reads a snapshot, checks the request, stages whole new documents and commits them as
one journal block, or writes nothing. Transactions run on a thread pool, so concurrent
requests share the journal's fsyncs; optimistic concurrency catches two operations
that read what the other changed (the loser is retried), and mutations of one network
are queued so votes on a busy proposal do not keep conflicting. A commit returns once
the block is durable and applied, so the next request sees it; only then are the
governance events published.

Time-driven changes (proposals and invitations expiring) are written by ``sweep`` as
their own transactions, before any operation and periodically by the server; it knows
the next deadline, so an operation that has nothing to expire does not look.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

from ledgerdb.block import encode
from ledgerdb.database import LedgerDatabase
from ledgerdb.errors import LedgerError, OccConflict
from network.controlplane import request_shapes as shapes
from network.controlplane import resources as res
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
from network.controlplane.ledger import Txn, journal_events
from network.controlplane.pagination import by_creation, paginate
from network.controlplane.passwords import Secrets
from network.controlplane.query import run_query, visibility
from network.controlplane.voting import Comparator, Outcome, Policy, Tally, decide

log = logging.getLogger(__name__)

LIVE_MEMBER = ("CREATING", "AVAILABLE", "UPDATING")
LIVE_NODE = ("CREATING", "AVAILABLE", "UPDATING", "UNHEALTHY", "FAILED")
MAX_TAGS = 50
OCC_RETRIES = 10  # a conflicting transaction is retried this often, with backoff
WORKERS = 16  # threads running transactions (fsyncs are shared between them)
Document = dict[str, Any]
T = TypeVar("T")


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


def _earliest(*moments: str | None) -> str | None:
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


class ControlPlane:
    def __init__(
        self,
        database: LedgerDatabase,
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
        self.db = database
        self.clock = clock or SystemClock()
        self.region = region
        self.reconcile = reconcile
        self.secrets = secrets or Secrets(None)
        self.bus = bus or EventBus()
        self.member_quota = member_quota
        self._broken: str | None = None
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="controlplane")
        self._queues: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._sweeping = asyncio.Lock()
        self._expiry_known = False
        self._next_expiry: str | None = None  # the earliest deadline of anything pending
        self._lowered: str | None = None  # deadlines written while a sweep ran
        self.feed = EventFeed(
            self.tip if self.tip is not None else -1,
            lambda first, last, limit: journal_events(database, first, last, limit),
        )

    @property
    def tip(self) -> int | None:
        address = self.db.journal.tip
        return None if address is None else address.sequence_no

    def close(self) -> None:
        """Stop the worker threads and close the database (its journal and LMDB)."""
        self._pool.shutdown(wait=True)
        try:
            self.db.close()
        except LedgerError as exc:
            raise StoreError(f"the control-plane ledger did not close cleanly: {exc}") from exc

    # ---- running transactions -------------------------------------------------------------

    @property
    def broken(self) -> str | None:
        """Why the ledger failed, if it did: the process must restart."""
        return self._broken

    def _check_healthy(self) -> None:
        if self._broken is not None:
            raise InternalServiceErrorException(f"the control plane stopped: {self._broken}")

    async def _run(self, work: Callable[[], T]) -> T:
        """``work`` on a worker thread; a failed database stops the service."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, work)
        except OccConflict as exc:
            raise InternalServiceErrorException(
                f"the request kept conflicting with concurrent changes; retry it ({exc})"
            ) from exc
        except LedgerError as exc:
            self._broken = str(exc)
            log.error("control-plane ledger failed; refusing further requests: %s", exc)
            raise InternalServiceErrorException(str(exc)) from exc

    def _write(self, build: Callable[[Txn], T]) -> tuple[T, int | None, list]:
        """One transaction: ``build`` checks and stages, its documents commit as one block."""

        def attempt(transaction: Any) -> tuple[T, int | None, list]:
            txn = Txn(transaction)
            answer = build(txn)
            transitions = txn.flush()
            address = transaction.commit().block_address
            return answer, None if address is None else address.sequence_no, transitions

        return self.db.execute_lambda(attempt, retry_limit=OCC_RETRIES)

    def _read_now(self, read: Callable[[Txn], T]) -> T:
        with self.db.start_transaction() as transaction:
            return read(Txn(transaction))

    async def _transact(self, build: Callable[[Txn], T], queue: str | None = None) -> T:
        """Commit ``build``'s changes (queued behind other changes of ``queue``), then
        publish their events."""
        async with self._queues[queue] if queue else contextlib.nullcontext():
            answer, sequence_no, transitions = await self._run(lambda: self._write(build))
        if sequence_no is not None:
            self._deliver(sequence_no, events_for(transitions))
            self._note_deadlines(transitions)
        return answer

    def _deliver(self, sequence_no: int, events: list[GovernanceEvent]) -> None:
        """The one place events leave: once their block is durable, in block order."""
        self.bus.publish(self.feed.record(sequence_no, events))

    def _note_deadlines(self, transitions: list) -> None:
        for table, _, after in transitions:
            pending = (table, after.get("Status")) in (
                ("proposals", "IN_PROGRESS"),
                ("invitations", "PENDING"),
            )
            if pending:
                self._next_expiry = _earliest(self._next_expiry, after["ExpirationDate"])
                self._lowered = _earliest(self._lowered, after["ExpirationDate"])

    async def _mutate(
        self, operation: str, caller: str, build: Callable[[Txn], Any], queue: str | None = None
    ) -> Any:
        self._check_healthy()
        await self.sweep()
        return await self._transact(build, queue)

    async def _read(self, read: Callable[[Txn], Any]) -> Any:
        self._check_healthy()
        await self.sweep()
        return await self._run(lambda: self._read_now(read))

    async def sweep(self) -> int:
        """Expire proposals and invitations whose deadline has passed; returns how many."""
        async with self._sweeping:
            now = res.iso(self.clock.now())
            if self._expiry_known and (self._next_expiry is None or now < self._next_expiry):
                return 0
            self._lowered = None
            expired, upcoming = await self._transact(lambda txn: self._expire(txn, now))
            self._next_expiry = _earliest(upcoming, self._lowered)
            self._expiry_known = True
            return expired

    def _expire(self, txn: Txn, now: str) -> tuple[int, str | None]:
        """Stage the expiries due at ``now``; returns how many and the next deadline."""
        expired, upcoming = 0, None
        for table, status in (("proposals", "IN_PROGRESS"), ("invitations", "PENDING")):
            for document in txn.where(table, "Status", status):
                if document["ExpirationDate"] <= now:
                    txn.put(table, {**document, "Status": "EXPIRED"})
                    expired += 1
                else:
                    upcoming = _earliest(upcoming, document["ExpirationDate"])
        return expired, upcoming

    # ---- lookups shared by the operations -----------------------------------------------

    def _network(self, txn: Txn, network_id: str) -> Document:
        network = txn.get("networks", network_id)
        if network is None or network["Status"] == "DELETED":
            raise ResourceNotFoundException(f"Network {network_id} not found.")
        return network

    def _networks_of(self, txn: Txn, caller: str) -> set[str]:
        """The networks ``caller`` takes part in: a live member, or a PENDING invitation."""
        owned = {
            m["NetworkId"]
            for m in txn.where("members", "Owner", caller)
            if m["Status"] != "DELETED"
        }
        invited = {
            i["NetworkId"]
            for i in txn.where("invitations", "Principal", caller)
            if i["Status"] == "PENDING"
        }
        return owned | invited

    def _participates(self, txn: Txn, caller: str, network_id: str) -> bool:
        if any(
            m["NetworkId"] == network_id and m["Status"] != "DELETED"
            for m in txn.where("members", "Owner", caller)
        ):
            return True
        return any(
            i["NetworkId"] == network_id and i["Status"] == "PENDING"
            for i in txn.where("invitations", "Principal", caller)
        )

    def _visible_network(self, txn: Txn, caller: str, network_id: str) -> Document:
        network = self._network(txn, network_id)
        if not self._participates(txn, caller, network_id):
            raise AccessDeniedException(
                f"Account {caller} is neither a member of nor invited to network {network_id}."
            )
        return network

    def _member(self, txn: Txn, network_id: str, member_id: str) -> Document:
        member = txn.get("members", member_id)
        if member is None or member["NetworkId"] != network_id:
            raise ResourceNotFoundException(
                f"Member {member_id} not found in network {network_id}."
            )
        return member

    def _owned_member(self, txn: Txn, caller: str, network_id: str, member_id: str) -> Document:
        member = self._member(txn, network_id, member_id)
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

    def _live_members(self, txn: Txn, network_id: str) -> list[Document]:
        """Members that count (electorate, limits), as the transaction would leave them."""
        members = sorted(txn.where("members", "NetworkId", network_id), key=lambda m: m["Id"])
        return [m for m in members if m["Status"] in LIVE_MEMBER]

    def _edition(self, network: Mapping[str, Any]) -> res.Edition:
        return res.EDITIONS[network["FrameworkAttributes"]["Fabric"]["Edition"]]

    def _idempotent(
        self, txn: Txn, caller: str, operation: str, params: Mapping[str, Any]
    ) -> tuple[str, Any | None]:
        """The request's key in ``requests``, and the first answer if it was already done."""
        token = params["ClientRequestToken"]
        key = hashlib.sha256(f"{caller}\0{operation}\0{token}".encode()).hexdigest()[:32]
        done = txn.get("requests", key)
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
            {
                "Key": key,
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
            "CreateNetwork", caller, lambda txn: self._create_network(txn, caller, params)
        )

    def _create_network(self, txn: Txn, caller: str, params: Mapping[str, Any]) -> Any:
        key, done = self._idempotent(txn, caller, "CreateNetwork", params)
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
        txn.put("networks", network)
        member_id = self._stage_member(txn, caller, network, params["MemberConfiguration"], None)
        answer = {"NetworkId": network_id, "MemberId": member_id}
        self._remember(txn, key, caller, "CreateNetwork", params, answer)
        return answer

    async def get_network(self, caller: str, network_id: str) -> dict[str, Any]:
        def read(txn: Txn) -> dict[str, Any]:
            network = self._visible_network(txn, caller, network_id)
            return {"Network": res.project(network, res.NETWORK)}

        return await self._read(read)

    async def list_networks(self, caller: str, query: Any) -> dict[str, Any]:
        params = shapes.ListNetworksInput.check(query, "")

        def read(txn: Txn) -> dict[str, Any]:
            networks = [txn.get("networks", n) for n in sorted(self._networks_of(txn, caller))]
            rows = [
                n
                for n in networks
                if n is not None
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
        live = self._live_members(txn, network_id)
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
            "CreateMember",
            caller,
            lambda txn: self._create_member(txn, caller, network_id, params),
            network_id,
        )

    def _create_member(
        self, txn: Txn, caller: str, network_id: str, params: Mapping[str, Any]
    ) -> Any:
        key, done = self._idempotent(txn, caller, "CreateMember", params)
        if done is not None:
            return done
        network = self._network(txn, network_id)
        invitation_id = params["InvitationId"]
        invitation = txn.get("invitations", invitation_id)
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
        member_id = self._stage_member(
            txn, caller, network, params["MemberConfiguration"], invitation_id
        )
        txn.put("invitations", {**invitation, "Status": "ACCEPTED"})
        answer = {"MemberId": member_id}
        self._remember(txn, key, caller, "CreateMember", params, answer)
        return answer

    async def get_member(self, caller: str, network_id: str, member_id: str) -> dict[str, Any]:
        def read(txn: Txn) -> dict[str, Any]:
            self._visible_network(txn, caller, network_id)
            member = self._member(txn, network_id, member_id)
            return {"Member": res.project(member, res.MEMBER)}

        return await self._read(read)

    async def list_members(self, caller: str, network_id: str, query: Any) -> dict[str, Any]:
        params = shapes.ListMembersInput.check(query, "")

        def read(txn: Txn) -> dict[str, Any]:
            self._visible_network(txn, caller, network_id)
            owned = params.get("isOwned")
            rows = [
                {**m, "IsOwned": m["Owner"] == caller}
                for m in txn.where("members", "NetworkId", network_id)
                if params.get("name") in (None, m["Name"])
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

        def build(txn: Txn) -> Any:
            self._network(txn, network_id)
            member = self._owned_member(txn, caller, network_id, member_id)
            self._available("Member", member, member_id)
            if "LogPublishingConfiguration" in params:
                updated = {
                    **member,
                    "LogPublishingConfiguration": params["LogPublishingConfiguration"],
                }
                txn.put("members", updated)
            return {}

        return await self._mutate("UpdateMember", caller, build, network_id)

    async def delete_member(self, caller: str, network_id: str, member_id: str) -> dict[str, Any]:
        def build(txn: Txn) -> Any:
            self._network(txn, network_id)
            member = self._owned_member(txn, caller, network_id, member_id)
            self._available("Member", member, member_id)
            self._stage_removal(txn, member)
            return {}

        return await self._mutate("DeleteMember", caller, build, network_id)

    def _stage_removal(self, txn: Txn, member: Mapping[str, Any]) -> None:
        """A member leaves: it and its nodes go; the last member takes the network along."""
        status = self._removed()
        txn.put("members", {**member, "Status": status})
        for node in txn.where("nodes", "MemberId", member["Id"]):
            if node["Status"] in LIVE_NODE:
                txn.put("nodes", {**node, "Status": status})
        if not self._live_members(txn, member["NetworkId"]):
            network = txn.get("networks", member["NetworkId"])
            txn.put("networks", {**network, "Status": status})

    # ---- nodes ---------------------------------------------------------------------------

    async def create_node(self, caller: str, network_id: str, body: Any) -> dict[str, str]:
        params = shapes.CreateNodeInput.check(body, "")
        return await self._mutate(
            "CreateNode",
            caller,
            lambda txn: self._create_node(txn, caller, network_id, params),
            network_id,
        )

    def _create_node(
        self, txn: Txn, caller: str, network_id: str, params: Mapping[str, Any]
    ) -> Any:
        key, done = self._idempotent(txn, caller, "CreateNode", params)
        if done is not None:
            return done
        network = self._network(txn, network_id)
        if "MemberId" not in params:
            raise InvalidRequestException("MemberId is required for HYPERLEDGER_FABRIC nodes.")
        member_id = params["MemberId"]
        member = self._owned_member(txn, caller, network_id, member_id)
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
        nodes = [n for n in txn.where("nodes", "MemberId", member_id) if n["Status"] in LIVE_NODE]
        if len(nodes) >= edition.nodes_per_member:
            raise ResourceLimitExceededException(
                f"Member {member_id} already has {len(nodes)} nodes, the per-member limit of "
                "its network's edition."
            )
        node_id = res.new_id("nodes")
        node_arn = res.arn(self.region, caller, "nodes", node_id)
        txn.put(
            "nodes",
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
        return answer

    def _node(self, txn: Txn, network_id: str, node_id: str, member_id: str | None) -> Document:
        node = txn.get("nodes", node_id)
        if (
            node is None
            or node["NetworkId"] != network_id
            or member_id not in (None, node["MemberId"])
        ):
            raise ResourceNotFoundException(f"Node {node_id} not found in network {network_id}.")
        return node

    def _owned_node(
        self, txn: Txn, caller: str, network_id: str, node_id: str, member_id: str | None
    ) -> Document:
        node = self._node(txn, network_id, node_id, member_id)
        if node["Owner"] != caller:
            raise AccessDeniedException(f"Node {node_id} belongs to another account.")
        return node

    async def get_node(
        self, caller: str, network_id: str, node_id: str, query: Any
    ) -> dict[str, Any]:
        params = shapes.NodeQueryInput.check(query, "")

        def read(txn: Txn) -> dict[str, Any]:
            self._visible_network(txn, caller, network_id)
            node = self._node(txn, network_id, node_id, params.get("memberId"))
            return {"Node": res.project(node, res.NODE)}

        return await self._read(read)

    async def list_nodes(self, caller: str, network_id: str, query: Any) -> dict[str, Any]:
        params = shapes.ListNodesInput.check(query, "")

        def read(txn: Txn) -> dict[str, Any]:
            self._visible_network(txn, caller, network_id)
            rows = [
                n
                for n in txn.where("nodes", "NetworkId", network_id)
                if params.get("memberId") in (None, n["MemberId"])
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

        def build(txn: Txn) -> Any:
            self._network(txn, network_id)
            node = self._owned_node(txn, caller, network_id, node_id, params.get("MemberId"))
            self._available("Node", node, node_id)
            if "LogPublishingConfiguration" in params:
                updated = {
                    **node,
                    "LogPublishingConfiguration": params["LogPublishingConfiguration"],
                }
                txn.put("nodes", updated)
            return {}

        return await self._mutate("UpdateNode", caller, build, network_id)

    async def delete_node(
        self, caller: str, network_id: str, node_id: str, query: Any
    ) -> dict[str, Any]:
        params = shapes.NodeQueryInput.check(query, "")

        def build(txn: Txn) -> Any:
            self._network(txn, network_id)
            node = self._owned_node(txn, caller, network_id, node_id, params.get("memberId"))
            if node["Status"] not in ("AVAILABLE", "UNHEALTHY", "FAILED", "CREATE_FAILED"):
                raise ResourceNotReadyException(
                    f"Node {node_id} is {node['Status']}; it cannot be deleted now."
                )
            txn.put("nodes", {**node, "Status": self._removed()})
            return {}

        return await self._mutate("DeleteNode", caller, build, network_id)

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
            "CreateProposal",
            caller,
            lambda txn: self._create_proposal(txn, caller, network_id, params),
            network_id,
        )

    def _create_proposal(
        self, txn: Txn, caller: str, network_id: str, params: Mapping[str, Any]
    ) -> Any:
        key, done = self._idempotent(txn, caller, "CreateProposal", params)
        if done is not None:
            return done
        network = self._network(txn, network_id)
        self._available("Network", network, network_id)
        proposer = self._owned_member(txn, caller, network_id, params["MemberId"])
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
            target = txn.get("members", removal["MemberId"])
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
        electorate = sorted(m["Id"] for m in self._live_members(txn, network_id))
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
        # written once: every later revision of the proposal only carries the counts.
        electorate_doc = {"ProposalId": proposal_id, "NetworkId": network_id, "Members": electorate}
        txn.put("electorates", electorate_doc)
        self._stage_outcome(txn, network, proposal, now)
        answer = {"ProposalId": proposal_id}
        self._remember(txn, key, caller, "CreateProposal", params, answer)
        return answer

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
        txn.put("proposals", proposal)  # first: decided, then effects
        if outcome is Outcome.APPROVED and not self._run_actions(txn, network, proposal, now):
            txn.put("proposals", {**proposal, "Status": "ACTION_FAILED"})

    def _run_actions(
        self, txn: Txn, network: Mapping[str, Any], proposal: Mapping[str, Any], now: datetime
    ) -> bool:
        """Issue the invitations and remove the members; False if a removal target is gone."""
        succeeded = True
        for invite in proposal["Actions"]["Invitations"]:
            invitation_id = res.new_id("invitations")
            txn.put(
                "invitations",
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

    def _proposal(self, txn: Txn, network_id: str, proposal_id: str) -> Document:
        proposal = txn.get("proposals", proposal_id)
        if proposal is None or proposal["NetworkId"] != network_id:
            raise ResourceNotFoundException(
                f"Proposal {proposal_id} not found in network {network_id}."
            )
        return proposal

    async def get_proposal(self, caller: str, network_id: str, proposal_id: str) -> dict[str, Any]:
        def read(txn: Txn) -> dict[str, Any]:
            self._visible_network(txn, caller, network_id)
            proposal = self._proposal(txn, network_id, proposal_id)
            return {"Proposal": res.project(proposal, res.PROPOSAL)}

        return await self._read(read)

    async def list_proposals(self, caller: str, network_id: str, query: Any) -> dict[str, Any]:
        params = shapes.PageInput.check(query, "")

        def read(txn: Txn) -> dict[str, Any]:
            self._visible_network(txn, caller, network_id)
            rows = txn.where("proposals", "NetworkId", network_id)
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
            "VoteOnProposal",
            caller,
            lambda txn: self._vote(txn, caller, network_id, proposal_id, params),
            proposal_id,
        )

    def _vote(
        self, txn: Txn, caller: str, network_id: str, proposal_id: str, params: Mapping[str, Any]
    ) -> Any:
        network = self._network(txn, network_id)
        proposal = self._proposal(txn, network_id, proposal_id)
        voter_id = params["VoterMemberId"]
        voter = self._owned_member(txn, caller, network_id, voter_id)
        if proposal["Status"] != "IN_PROGRESS":
            raise IllegalActionException(
                f"Proposal {proposal_id} is {proposal['Status']}; votes are no longer accepted."
            )
        electorate = txn.get("electorates", proposal_id) or {"Members": []}
        if voter_id not in electorate["Members"]:
            raise IllegalActionException(
                f"Member {voter_id} was not a member of the network when proposal "
                f"{proposal_id} was created, so it cannot vote on it."
            )
        vote_id = f"{proposal_id}.{voter_id}"
        if txn.get("votes", vote_id) is not None:
            raise IllegalActionException(
                f"Member {voter_id} has already voted on proposal {proposal_id}."
            )
        now = self.clock.now()
        txn.put(
            "votes",
            {
                "VoteId": vote_id,
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
        return {}

    async def list_proposal_votes(
        self, caller: str, network_id: str, proposal_id: str, query: Any
    ) -> dict[str, Any]:
        params = shapes.PageInput.check(query, "")

        def read(txn: Txn) -> dict[str, Any]:
            self._visible_network(txn, caller, network_id)
            self._proposal(txn, network_id, proposal_id)
            rows = [
                {**vote, "Order": f"{sequence_no:012d}"}
                for _, sequence_no, vote in txn.in_order("votes", "ProposalId", proposal_id)
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

        def read(txn: Txn) -> dict[str, Any]:
            rows = txn.where("invitations", "Principal", caller)
            page, token = paginate(
                rows, by_creation, params.get("maxResults"), params.get("nextToken"), 100
            )
            invitations = []
            for invitation in page:
                network = txn.get("networks", invitation["NetworkId"])
                shown = res.project(invitation, res.INVITATION)
                shown["NetworkSummary"] = res.project(network, res.NETWORK_SUMMARY)
                invitations.append(shown)
            answer: dict[str, Any] = {"Invitations": invitations}
            if token:
                answer["NextToken"] = token
            return answer

        return await self._read(read)

    async def reject_invitation(self, caller: str, invitation_id: str) -> dict[str, Any]:
        def build(txn: Txn) -> Any:
            invitation = txn.get("invitations", invitation_id)
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
            txn.put("invitations", {**invitation, "Status": "REJECTED"})
            return {}

        return await self._mutate("RejectInvitation", caller, build)

    # ---- tags ----------------------------------------------------------------------------

    def _tagged(self, txn: Txn, caller: str, resource_arn: str) -> tuple[str, Document]:
        shapes.ArnString.check(resource_arn, "resourceArn")
        named = res.parse_arn(resource_arn)
        document = None if named is None else txn.get(*named)
        if named is None or document is None or document.get("Arn") != resource_arn:
            raise ResourceNotFoundException(f"Resource {resource_arn} not found.")
        table = named[0]
        if table == "invitations":
            allowed = document["Principal"] == caller
        elif table in ("members", "nodes"):
            allowed = document["Owner"] == caller
        else:
            network_id = document.get("NetworkId") or document["Id"]
            allowed = self._participates(txn, caller, network_id)
        if not allowed:
            raise ResourceNotFoundException(f"Resource {resource_arn} not found.")
        if document.get("Status") == "DELETED":
            raise ResourceNotReadyException(f"Resource {resource_arn} is DELETED.")
        return table, document

    async def tag_resource(self, caller: str, resource_arn: str, body: Any) -> dict[str, Any]:
        params = shapes.TagResourceInput.check(body, "")

        def build(txn: Txn) -> Any:
            table, document = self._tagged(txn, caller, resource_arn)
            tags = {**document.get("Tags", {}), **params["Tags"]}
            txn.put(table, {**document, "Tags": self._tags(tags, resource_arn)})
            return {}

        return await self._mutate("TagResource", caller, build)

    async def untag_resource(self, caller: str, resource_arn: str, query: Any) -> dict[str, Any]:
        params = shapes.UntagResourceInput.check(query, "")

        def build(txn: Txn) -> Any:
            table, document = self._tagged(txn, caller, resource_arn)
            keys = set(params["tagKeys"])
            tags = {k: v for k, v in document.get("Tags", {}).items() if k not in keys}
            txn.put(table, {**document, "Tags": tags})
            return {}

        return await self._mutate("UntagResource", caller, build)

    async def list_tags(self, caller: str, resource_arn: str) -> dict[str, Any]:
        def read(txn: Txn) -> dict[str, Any]:
            return {"Tags": dict(self._tagged(txn, caller, resource_arn)[1].get("Tags", {}))}

        return await self._read(read)

    # ---- the supervisor's side -----------------------------------------------------------

    async def desired_state(self) -> dict[str, Any]:
        """Everything the supervisor must make true, including members' CA admin passwords."""

        def read(txn: Txn) -> dict[str, Any]:
            members = []
            for member in txn.rows("members"):
                shown = dict(member)
                shown["AdminPassword"] = self.secrets.get(member["Id"])
                members.append(shown)
            return {
                "Networks": txn.rows("networks"),
                "Members": members,
                "Nodes": txn.rows("nodes"),
            }

        return await self._read(read)

    async def report(self, body: Any) -> dict[str, Any]:
        """The supervisor says what actually runs: a status and, once up, an endpoint."""
        params = _REPORT.check(body, "")

        def build(txn: Txn) -> Any:
            table, doc_id, status = params["Resource"], params["Id"], params["Status"]
            document = txn.get(table, doc_id)
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
            txn.put(table, updated)
            return {}

        return await self._mutate("ReportStatus", res.SYSTEM, build)

    # ---- PartiQL ---------------------------------------------------------------------------

    async def query(self, caller: str, body: Any) -> dict[str, Any]:
        """A read-only PartiQL statement over the caller's view of the governance tables."""
        params = _QUERY.check(body, "")

        def read(txn: Txn) -> dict[str, Any]:
            visible = visibility(caller, self._networks_of(txn, caller))
            statement, parameters = params["Statement"], params.get("Parameters", [])
            return {"Values": run_query(txn.transaction, visible, statement, parameters)}

        return await self._read(read)

    # ---- verifiable history --------------------------------------------------------------

    async def history(self, caller: str, proposal_id: str) -> dict[str, Any]:
        """The proposal's revisions and every vote, each with the evidence that proves it."""

        def read(txn: Txn) -> dict[str, Any]:
            proposal = txn.get("proposals", proposal_id)
            if proposal is None:
                raise ResourceNotFoundException(f"Proposal {proposal_id} not found.")
            self._visible_network(txn, caller, proposal["NetworkId"])
            document_id = txn.document_id("proposals", proposal_id)
            votes = [doc_id for doc_id, _, _ in txn.in_order("votes", "ProposalId", proposal_id)]
            revisions = txn.revisions("proposals", [document_id]) + txn.revisions("votes", votes)
            digest = self.db.digest()
            tip = digest.tip.sequence_no
            blocks: dict[int, tuple[str, list[str]]] = {}
            entries = []
            for revision in revisions:
                if revision.sequence_no not in blocks:
                    block, proof = self.db.get_block(revision.sequence_no, tip)
                    blocks[revision.sequence_no] = (
                        base64.b64encode(encode(block)).decode(),
                        [base64.b64encode(h).decode() for h in proof],
                    )
                encoded, proof_hashes = blocks[revision.sequence_no]
                entries.append(
                    {
                        "Table": revision.table,
                        "DocumentId": revision.document_id,
                        "Version": revision.version,
                        "Document": revision.document,
                        "SequenceNo": revision.sequence_no,
                        "Block": encoded,
                        "Proof": proof_hashes,
                    }
                )
            return {
                "ProposalId": proposal_id,
                "NetworkId": proposal["NetworkId"],
                "Digest": base64.b64encode(digest.digest).decode(),
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
