"""Control-plane figures: votes/s over the REST API (boto3) and verified history.

Starts a real ``consortium node run control-plane`` on a free port, grows a network to
100 members by governance (policy 1 %, GREATER_THAN: one YES admits each newcomer),
then measures

1. sequential votes/s: one client, one vote at a time (every vote fsynced before its
   answer);
2. concurrent votes/s: 16 threads voting NO on 20 proposals (group commit shares fsyncs);
3. ``governance history`` for a proposal with 100 votes: fetch + verify every block and
   inclusion proof against the digest on the client side;
4. read latency (p50/p99 over boto3): GetProposal, ListProposalVotes (100 votes),
   ListMembers (100 members, 5 pages);
5. restart: a graceful stop, then the time until a new process answers ``/ping``, with
   every proposal and vote above in the ledger.

Run: ``.venv/bin/python tests/bench/bench_controlplane.py``. Prints figures, asserts
nothing about time.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from network.controlplane.client import Client, verify_history  # noqa: E402

MEMBERS = 100
PASSWORD = "Password123"


def client(url: str, account: str):
    return boto3.client(
        "managedblockchain",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=account,
        aws_secret_access_key="bench",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=32),
    )


def config(name: str) -> dict:
    fabric = {"AdminUsername": "admin", "AdminPassword": PASSWORD}
    return {"Name": name, "FrameworkConfiguration": {"Fabric": fabric}}


def start(data: Path) -> tuple[subprocess.Popen, str]:
    settings = data.parent / "cp.yaml"
    settings.write_text("member_quota: 100\nsweep_seconds: 60\n")
    command = [str(Path(sys.executable).parent / "consortium"), "node", "run", "control-plane"]
    command += ["--data", str(data), "--port", "0", "--config", str(settings)]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    url = re.search(r"http://\S+", process.stdout.readline()).group(0)
    return process, url


def grow(url: str) -> tuple[str, list[tuple[object, str]]]:
    owner = client(url, "100000000000")
    created = owner.create_network(
        Name="bench",
        Framework="HYPERLEDGER_FABRIC",
        FrameworkVersion="2.2",
        FrameworkConfiguration={"Fabric": {"Edition": "STANDARD"}},
        VotingPolicy={
            "ApprovalThresholdPolicy": {
                "ThresholdPercentage": 1,
                "ProposalDurationInHours": 168,
                "ThresholdComparator": "GREATER_THAN",
            }
        },
        MemberConfiguration=config("m000"),
    )
    network, first = created["NetworkId"], created["MemberId"]
    members = [(owner, first)]
    for index in range(1, MEMBERS):
        account = f"{100000000000 + index}"
        proposal = owner.create_proposal(
            NetworkId=network, MemberId=first, Actions={"Invitations": [{"Principal": account}]}
        )["ProposalId"]
        owner.vote_on_proposal(
            NetworkId=network, ProposalId=proposal, VoterMemberId=first, Vote="YES"
        )
        guest = client(url, account)
        invitation = guest.list_invitations()["Invitations"][0]["InvitationId"]
        member = guest.create_member(
            NetworkId=network, InvitationId=invitation, MemberConfiguration=config(f"m{index:03d}")
        )["MemberId"]
        members.append((guest, member))
    return network, members


def propose(network: str, members: list) -> str:
    owner, first = members[0]
    return owner.create_proposal(
        NetworkId=network, MemberId=first, Actions={"Invitations": [{"Principal": "999999999999"}]}
    )["ProposalId"]


def sequential(network: str, members: list) -> tuple[str, float]:
    """100 votes on one proposal: YES, 98 × NO, YES — decided on the very last vote."""
    proposal = propose(network, members)
    votes = ["YES"] + ["NO"] * (MEMBERS - 2) + ["YES"]
    started = time.perf_counter()
    for (api, member), vote in zip(members, votes, strict=True):
        api.vote_on_proposal(
            NetworkId=network, ProposalId=proposal, VoterMemberId=member, Vote=vote
        )
    elapsed = time.perf_counter() - started
    status = members[0][0].get_proposal(NetworkId=network, ProposalId=proposal)["Proposal"]
    assert status["Status"] == "APPROVED" and status["OutstandingVoteCount"] == 0
    return proposal, MEMBERS / elapsed


def concurrent(network: str, members: list, proposals: int = 20, threads: int = 16) -> float:
    """NO votes from 99 members on each proposal (the 99th rejects it), 16 threads at once."""
    ids = [propose(network, members) for _ in range(proposals)]
    work = [(api, member, proposal) for proposal in ids for api, member in members[:99]]

    def cast(item: tuple) -> None:
        api, member, proposal = item
        api.vote_on_proposal(
            NetworkId=network, ProposalId=proposal, VoterMemberId=member, Vote="NO"
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(cast, work))
    return len(work) / (time.perf_counter() - started)


def history(url: str, proposal: str) -> tuple[float, float, int]:
    api = Client(url, "100000000000", "bench")
    started = time.perf_counter()
    answer = api.call("GET", f"/proposals/{proposal}/history")
    fetched = time.perf_counter()
    entries = verify_history(answer)
    verified = time.perf_counter()
    return fetched - started, verified - fetched, len(entries)


def latency(samples: int, call) -> tuple[float, float]:
    """p50 and p99 of ``call()`` in milliseconds."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return times[len(times) // 2], times[min(len(times) - 1, len(times) * 99 // 100)]


def reads(network: str, proposal: str, members: list) -> dict[str, tuple[float, float]]:
    api = members[0][0]

    def list_members() -> None:
        token = None
        while True:
            page = api.list_members(NetworkId=network, **({"NextToken": token} if token else {}))
            token = page.get("NextToken")
            if not token:
                return

    return {
        "GetProposal": latency(
            200, lambda: api.get_proposal(NetworkId=network, ProposalId=proposal)
        ),
        "ListProposalVotes (100)": latency(
            50, lambda: api.list_proposal_votes(NetworkId=network, ProposalId=proposal)
        ),
        "ListMembers (100, 5 pages)": latency(20, list_members),
    }


def restart(data: Path) -> float:
    """Seconds from launching the process to its first answer to /ping."""
    started = time.perf_counter()
    process, url = start(data)
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{url}/ping", timeout=5):
                    break
            except OSError:
                time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        process, url = start(data)
        try:
            started = time.perf_counter()
            network, members = grow(url)
            grown = time.perf_counter() - started
            proposal, sequential_rate = sequential(network, members)
            concurrent_rate = concurrent(network, members)
            fetch, verify, entries = history(url, proposal)
            timings = reads(network, proposal, members)
        finally:
            process.terminate()
            process.wait()
        restarted = restart(data)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"grow to {MEMBERS} members by governance: {grown:.1f} s ({MEMBERS - 1} joins)")
    print(f"votes, sequential (1 client, boto3):   {sequential_rate:8.0f} votes/s")
    print(f"votes, concurrent (16 threads, boto3): {concurrent_rate:8.0f} votes/s")
    print(f"history of a proposal with {MEMBERS} votes: {entries} entries,")
    print(f"  fetch {fetch * 1000:.0f} ms + verify every block and proof {verify * 1000:.0f} ms")
    for name, (p50, p99) in timings.items():
        print(f"{name:27s} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms")
    proposals = MEMBERS - 1 + 1 + 20
    votes = (MEMBERS - 1) + MEMBERS + 20 * 99
    print(
        f"restart with {proposals} proposals and {votes} votes in the ledger: "
        f"{restarted:.2f} s to the first /ping"
    )


if __name__ == "__main__":
    main()
