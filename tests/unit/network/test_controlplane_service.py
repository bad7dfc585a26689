"""The service in-process on a real ledgerdb database: events, restart, proofs, PartiQL."""

from __future__ import annotations

import copy
import shutil
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from ledgerdb.block import Revision
from ledgerdb.errors import StorageFailure
from ledgerdb.journal import Journal
from network.controlplane.client import HistoryNotVerified, verify_history
from network.controlplane.clock import ManualClock
from network.controlplane.errors import (
    IllegalActionException,
    InternalServiceErrorException,
    InvalidRequestException,
)
from network.controlplane.events import GovernanceEvent
from network.controlplane.ledger import TABLES, Txn, open_ledger
from network.controlplane.service import ControlPlane

A, B, C = "111111111111", "222222222222", "333333333333"


def network_body(percentage: int = 50, hours: int = 24) -> dict[str, Any]:
    return {
        "ClientRequestToken": "t",
        "Name": "n",
        "Framework": "HYPERLEDGER_FABRIC",
        "FrameworkVersion": "2.2",
        "FrameworkConfiguration": {"Fabric": {"Edition": "STARTER"}},
        "VotingPolicy": {
            "ApprovalThresholdPolicy": {
                "ThresholdPercentage": percentage,
                "ProposalDurationInHours": hours,
                "ThresholdComparator": "GREATER_THAN",
            }
        },
        "MemberConfiguration": member("org1"),
    }


def member(name: str) -> dict[str, Any]:
    fabric = {"AdminUsername": "admin", "AdminPassword": "Password123"}
    return {"Name": name, "FrameworkConfiguration": {"Fabric": fabric}}


def open_service(path: Path, clock: ManualClock | None = None) -> ControlPlane:
    return ControlPlane(open_ledger(path), clock or ManualClock())


def state(cp: ControlPlane) -> dict[str, list[dict[str, Any]]]:
    """Every table's current documents, in a stable order."""
    with cp.db.start_transaction() as transaction:
        txn = Txn(transaction)
        return {table: sorted(txn.rows(table), key=repr) for table in TABLES}


async def join(cp: ControlPlane, network: str, proposer: str, voters: list, account: str) -> str:
    proposal = await cp.create_proposal(
        A,
        network,
        {
            "ClientRequestToken": account,
            "MemberId": proposer,
            "Actions": {"Invitations": [{"Principal": account}]},
        },
    )
    for owner, member_id in voters:
        current = (await cp.get_proposal(A, network, proposal["ProposalId"]))["Proposal"]
        if current["Status"] != "IN_PROGRESS":
            break
        await cp.vote_on_proposal(
            owner, network, proposal["ProposalId"], {"VoterMemberId": member_id, "Vote": "YES"}
        )
    invitation = (await cp.list_invitations(account, {}))["Invitations"][-1]
    body = {
        "ClientRequestToken": "j",
        "InvitationId": invitation["InvitationId"],
        "MemberConfiguration": member(f"o{account[0]}"),
    }
    return (await cp.create_member(account, network, body))["MemberId"]


async def test_events_come_from_committed_changes(tmp_path: Path) -> None:
    cp = open_service(tmp_path / "ledger")
    seen: list[GovernanceEvent] = []
    cp.bus.subscribe(seen.append)
    created = await cp.create_network(A, network_body())
    network, first = created["NetworkId"], created["MemberId"]
    second = await join(cp, network, first, [(A, first)], B)
    kinds = [event.kind for event in seen]
    assert kinds == [
        "MemberJoined",
        "ProposalCreated",
        "VoteCast",
        "ProposalDecided",
        "InvitationIssued",
        "MemberJoined",
        "InvitationChanged",
    ]
    seen.clear()
    removal = await cp.create_proposal(
        A,
        network,
        {
            "ClientRequestToken": "r",
            "MemberId": first,
            "Actions": {"Removals": [{"MemberId": second}]},
        },
    )
    for owner, member_id in ((A, first), (B, second)):
        await cp.vote_on_proposal(
            owner, network, removal["ProposalId"], {"VoterMemberId": member_id, "Vote": "YES"}
        )
    assert [event.kind for event in seen] == [
        "ProposalCreated",
        "VoteCast",
        "VoteCast",
        "ProposalDecided",
        "MemberRemoved",
    ]
    assert seen[3].detail == {"Status": "APPROVED"} and seen[4].subject_id == second
    cp.close()


