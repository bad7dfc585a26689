"""The analytics node on a real network (issue 22): `up` starts it from the spec, the
basic sample's transactions become PartiQL-queryable documents whose Fabric coordinates
point back to the peer's blocks, the unmodified QLDB driver reads the database while the
node writes it, a contract with private data collections leaves clear values where org1
is a member and hashes elsewhere, two writes of one key in one block are two revisions as
GetHistoryForKey has them, and kill -9 mid-stream loses and repeats nothing once the
reconciler has restarted it — real processes, the CLI as a user types it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2_grpc

from ledgerdb.client import LedgerClient
from ledgerdb.export import to_json
from network.analytics.config import load_config
from network.gateway_client import GatewayClient, GatewayClientError, Submitted
from proto.blockhash import block_header_hash
from proto.seek import build_seek_envelope
from tests.integration.test_up import spec_with_free_ports
from tests.support.processes import consortium

CHANNEL = "mychannel"
ROOT = Path(__file__).resolve().parents[2]
PYQLDB_PYTHON = ROOT / ".venv-pyqldb" / "bin" / "python"
PRIVATE_NOTES = Path(__file__).with_name("contracts") / "private_notes"


def _connection(home: Path, member: str) -> dict:
    return json.loads((home / "connection" / f"{member}.json").read_text())


async def _submit(
    home: Path, steps: list[tuple[str, str, tuple[str, ...]]], chaincode: str = "basic", **options
) -> list[Submitted]:
    """Each (member, function, args) submitted in order through the member's gateway."""
    done = []
    for member, function, args in steps:
        async with GatewayClient.from_connection(_connection(home, member), "user1") as client:
            done.append(await client.submit(CHANNEL, chaincode, function, *args, **options))
    return done


def _query(cwd: Path, statement: str, *options: str) -> list:
    done = consortium(
        cwd, "analytics", "query", "--channel", CHANNEL, statement, *options, "-o", "json"
    )
    return json.loads(done.stdout)


def _read(home: Path, statement: str, *params: object) -> list:
    """``statement`` through the node's ledgerdb service in an aborted transaction, as
    `analytics query` runs it, without a CLI process per query."""
    listen = load_config(home / "analytics" / "analytics.yaml").listen(CHANNEL)
    with LedgerClient(listen, timeout=30.0) as client:
        transaction = client.start_transaction()
        try:
            return [to_json(value) for value in transaction.execute(statement, *params).values]
        finally:
            transaction.abort()


def _peer_height(cwd: Path) -> int:
    status = json.loads(consortium(cwd, "status", "-o", "json").stdout)
    return status["channels"][CHANNEL]["peer-org1-peer0"]


def _wait_caught_up(home: Path, height: int, timeout: float = 60.0) -> None:
    """Until the analytics database holds blocks 0 … height - 1 (through the node's
    ledgerdb service, as `analytics query` reads it)."""
    listen = load_config(home / "analytics" / "analytics.yaml").listen(CHANNEL)
    deadline = time.monotonic() + timeout
    written = -1
    while time.monotonic() < deadline:
        try:
            with LedgerClient(listen, timeout=5.0) as client:
                transaction = client.start_transaction()  # read-only, as analytics query
                rows = transaction.execute('SELECT c.block FROM "_checkpoint" AS c').values
                transaction.abort()
            written = int(rows[0]["block"]) if rows else -1
        except Exception:  # the node is restarting: its service is not up yet
            written = -1
        if written >= height - 1:
            return
        time.sleep(0.3)
    raise AssertionError(f"analytics wrote up to block {written}, the peer has {height}")


async def _peer_block(home: Path, number: int) -> common_pb2.Block:
    """Block ``number`` as org1's peer serves it on Deliver."""
    async with GatewayClient.from_connection(_connection(home, "org1"), "user1") as client:
        seek = build_seek_envelope(client.signer, CHANNEL, number, number)
        stub = events_pb2_grpc.DeliverStub(client.channel)
        async for response in stub.Deliver(iter([seek])):
            if response.WhichOneof("Type") == "block":
                return response.block
    raise AssertionError(f"the peer served no block {number}")


