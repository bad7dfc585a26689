"""The control-plane process itself: start, restart, kill -9, configuration, strict SigV4.

This module also holds the helpers the other control-plane integration tests import:
``ControlPlaneProcess`` runs ``consortium node run control-plane`` as a real child
process on a free port, and ``client`` builds an unmodified boto3 client for an account.
"""

from __future__ import annotations

import base64
import datetime
import json
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from ledgerdb.block import EntryKind, decode
from ledgerdb.journal import Journal
from ledgerdb.verify import verify_block, verify_inclusion, verify_link

CONSORTIUM = Path(sys.executable).parent / "consortium"
PASSWORD = "Password123"
FIRST = "111111111111"


class ControlPlaneProcess:
    def __init__(self, data: Path, config: dict[str, Any] | None = None) -> None:
        self.data = data
        self.config_path: Path | None = None
        if config is not None:
            self.config_path = data.parent / f"{data.name}.yaml"
            self.config_path.write_text(json.dumps(config))  # JSON is YAML
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> ControlPlaneProcess:
        command = [str(CONSORTIUM), "node", "run", "control-plane"]
        command += ["--data", str(self.data), "--port", "0"]
        if self.config_path is not None:
            command += ["--config", str(self.config_path)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.process.stdout.readline()
        found = re.search(r"http://\S+", line)
        if found is None:
            self.process.kill()
            raise RuntimeError(f"control plane did not start: {line!r}")
        self.url = found.group(0)
        return self

    def stop(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()  # SIGKILL: no cleanup at all
        self.process.wait(timeout=20)

    def internal(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}{path}", data=data, method="GET")
        if data is not None:
            request.method = "POST"
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def advance(self, seconds: float) -> dict[str, Any]:
        return self.internal("/internal/clock", {"AdvanceSeconds": seconds})


def client(url: str, account: str = FIRST, secret: str = "any") -> Any:
    return boto3.client(
        "managedblockchain",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=account,
        aws_secret_access_key=secret,
        config=Config(retries={"total_max_attempts": 1}),
    )


def policy(percentage: int = 50, hours: int = 24, comparator: str = "GREATER_THAN") -> dict:
    return {
        "ApprovalThresholdPolicy": {
            "ThresholdPercentage": percentage,
            "ProposalDurationInHours": hours,
            "ThresholdComparator": comparator,
        }
    }


def member_config(name: str) -> dict[str, Any]:
    return {
        "Name": name,
        "FrameworkConfiguration": {"Fabric": {"AdminUsername": "admin", "AdminPassword": PASSWORD}},
    }


def create_network(api: Any, name: str = "net", voting: dict | None = None, **extra: Any) -> tuple:
    answer = api.create_network(
        Name=name,
        Framework="HYPERLEDGER_FABRIC",
        FrameworkVersion="2.2",
        FrameworkConfiguration={"Fabric": {"Edition": extra.pop("edition", "STARTER")}},
        VotingPolicy=voting or policy(),
        MemberConfiguration=member_config(extra.pop("member", "org1")),
        **extra,
    )
    return answer["NetworkId"], answer["MemberId"]


def invite_and_join(
    url: str, network_id: str, voters: list[tuple[Any, str]], account: str, name: str
) -> str:
    """Propose an invitation, vote YES with every voter until approved, accept it."""
    api, member_id = voters[0]
    proposal_id = api.create_proposal(
        NetworkId=network_id, MemberId=member_id, Actions={"Invitations": [{"Principal": account}]}
    )["ProposalId"]
    for voter, voter_member in voters:
        status = voter.get_proposal(NetworkId=network_id, ProposalId=proposal_id)["Proposal"]
        if status["Status"] != "IN_PROGRESS":
            break
        voter.vote_on_proposal(
            NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=voter_member, Vote="YES"
        )
    invited = client(url, account)
    invitation = next(
        i
        for i in invited.list_invitations()["Invitations"]
        if i["NetworkSummary"]["Id"] == network_id and i["Status"] == "PENDING"
    )
    return invited.create_member(
        NetworkId=network_id,
        InvitationId=invitation["InvitationId"],
        MemberConfiguration=member_config(name),
    )["MemberId"]


def grow(url: str, network_id: str, first: tuple[Any, str], size: int) -> list[tuple[Any, str]]:
    """The first member plus new ones of accounts 222222222222, 333333333333, … up to ``size``."""
    return grow_more(url, network_id, [first], size)


def grow_more(
    url: str, network_id: str, members: list[tuple[Any, str]], size: int
) -> list[tuple[Any, str]]:
    """Extend ``members`` (in place) with invited accounts until there are ``size``."""
    for index in range(len(members) + 1, size + 1):
        account = str(index) * 12
        joined = invite_and_join(url, network_id, members, account, f"org{index}")
        members.append((client(url, account), joined))
    return members


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlaneProcess]:
    process = ControlPlaneProcess(tmp_path_factory.mktemp("cp") / "data", {"clock": "manual"})
    process.start()
    yield process
    assert process.stop() == 0


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[ControlPlaneProcess]:
    process = ControlPlaneProcess(tmp_path / "data", {"clock": "manual"})
    process.start()
    yield process
    if process.process and process.process.poll() is None:
        process.stop()


def verify_history(history: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``consortium governance history`` checks, done independently here."""
    digest = base64.b64decode(history["Digest"])
    tip = history["DigestTip"]
    for entry in history["Entries"]:
        block = decode(base64.b64decode(entry["Block"]))
        verify_block(block)
        proof = [base64.b64decode(h) for h in entry["Proof"]]
        verify_inclusion(block.block_hash, block.sequence_no, tip, proof, digest)
        revisions = [e.revision() for e in block.entries if e.kind is EntryKind.REVISION]
        assert any(str(r.metadata["id"]) == entry["DocumentId"] for r in revisions)
    return history["Entries"]


# ---- tests -----------------------------------------------------------------------------------


def test_state_survives_a_graceful_restart(fresh: ControlPlaneProcess) -> None:
    api = client(fresh.url)
    network_id, member_id = create_network(api, Tags={"team": "blue"})
    proposal_id = api.create_proposal(
        NetworkId=network_id,
        MemberId=member_id,
        Actions={"Invitations": [{"Principal": "222222222222"}]},
    )["ProposalId"]
    assert fresh.stop() == 0
    fresh.start()
    api = client(fresh.url)
    network = api.get_network(NetworkId=network_id)["Network"]
    assert network["Tags"] == {"team": "blue"}
    proposal = api.get_proposal(NetworkId=network_id, ProposalId=proposal_id)["Proposal"]
    assert proposal["Status"] == "IN_PROGRESS"
    api.vote_on_proposal(
        NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=member_id, Vote="YES"
    )
    assert (
        api.get_proposal(NetworkId=network_id, ProposalId=proposal_id)["Proposal"]["Status"]
        == "APPROVED"
    )


def test_sigterm_answers_long_polls_and_exits_promptly(fresh: ControlPlaneProcess) -> None:
    """The MQTT bridge long-polls /internal/events for up to a minute; stopping must not
    wait it out (`consortium down` took 11 s while it did)."""
    answers: list[dict[str, Any]] = []
    poll = threading.Thread(
        target=lambda: answers.append(fresh.internal("/internal/events?after=-1&wait=60"))
    )
    poll.start()
    time.sleep(0.5)  # the poll is waiting in the server
    started = time.monotonic()
    assert fresh.stop() == 0
    assert time.monotonic() - started < 5
    poll.join(timeout=5)
    assert answers == [{"Events": [], "LastSequenceNo": -1}]


@pytest.mark.slow
def test_kill_9_during_a_vote_storm_loses_no_acknowledged_vote(fresh: ControlPlaneProcess) -> None:
    """Five members vote on many proposals from threads; the server is SIGKILLed mid-storm."""
    api = client(fresh.url)
    network_id, first = create_network(api, voting=policy(100, 168, "GREATER_THAN_OR_EQUAL_TO"))
    members = grow(fresh.url, network_id, (api, first), 5)
    proposals = [
        api.create_proposal(
            NetworkId=network_id,
            MemberId=first,
            Actions={"Invitations": [{"Principal": f"{n:012d}"}]},
        )["ProposalId"]
        for n in range(900000000000, 900000000100)
    ]
    acknowledged: list[tuple[str, str]] = []
    lock = threading.Lock()

    def storm(voter: tuple[Any, str]) -> None:
        voter_api, member_id = voter
        vote = "NO" if member_id == members[-1][1] else "YES"
        for proposal_id in proposals:
            try:
                voter_api.vote_on_proposal(
                    NetworkId=network_id,
                    ProposalId=proposal_id,
                    VoterMemberId=member_id,
                    Vote=vote,
                )
            except Exception:
                return  # the server is gone
            with lock:
                acknowledged.append((proposal_id, member_id))

    killer = threading.Timer(0.6, fresh.kill)
    killer.start()
    with ThreadPoolExecutor(len(members)) as pool:
        list(pool.map(storm, members))
    killer.join()
    assert fresh.process is not None and fresh.process.returncode == -signal.SIGKILL
    assert acknowledged, "the storm was killed before any vote was acknowledged"

    fresh.start()
    api = client(fresh.url)
    for proposal_id, member_id in acknowledged:
        votes = api.list_proposal_votes(NetworkId=network_id, ProposalId=proposal_id)[
            "ProposalVotes"
        ]
        assert member_id in {v["MemberId"] for v in votes}
    assert fresh.stop() == 0
    with Journal.open(fresh.data / "ledger" / "journal", read_only=True) as journal:
        previous = None
        for block in journal.read_range(0, journal.tip.sequence_no + 1):
            verify_block(block)
            verify_link(previous, block)
            previous = block


def test_history_proves_every_vote(server: ControlPlaneProcess) -> None:
    api = client(server.url)
    network_id, first = create_network(api, name="history")
    members = grow(server.url, network_id, (api, first), 3)
    proposal_id = api.create_proposal(
        NetworkId=network_id,
        MemberId=first,
        Actions={"Invitations": [{"Principal": "999999999999"}]},
    )["ProposalId"]
    for voter, member_id in members[:2]:
        voter.vote_on_proposal(
            NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=member_id, Vote="YES"
        )
    entries = verify_history(_signed_get(server.url, f"/proposals/{proposal_id}/history"))
    votes = [e for e in entries if e["Table"] == "votes"]
    assert [(v["Document"]["MemberId"], v["Document"]["Vote"]) for v in votes] == [
        (members[0][1], "YES"),
        (members[1][1], "YES"),
    ]
    statuses = [e["Document"]["Status"] for e in entries if e["Table"] == "proposals"]
    assert statuses == ["IN_PROGRESS", "IN_PROGRESS", "APPROVED"]


def _signed_get(url: str, path: str, account: str = FIRST) -> dict[str, Any]:
    from datetime import UTC, datetime
    from urllib.parse import urlsplit

    from network.controlplane.sigv4 import sign

    host = urlsplit(url).netloc
    headers = sign("GET", host, path, "", b"", account, "any", "us-east-1", datetime.now(UTC))
    request = urllib.request.Request(f"{url}{path}", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_bad_config_exits_2_naming_the_key(tmp_path: Path) -> None:
    config = tmp_path / "cp.yaml"
    config.write_text("reconcile: sometimes\n")
    result = subprocess.run(
        [
            str(CONSORTIUM),
            "node",
            "run",
            "control-plane",
            "--data",
            str(tmp_path / "d"),
            "--port",
            "0",
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "reconcile" in result.stderr


def test_strict_mode_verifies_signatures(tmp_path: Path) -> None:
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "[alice]\naws_access_key_id = AKIAALICE\naws_secret_access_key = alice-secret\n"
        "aws_account_id = 444455556666\n"
    )
    process = ControlPlaneProcess(
        tmp_path / "data", {"strict": True, "credentials_file": str(credentials)}
    ).start()
    try:
        alice = client(process.url, "AKIAALICE", "alice-secret")
        network_id, member_id = create_network(alice)
        member = alice.get_member(NetworkId=network_id, MemberId=member_id)["Member"]
        assert ":444455556666:" in member["Arn"]
        arn = alice.get_network(NetworkId=network_id)["Network"]["Arn"]
        alice.tag_resource(ResourceArn=arn, Tags={"k": "v"})  # ARN in the path, double-encoded
        assert alice.list_tags_for_resource(ResourceArn=arn)["Tags"] == {"k": "v"}
        assert alice.list_members(NetworkId=network_id, IsOwned=True, MaxResults=5)["Members"]
        for forged in (client(process.url, "AKIAALICE", "wrong"), client(process.url, "AKIAOTHER")):
            with pytest.raises(ClientError) as excinfo:
                forged.list_networks()
            assert error_code(excinfo) == "AccessDeniedException"
        # a request signed 20 minutes ago (replayed, or a skewed clock): AWS's 15-minute rule
        old = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
        with (
            mock.patch("botocore.auth.get_current_datetime", lambda: old.replace(tzinfo=None)),
            pytest.raises(ClientError) as excinfo,
        ):
            alice.list_networks()
        assert error_code(excinfo) == "AccessDeniedException"
        assert "Signature expired" in str(excinfo.value)
        # a key added to the file later is honoured at once (the file is read again)
        with credentials.open("a") as file:
            file.write(
                "[bob]\naws_access_key_id = AKIABOB\naws_secret_access_key = bob-secret\n"
                "aws_account_id = 777788889999\n"
            )
        assert "Networks" in client(process.url, "AKIABOB", "bob-secret").list_networks()
    finally:
        process.stop()


def test_unsigned_requests_are_refused(server: ControlPlaneProcess) -> None:
    request = urllib.request.Request(f"{server.url}/networks")
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(request, timeout=10)
    assert excinfo.value.code == 403
    assert excinfo.value.headers["x-amzn-ErrorType"] == "AccessDeniedException"


def test_event_feed_long_polls_and_survives_restart(fresh: ControlPlaneProcess) -> None:
    api = client(fresh.url)
    network_id, member_id = create_network(api)
    proposal_id = api.create_proposal(
        NetworkId=network_id,
        MemberId=member_id,
        Actions={"Invitations": [{"Principal": "222222222222"}]},
    )["ProposalId"]
    first = fresh.internal("/internal/events?after=-1")
    assert [e["Kind"] for e in first["Events"]] == ["MemberJoined", "ProposalCreated"]
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(
            fresh.internal, f"/internal/events?after={first['LastSequenceNo']}&wait=20"
        )
        api.vote_on_proposal(
            NetworkId=network_id, ProposalId=proposal_id, VoterMemberId=member_id, Vote="YES"
        )
        woken = waiting.result(timeout=30)
    assert [e["Kind"] for e in woken["Events"]] == [
        "VoteCast",
        "ProposalDecided",
        "InvitationIssued",
    ]
    assert woken["Events"][1]["Status"] == "APPROVED"
    assert fresh.stop() == 0
    fresh.start()
    replayed = fresh.internal("/internal/events?after=-1")["Events"]
    assert replayed == first["Events"] + woken["Events"]
