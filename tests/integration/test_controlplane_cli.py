"""The ``consortium`` CLI groups against a real control-plane process, as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

import pytest

from tests.integration.test_controlplane_server import (
    CONSORTIUM,
    PASSWORD,
    ControlPlaneProcess,
    server,  # noqa: F401 - a fixture
)

ALICE, BOB = "131313131313", "242424242424"


def run(url: str, account: str, *args: str, expect: int = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "CONSORTIUM_ENDPOINT": url, "AWS_ACCESS_KEY_ID": account}
    result = subprocess.run(
        [str(CONSORTIUM), *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == expect, (args, result.stdout, result.stderr)
    return result


def as_json(url: str, account: str, *args: str) -> Any:
    return json.loads(run(url, account, *args, "--output", "json").stdout)


@pytest.mark.slow
def test_governance_from_the_cli(server: ControlPlaneProcess) -> None:  # noqa: F811
    url = server.url
    created = as_json(
        url, ALICE, "network", "create", "supply", "--member", "alice", "--admin-password", PASSWORD
    )
    network, alice = created["NetworkId"], created["MemberId"]
    assert as_json(url, ALICE, "network", "show", network)["Name"] == "supply"
    assert [n["Id"] for n in as_json(url, ALICE, "network", "list")] == [network]

    proposal = as_json(
        url, ALICE, "proposal", "create", "--network", network, "--member", alice, "--invite", BOB
    )["ProposalId"]
    voted = as_json(
        url, ALICE, "proposal", "vote", proposal, "--network", network, "--member", alice, "--yes"
    )
    assert voted["Status"] == "APPROVED"
    second = run(
        url,
        ALICE,
        "proposal",
        "vote",
        proposal,
        "--network",
        network,
        "--member",
        alice,
        "--no",
        expect=2,
    )
    assert "IllegalActionException" in second.stderr and len(second.stderr.splitlines()) == 1
    shown = as_json(url, ALICE, "proposal", "show", proposal, "--network", network)
    assert shown["Votes"] == [{"Vote": "YES", "MemberName": "alice", "MemberId": alice}]
    assert as_json(url, ALICE, "proposal", "list", "--network", network)[0]["Status"] == "APPROVED"

    invitation = as_json(url, BOB, "invitation", "list")[0]
    assert invitation["NetworkId"] == network and invitation["Status"] == "PENDING"
    bob = as_json(
        url,
        BOB,
        "member",
        "create",
        "--network",
        network,
        "--invitation",
        invitation["InvitationId"],
        "--name",
        "bob",
        "--admin-password",
        PASSWORD,
    )["MemberId"]
    members = as_json(url, BOB, "member", "list", "--network", network)
    assert {m["Name"]: m["IsOwned"] for m in members} == {"alice": False, "bob": True}
    assert as_json(url, ALICE, "member", "show", bob, "--network", network)["Status"] == "AVAILABLE"

    node = as_json(url, BOB, "node", "create", "--network", network, "--member", bob)["NodeId"]
    assert [n["Id"] for n in as_json(url, BOB, "node", "list", "--network", network)] == [node]
    assert as_json(url, BOB, "node", "show", node, "--network", network)["MemberId"] == bob
    denied = run(url, ALICE, "node", "delete", node, "--network", network, expect=2)
    assert "AccessDeniedException" in denied.stderr
    as_json(url, BOB, "node", "delete", node, "--network", network)
    assert as_json(url, BOB, "node", "show", node, "--network", network)["Status"] == "DELETED"

    history = as_json(url, ALICE, "governance", "history", proposal)
    assert all(entry["Verified"] for entry in history["Entries"])
    votes = [e["Document"] for e in history["Entries"] if e["Table"] == "votes"]
    assert [(v["MemberId"], v["Vote"]) for v in votes] == [(alice, "YES")]
    rows = as_json(
        url,
        ALICE,
        "governance",
        "query",
        "SELECT v.MemberName, v.Vote FROM votes AS v WHERE v.ProposalId = ?",
        "--param",
        json.dumps(proposal),
    )
    assert rows == [{"MemberName": "alice", "Vote": "YES"}]
    table = run(url, ALICE, "governance", "history", proposal).stdout
    assert "voted YES" in table and "verified" in table

    removal = as_json(
        url, ALICE, "proposal", "create", "--network", network, "--member", alice, "--remove", bob
    )["ProposalId"]
    run(url, ALICE, "proposal", "vote", removal, "--network", network, "--member", alice, "--yes")
    run(url, BOB, "proposal", "vote", removal, "--network", network, "--member", bob, "--yes")
    assert as_json(url, ALICE, "member", "show", bob, "--network", network)["Status"] == "DELETED"
    rejected = as_json(url, BOB, "invitation", "list")
    assert rejected[0]["Status"] == "ACCEPTED"


def test_cli_errors_are_one_line(server: ControlPlaneProcess) -> None:  # noqa: F811
    missing = run(server.url, ALICE, "network", "show", "n-MISSING", expect=2)
    assert missing.stderr.startswith("error: ResourceNotFoundException")
    unreachable = run("http://127.0.0.1:9", ALICE, "network", "list", expect=2)
    assert "cannot reach the control plane" in unreachable.stderr
    bad = run(
        server.url,
        ALICE,
        "network",
        "create",
        "x",
        "--member",
        "m",
        "--admin-password",
        "short",
        expect=2,
    )
    assert "AdminPassword" in bad.stderr