def _check_documents_and_coordinates(cwd: Path, home: Path) -> None:
    created, _, moved, _ = asyncio.run(
        _submit(
            home,
            [
                ("org1", "CreateAsset", ("a1", "blue", "5", "Tomoko", "300")),
                ("org2", "CreateAsset", ("a2", "red", "3", "Brad", "100")),
                ("org2", "TransferAsset", ("a1", "Max")),
                ("org1", "DeleteAsset", ("a2",)),
            ],
        )
    )
    _wait_caught_up(home, _peer_height(cwd))

    (a1,) = _query(cwd, "SELECT * FROM basic WHERE Color = 'blue'")
    assert a1["Owner"] == "Max" and a1["fabric"]["key"] == "a1"
    assert (a1["fabric"]["txid"], a1["fabric"]["block"]) == (moved.tx_id, moved.block)
    assert _query(cwd, "SELECT * FROM basic WHERE fabric.key = 'a2'") == []  # deleted
    owners = _query(
        cwd,
        "SELECT h.data.Owner, h.data.fabric.block FROM history(basic) AS h "
        "WHERE h.data.fabric.key = 'a1'",
    )
    assert sorted((o["block"], o["Owner"]) for o in owners) == [
        (created.block, "Tomoko"),
        (moved.block, "Max"),
    ]
    (tx,) = _query(cwd, f"SELECT * FROM transactions WHERE txid = '{moved.tx_id}'")
    assert (tx["block"], tx["validation_code"], tx["creator_msp"]) == (
        moved.block,
        "VALID",
        "Org2MSP",
    )
    verified = consortium(
        cwd, "analytics", "verify", "--channel", CHANNEL, "a1", "-o", "json", check=False
    )
    answer = json.loads(verified.stdout)
    assert verified.returncode == 0 and answer["verified"], verified.stdout + verified.stderr
    assert [step["name"] for step in answer["steps"]] == [
        "revision proof",
        "block header hash",
        "block data hash",
        "orderer signature",
        "chain to the peer's tip",
        "transaction",
    ]
    bad = consortium(cwd, "analytics", "query", "--channel", CHANNEL, "SELECT * FROM", check=False)
    assert bad.returncode == 2 and "line 1" in bad.stderr, bad.stderr
    (row,) = _query(cwd, f"SELECT * FROM blocks WHERE number = {moved.block}")
    block = asyncio.run(_peer_block(home, moved.block))
    assert row["header_hash"] == block_header_hash(block.header).hex()
    assert row["previous_hash"] == block.header.previous_hash.hex()
    _check_qldb_driver(home, [(created.tx_id, "Tomoko"), (moved.tx_id, "Max")])