async def test_replay_rebuilds_the_same_state(tmp_path: Path) -> None:
    clock = ManualClock()
    cp = open_service(tmp_path / "ledger", clock)
    created = await cp.create_network(A, network_body(hours=1))
    network, first = created["NetworkId"], created["MemberId"]
    second = await join(cp, network, first, [(A, first)], B)
    proposal = await cp.create_proposal(
        A,
        network,
        {
            "ClientRequestToken": "p",
            "MemberId": first,
            "Actions": {"Invitations": [{"Principal": C}]},
        },
    )
    await cp.vote_on_proposal(
        B, network, proposal["ProposalId"], {"VoterMemberId": second, "Vote": "YES"}
    )
    clock.advance(3600)
    assert await cp.sweep() == 1
    before = state(cp)
    assert before["votes"] and before["proposals"]
    cp.close()
    again = open_service(tmp_path / "ledger", clock)
    assert state(again) == before
    again.close()
    shutil.rmtree(tmp_path / "ledger" / "index")  # derived storage: rebuilt from the journal
    again = open_service(tmp_path / "ledger", clock)
    assert state(again) == before
    with pytest.raises(IllegalActionException, match="EXPIRED"):
        await again.vote_on_proposal(
            A, network, proposal["ProposalId"], {"VoterMemberId": first, "Vote": "YES"}
        )
    again.close()


async def test_history_verifies_and_catches_tampering(tmp_path: Path) -> None:
    cp = open_service(tmp_path / "ledger")
    created = await cp.create_network(A, network_body())
    network, first = created["NetworkId"], created["MemberId"]
    second = await join(cp, network, first, [(A, first)], B)
    proposal = await cp.create_proposal(
        A,
        network,
        {
            "ClientRequestToken": "h",
            "MemberId": first,
            "Actions": {"Invitations": [{"Principal": C}]},
        },
    )
    await cp.vote_on_proposal(
        B, network, proposal["ProposalId"], {"VoterMemberId": second, "Vote": "NO"}
    )
    history = await cp.history(A, proposal["ProposalId"])
    entries = verify_history(history)
    assert [e["Document"]["Vote"] for e in entries if e["Table"] == "votes"] == ["NO"]

    forged = copy.deepcopy(history)
    vote = next(e for e in forged["Entries"] if e["Table"] == "votes")
    vote["Document"]["Vote"] = "YES"  # the server lies about the vote
    with pytest.raises(HistoryNotVerified, match="differs"):
        verify_history(forged)
    forged = copy.deepcopy(history)
    forged["Entries"][0]["Proof"] = forged["Entries"][0]["Proof"][:-1] or ["AAAA"]
    with pytest.raises(HistoryNotVerified):
        verify_history(forged)
    cp.close()


async def test_partiql_over_the_callers_view(tmp_path: Path) -> None:
    cp = open_service(tmp_path / "ledger")
    mine = await cp.create_network(A, network_body())
    other = await cp.create_network(C, {**network_body(), "ClientRequestToken": "c"})
    network, first = mine["NetworkId"], mine["MemberId"]
    second = await join(cp, network, first, [(A, first)], B)
    proposal = await cp.create_proposal(
        A,
        network,
        {
            "ClientRequestToken": "q",
            "MemberId": first,
            "Actions": {"Invitations": [{"Principal": C}]},
        },
    )
    await cp.vote_on_proposal(
        B, network, proposal["ProposalId"], {"VoterMemberId": second, "Vote": "NO"}
    )
    statement = "SELECT v.MemberName, v.Vote FROM votes AS v WHERE v.ProposalId = ?"
    answer = await cp.query(A, {"Statement": statement, "Parameters": [proposal["ProposalId"]]})
    assert answer == {"Values": [{"MemberName": "o2", "Vote": "NO"}]}
    names = await cp.query(A, {"Statement": "SELECT VALUE n.Id FROM networks AS n"})
    assert names["Values"] == [network]  # account C's network is not visible to A
    theirs = await cp.query(C, {"Statement": "SELECT VALUE n.Id FROM networks AS n"})
    assert theirs["Values"] == [other["NetworkId"]]  # the invitation of C was voted down
    revisions = await cp.query(A, {"Statement": "SELECT VALUE h.data.Id FROM history(networks) h"})
    assert set(revisions["Values"]) == {network}  # history is filtered by the same rule
    votes = await cp.query(
        A, {"Statement": "SELECT c.blockAddress, c.hash FROM _ql_committed_votes c"}
    )
    assert len(votes["Values"]) == 2 and all(v["hash"] for v in votes["Values"])
    for bad, message in (
        ("DELETE FROM votes", "must be a query"),
        ("SELECT * FROM requests", "requests"),
        ("SELECT * FROM history(requests)", "requests"),
        ("SELEC * FROM votes", "Statement"),
    ):
        with pytest.raises(InvalidRequestException, match=message):
            await cp.query(A, {"Statement": bad})
    cp.close()