def _check_qldb_driver(home: Path, a1_history: list[tuple[str, str]]) -> None:
    """pyqldb, unmodified, on the node's QLDB endpoint (`status` shows it, checked at the
    end), while the node runs."""
    if not PYQLDB_PYTHON.exists():
        pytest.skip(f"{PYQLDB_PYTHON} is missing: run `bash deploy/install-deps.sh`")
    qldb = load_config(home / "analytics" / "analytics.yaml").qldb_listen(CHANNEL)
    port = qldb.rsplit(":", 1)[1]
    ran = subprocess.run(
        [
            str(PYQLDB_PYTHON),
            str(ROOT / "tests/integration/analytics_pyqldb.py"),
            port,
            CHANNEL,
            "a1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen = json.loads(ran.stdout)
    assert seen["keys"] == ["a1"]  # a2 was deleted
    assert seen["transactions"] == len(_read(home, "SELECT VALUE t.txid FROM transactions AS t"))
    assert sorted((h["txid"], h["owner"]) for h in seen["history"]) == sorted(a1_history)
    assert seen["write"]["code"] == "BadRequestException", seen["write"]
    assert "read-only" in seen["write"]["message"]


async def _sealed_writes(home: Path) -> tuple[str, int]:
    """Both members' sealed bids and, at the same time, two blind notes of one key, one per
    member (usually one block: the batch timeout is 250 ms; another key is tried if not);
    then org1 removes s1. Returns the notes' key and the last block written."""

    async def one(member: str, function: str, *args: str, **options) -> Submitted:
        (done,) = await _submit(home, [(member, function, args)], "sealed", **options)
        return done

    async def notes(key: str) -> list[Submitted]:
        return list(
            await asyncio.gather(one("org1", "Note", key, "a"), one("org2", "Note", key, "b"))
        )

    first = await asyncio.gather(
        one("org1", "Seal", "org1only", "s1", transient={"bid": b'{"amount": 10}'}),
        one("org2", "Seal", "org2only", "s2", transient={"bid": b'{"amount": 20}'}),
        notes("note0"),
    )
    key, written = "note0", first[2]
    for attempt in range(1, 5):
        if written[0].block == written[1].block:
            break
        key = f"note{attempt}"
        written = await notes(key)
    assert written[0].block == written[1].block, "two notes never landed in one block"
    removed = await one("org1", "Remove", "s1")
    return key, removed.block


async def _peer_histories(home: Path, keys: list[str]) -> dict[str, list]:
    """The sealed contract's History (the peer's GetHistoryForKey) of each key."""
    async with GatewayClient.from_connection(_connection(home, "org1"), "user1") as client:
        return {k: json.loads(await client.evaluate(CHANNEL, "sealed", "History", k)) for k in keys}


def _check_private_data_and_blind_writes(cwd: Path, home: Path) -> None:
    collections = cwd / "sealed-collections.json"
    collections.write_text(
        json.dumps(
            [
                {"name": "org1only", "policy": "OR('Org1MSP.member')", "maxPeerCount": 1},
                {"name": "org2only", "policy": "OR('Org2MSP.member')", "maxPeerCount": 1},
            ]
        )
    )
    consortium(cwd, "chaincode", "deploy", str(PRIVATE_NOTES), "--name", "sealed",
               "--policy", "OR('Org1MSP.peer', 'Org2MSP.peer')",
               "--collections", str(collections))  # fmt: skip
    key, last = asyncio.run(_sealed_writes(home))
    _wait_caught_up(home, last + 1)

    (clear,) = _read(home, "SELECT * FROM sealed__org1only")  # org1 is a member
    assert (clear["amount"], clear["fabric"]["key"]) == (10, "s1")
    (hidden,) = _read(home, "SELECT * FROM sealed__org2only")  # org1 is not
    assert hidden["key_hash"] == hashlib.sha256(b"s2").hexdigest()
    assert hidden["value_hash"] == hashlib.sha256(b'{"amount": 20}').hexdigest()
    assert "amount" not in hidden
    public = {d["fabric"]["key"]: d for d in _read(home, "SELECT * FROM sealed")}
    assert public["s2"]["collection"] == "org2only" and "s1" not in public

    revisions = _read(
        home,
        "SELECT h.data.fabric.block, h.data.fabric.position FROM history(sealed) AS h "
        "WHERE h.data.fabric.key = ?",
        key,
    )
    assert len(revisions) == 2, revisions  # one per transaction, not one per block
    assert revisions[0]["block"] == revisions[1]["block"]
    peer = asyncio.run(_peer_histories(home, ["s1", "s2", key]))
    for each, entries in peer.items():  # every key of the contract, a deletion included
        assert _history(home, "sealed", each) == [
            (e["txId"] if e["value"] is not None else None, e["value"]) for e in reversed(entries)
        ]


def _history(home: Path, table: str, key: str) -> list[tuple[str | None, dict | None]]:
    """(txid, value) of each revision of ``key``, oldest first; a deletion is (None, None)
    (it carries no data, so no Fabric coordinates of its own)."""
    ids = _read(
        home,
        f"SELECT DISTINCT VALUE h.metadata.id FROM history({table}) AS h "
        "WHERE h.data.fabric.key = ?",
        key,
    )
    revisions = _read(
        home,
        f"SELECT h.data, h.blockAddress.sequenceNo AS seq FROM history({table}) AS h "
        "WHERE h.metadata.id IN ? ORDER BY seq",
        ids,
    )
    found: list[tuple[str | None, dict | None]] = []
    for revision in revisions:
        data = revision.get("data")
        if data is None:
            found.append((None, None))
        else:
            value = {k: v for k, v in data.items() if k != "fabric"}
            found.append((data["fabric"]["txid"], value))
    return found


async def _load(home: Path, stop: asyncio.Event, made: list[str]) -> None:
    """CreateAsset from both members until told to stop."""

    async def member_load(member: str) -> None:
        async with GatewayClient.from_connection(_connection(home, member), "user1") as client:
            for number in range(10_000):
                if stop.is_set():
                    return
                asset = f"{member}-{number}"
                try:
                    await client.submit(
                        CHANNEL, "basic", "CreateAsset", asset, "red", "1", "x", "1"
                    )
                except GatewayClientError:
                    continue
                made.append(asset)

    await asyncio.gather(member_load("org1"), member_load("org2"))


async def _all_assets(home: Path) -> list[dict]:
    """The peer's world state of ``basic``, as the sample reads it."""
    async with GatewayClient.from_connection(_connection(home, "org1"), "user1") as client:
        return json.loads(await client.evaluate(CHANNEL, "basic", "GetAllAssets"))


def _pid(home: Path) -> int | None:
    try:
        return int((home / "pids" / "analytics.pid").read_text())
    except (OSError, ValueError):
        return None


async def _kill_while_streaming(home: Path, kills: int) -> list[str]:
    stop = asyncio.Event()
    made: list[str] = []
    load = asyncio.create_task(_load(home, stop, made))
    for _ in range(kills):
        await asyncio.sleep(random.uniform(0.5, 2.0))
        killed = _pid(home)
        assert killed is not None, "the analytics node is not running"
        os.kill(killed, signal.SIGKILL)
        for _ in range(300):  # the reconciler restarts it within its interval
            if _pid(home) not in (None, killed):
                break
            await asyncio.sleep(0.1)
        assert _pid(home) not in (None, killed), "the reconciler did not restart analytics"
    stop.set()
    await load
    return made


def _check_nothing_lost_or_repeated(cwd: Path, home: Path, made: list[str]) -> None:
    height = _peer_height(cwd)
    _wait_caught_up(home, height)
    numbers = _query(cwd, "SELECT VALUE b.number FROM blocks AS b")
    assert sorted(numbers) == list(range(height)), "a block missing or written twice"
    counted = sum(_query(cwd, "SELECT VALUE b.transaction_count FROM blocks AS b"))
    txids = _query(cwd, "SELECT VALUE t.txid FROM transactions AS t")
    assert len(txids) == counted
    repeated = [txid for txid, n in Counter(txids).items() if n > 1 and txid]
    assert not repeated, f"transactions written twice: {repeated[:3]}"
    documents = {d["fabric"]["key"]: d for d in _query(cwd, "SELECT * FROM basic")}
    world = {asset["ID"]: asset for asset in asyncio.run(_all_assets(home))}
    assert {k: {f: v for f, v in d.items() if f != "fabric"} for k, d in documents.items()} == world
    keys = _query(cwd, "SELECT VALUE h.data.fabric.key FROM history(basic) AS h")
    assert set(made) <= set(keys), "a committed asset is missing"
    assert not [k for k, n in Counter(keys).items() if n > 1 and k in made], "a revision twice"


@pytest.mark.slow
def test_analytics_follows_the_channel_and_survives_kill_9(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    home = tmp_path / ".consortium" / "two-members"
    try:
        up = json.loads(consortium(tmp_path, "up", str(spec), "-o", "json").stdout)
        assert "analytics" in up["nodes"]
        _check_documents_and_coordinates(tmp_path, home)
        _check_private_data_and_blind_writes(tmp_path, home)
        made = asyncio.run(_kill_while_streaming(home, kills=2))
        assert made, "the load committed nothing"
        _check_nothing_lost_or_repeated(tmp_path, home, made)
        status = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)
        assert status["nodes"]["analytics"]["listening"]
        qldb = load_config(home / "analytics" / "analytics.yaml").qldb_listen(CHANNEL)
        assert status["analytics"][CHANNEL] == {
            "ledgerdb": status["nodes"]["analytics"]["address"],
            "qldb": qldb,
            "qldb_ledger": CHANNEL,
            "qldb_listening": True,
        }
    finally:
        log = home / "logs" / "analytics.log"
        if log.exists():
            print(log.read_text()[-6000:])  # shown by pytest when the test failed
        consortium(tmp_path, "down", "--purge", check=False)