async def test_a_failed_write_stops_the_service(tmp_path: Path) -> None:
    cp = open_service(tmp_path / "ledger")
    created = await cp.create_network(A, network_body())

    def disk_full(blocks: Any) -> Future:
        failed: Future = Future()
        failed.set_exception(StorageFailure("disk full"))
        return failed

    cp.db.journal.submit = disk_full  # the journal's writes fail, as on a full disk
    with pytest.raises(InternalServiceErrorException, match="disk full"):
        await cp.create_proposal(
            A,
            created["NetworkId"],
            {
                "ClientRequestToken": "f",
                "MemberId": created["MemberId"],
                "Actions": {"Invitations": [{"Principal": B}]},
            },
        )
    assert cp.broken is not None
    with pytest.raises(InternalServiceErrorException, match="stopped"):
        await cp.get_network(A, created["NetworkId"])  # nothing is served from memory
    del cp.db.journal.submit
    cp.close()
    again = open_service(tmp_path / "ledger")  # a restart sees only what is durable
    assert (await again.list_proposals(A, created["NetworkId"], {}))["Proposals"] == []
    again.close()


async def test_the_first_format_is_migrated_once(tmp_path: Path) -> None:
    """A bare journal of event-sourced blocks (the format before the database) is replayed."""
    network = {
        "Id": "n-OLD",
        "Name": "old",
        "Framework": "HYPERLEDGER_FABRIC",
        "FrameworkVersion": "2.2",
        "FrameworkAttributes": {"Fabric": {"Edition": "STARTER"}},
        "VotingPolicy": network_body()["VotingPolicy"],
        "Status": "AVAILABLE",
        "CreationDate": "2026-01-01T00:00:00.000Z",
        "Tags": {},
        "Arn": "arn:aws:managedblockchain:us-east-1:111111111111:networks/n-OLD",
        "Creator": A,
    }
    member = {
        "NetworkId": "n-OLD",
        "Id": "m-OLD",
        "Name": "org1",
        "FrameworkAttributes": {"Fabric": {"AdminUsername": "admin"}},
        "Status": "AVAILABLE",
        "CreationDate": "2026-01-01T00:00:00.000Z",
        "Tags": {},
        "Arn": "arn:aws:managedblockchain:us-east-1:111111111111:members/m-OLD",
        "Owner": A,
    }
    blocks = [
        [("networks", "n-OLD", 0, network), ("members", "m-OLD", 0, member)],
        [("networks", "n-OLD", 1, {**network, "Tags": {"team": "blue"}})],
    ]
    with Journal.open(tmp_path / "ledger") as journal:
        for changes in blocks:
            entries = [
                Revision({"id": i, "version": v, "txTime": "2026-01-01T00:00:00Z"}, doc)
                for _, i, v, doc in changes
            ]
            documents = {i: {"tableName": table} for table, i, _, _ in changes}
            info = {"operation": "Old", "account": A, "documents": documents}
            journal.submit([(entries, info, None)]).result()
    cp = open_service(tmp_path / "ledger")
    assert (tmp_path / "ledger.v1" / "journal.meta").exists()  # the old journal is kept
    shown = (await cp.get_network(A, "n-OLD"))["Network"]
    assert shown["Tags"] == {"team": "blue"} and shown["Name"] == "old"
    members = (await cp.list_members(A, "n-OLD", {}))["Members"]
    assert [m["Id"] for m in members] == ["m-OLD"]
    cp.close()
    again = open_service(tmp_path / "ledger")  # migrated once: a restart opens the database
    assert (await again.get_network(A, "n-OLD"))["Network"]["Tags"] == {"team": "blue"}
    again.close()
