"""An ordering cluster of three real orderer processes on a real three-server JetStream
cluster: any node admits, one cuts, all deliver the same blocks; the cutter killed or
paused past its lease, another continues with nothing lost, duplicated or forked."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import nats
import pytest
from fabric_protos.common import common_pb2

from ledgerdb.audit import audit
from ledgerdb.journal import Journal
from ledgerdb.replicated import MAX_BATCH_BLOCKS
from network.nats_cluster import NatsCluster
from peers.channel import OrdererEndpoint, PeerChannel
from peers.committer import commit_block
from peers.ledger import Ledger
from proto.blockhash import block_header_hash
from proto.envelope import parse_block
from tests.support.orderer import CHANNEL, OrdererFixture, transaction
from tests.support.stream_faults import roll_back_stream, set_lease, stream_length

pytest_plugins = ["tests.support.nats"]

NODES = ("osn0", "osn1", "osn2")
LEASE_SECONDS = 1.0
BLOCKS = f"LEDGERDB_ordering-{CHANNEL}"
INGRESS = f"ORDERING_INGRESS_{CHANNEL}"
CHAOS = pytest.mark.skipif(
    not os.environ.get("ORDERHA_CHAOS_ROUNDS"),
    reason="a longer fall-back fault: make chaos (ORDERHA_CHAOS_ROUNDS set) runs it",
)


@pytest.fixture
async def osns(tmp_path: Path, nats_cluster: NatsCluster):
    async with _cluster(tmp_path, nats_cluster) as nodes:
        yield nodes


@contextlib.asynccontextmanager
async def _cluster(
    tmp_path: Path, nats_cluster: NatsCluster, batch: dict[str, str] | None = None
) -> AsyncIterator[list[OrdererFixture]]:
    """Three ordering nodes on ``nats_cluster``, joined to the channel (``batch``: its
    BatchSize and BatchTimeout, the fixture's defaults if not given)."""
    options = {} if batch is None else {"batch": batch}
    first = OrdererFixture(tmp_path, node=NODES[0], nats=nats_cluster.urls,
                           lease_seconds=LEASE_SECONDS, **options)  # fmt: skip
    nodes = [first] + [
        OrdererFixture(
            tmp_path,
            node=name,
            nats=nats_cluster.urls,
            lease_seconds=LEASE_SECONDS,
            shared=first,
        )
        for name in NODES[1:]
    ]
    try:
        for node in nodes:
            node.start()
        for node in nodes:
            status, body = await node.join()
            assert status == 201, body
        yield nodes
    finally:
        for node in nodes:
            node.stop()
            if node.process is not None:  # shown when the test failed
                print(f"---- {node.node}", node.process.output, sep="\n")


async def _info(node: OrdererFixture) -> dict:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{node.admin_url}/{CHANNEL}", ssl=node.admin_ssl()) as response,
    ):
        return await response.json()


async def _cutter(nodes: list[OrdererFixture], timeout: float = 10) -> OrdererFixture:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for node in nodes:
            if node.process and node.process.process.poll() is None:
                info = await _info(node)
                if info.get("role") == "cutter":
                    return node
        await asyncio.sleep(0.1)
    raise AssertionError("no node became the cutter")


async def _broadcast_round_robin(nodes, envelopes) -> int:
    """Each envelope to the next live node, another one if that fails: how many got
    SUCCESS (every one must, with a live node left)."""
    ok = 0
    for index, envelope in enumerate(envelopes):
        for attempt in range(len(nodes) * 3):
            node = nodes[(index + attempt) % len(nodes)]
            if node.process is None or node.process.process.poll() is not None:
                continue
            try:
                (answer,) = await node.broadcast([envelope])
            except Exception:
                await asyncio.sleep(0.2)
                continue
            if answer.status == common_pb2.SUCCESS:
                ok += 1
                break
            await asyncio.sleep(0.2)
    return ok


async def _all_blocks(node: OrdererFixture, height: int, timeout: float = 20) -> list:
    deadline = time.monotonic() + timeout
    while True:
        blocks, _ = await node.deliver(node.client(), 0, "newest")
        if len(blocks) >= height or time.monotonic() > deadline:
            return blocks
        await asyncio.sleep(0.2)


def _txids(blocks: list[common_pb2.Block]) -> list[str]:
    return [tx.tx_id for block in blocks[1:] for tx in parse_block(block) if not tx.is_config]


async def _converged(nodes: list[OrdererFixture], wanted: set[str]) -> list[common_pb2.Block]:
    """Every live node serves the same blocks, holding each wanted txid exactly once."""
    live = [n for n in nodes if n.process and n.process.process.poll() is None]
    deadline = time.monotonic() + 30
    while True:
        chains = [await _all_blocks(n, 1) for n in live]
        ids = _txids(chains[0])
        if set(ids) >= wanted and all(len(c) == len(chains[0]) for c in chains):
            break
        assert time.monotonic() < deadline, (len(set(ids) & wanted), len(wanted))
        await asyncio.sleep(0.3)
    hashes = [[block_header_hash(b.header) for b in chain] for chain in chains]
    assert all(h == hashes[0] for h in hashes), "the nodes serve different blocks"
    assert len(ids) == len(set(ids)), "an envelope was ordered twice"
    for number, block in enumerate(chains[0]):
        assert block.header.number == number
    return chains[0]


async def test_any_node_admits_one_cuts_all_deliver_the_same_blocks(osns) -> None:
    client, endorser = osns[0].client(), osns[0].client("Org2MSP", "peer0")
    envelopes = [transaction(client, endorser, 200) for _ in range(30)]
    assert await _broadcast_round_robin(osns, envelopes) == 30
    wanted = {parse_block_tx(e) for e in envelopes}
    await _converged(osns, wanted)
    roles = [(await _info(n))["role"] for n in osns]
    assert sorted(roles) == ["cutter", "follower", "follower"]


def parse_block_tx(envelope: common_pb2.Envelope) -> str:
    block = common_pb2.Block()
    block.data.data.append(envelope.SerializeToString())
    return parse_block(block)[0].tx_id


async def _peer_pulling_from(
    first: OrdererFixture, nodes: list[OrdererFixture], tmp_path: Path
) -> PeerChannel:
    """A peer's channel (its ledger, its block puller, in this process) pulling from
    ``first``, then the other nodes in turn; it has block 0 (a peer's join block)."""
    genesis = (await first.deliver(first.client(), 0, 0))[0][0]
    ledger = Ledger(tmp_path / "peer")
    commit_block(ledger, genesis)
    channel = PeerChannel(CHANNEL, ledger, first.client("Org2MSP", "peer0"))
    order = [first] + [n for n in nodes if n is not first]
    channel.start_pulling(
        [OrdererEndpoint(f"127.0.0.1:{n.port}", n.tls_paths["ca"].read_bytes()) for n in order]
    )
    return channel


@pytest.mark.parametrize("fault", ["kill", "pause"])
async def test_the_cutter_lost_another_continues(osns, fault: str, tmp_path: Path) -> None:
    """... and a peer that pulled blocks from it goes on at its height from another."""
    client, endorser = osns[0].client(), osns[0].client("Org2MSP", "peer0")
    before = [transaction(client, endorser, 200) for _ in range(10)]
    assert await _broadcast_round_robin(osns, before) == 10
    cutter = await _cutter(osns)
    peer = await _peer_pulling_from(cutter, osns, tmp_path)  # the cutter first
    pid = cutter.process.process.pid
    if fault == "kill":
        os.kill(pid, signal.SIGKILL)
        cutter.process.process.wait(10)
    else:
        os.kill(pid, signal.SIGSTOP)
    others = [n for n in osns if n is not cutter]
    after = [transaction(client, endorser, 200) for _ in range(10)]
    assert await _broadcast_round_robin(others, after) == 10
    new_cutter = await _cutter(others)
    assert new_cutter is not cutter
    if fault == "pause":  # woken past its lease: it must not append, only follow
        await asyncio.sleep(LEASE_SECONDS * 2)
        os.kill(pid, signal.SIGCONT)
        more = [transaction(client, endorser, 200) for _ in range(5)]
        assert await _broadcast_round_robin(osns, more) == 5
        after += more
    wanted = {parse_block_tx(e) for e in before + after}
    chain = await _converged(osns, wanted)
    try:
        await asyncio.wait_for(peer.wait_for_height(len(chain)), 30)
        committed = [peer.ledger.read_block(n) for n in range(len(chain))]
        assert [block_header_hash(b.header) for b in committed] == [
            block_header_hash(b.header) for b in chain
        ]
    finally:
        await peer.close()


async def test_streams_that_lost_acknowledged_messages_are_mended_and_ordering_goes_on(
    osns, nats_cluster: NatsCluster
) -> None:
    """Both of the channel's streams fall back, as after a stale replica became their
    leader (nats-server 2.9.10, two partitions in a row): the block journal to the
    genesis block alone, the ingress to 3 envelopes. The nodes put the lost blocks back
    from their copies, the cutter fills the ingress positions it had read, and the next
    envelopes are ordered after the old ones: nothing acknowledged lost or changed, no
    envelope ordered twice."""
    client, endorser = osns[0].client(), osns[0].client("Org2MSP", "peer0")
    before = [transaction(client, endorser, 200) for _ in range(12)]
    assert await _broadcast_round_robin(osns, before) == 12
    acknowledged = await _converged(osns, {parse_block_tx(e) for e in before})
    assert len(acknowledged) >= 3, "the envelopes went in too few blocks to lose some"
    pids = [node.process.process.pid for node in osns]
    for pid in pids:  # the fall back is one instant to them, as a leader change is
        os.kill(pid, signal.SIGSTOP)
    try:
        await roll_back_stream(nats_cluster.urls, BLOCKS, 1)
        await roll_back_stream(nats_cluster.urls, INGRESS, 3)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    after = [transaction(client, endorser, 200) for _ in range(6)]
    assert await _broadcast_round_robin(osns, after) == 6
    chain = await _converged(osns, {parse_block_tx(e) for e in before + after})
    old = [block_header_hash(b.header) for b in acknowledged]
    assert [block_header_hash(b.header) for b in chain[: len(old)]] == old


def _pid(node: OrdererFixture) -> int:
    return node.process.process.pid


async def _roles_become(nodes: list[OrdererFixture], wanted: list[str], timeout: float = 30):
    # A cutter reports "follower" once its term's tasks have ended; under a full suite's
    # load that once took 10 s after the lost renewal (a task inside a NATS request).
    deadline = time.monotonic() + timeout
    while (roles := [(await _info(n))["role"] for n in nodes]) != wanted:
        assert time.monotonic() < deadline, roles
        await asyncio.sleep(0.1)


@CHAOS
async def test_a_cutter_whose_copy_is_behind_waits_for_the_stream_to_be_put_back(
    osns, nats_cluster: NatsCluster
) -> None:
    """A node paused while the others cut holds fewer blocks than they do; the block
    stream falls back to the genesis block and the lease falls to that node. It must not
    cut at the lost positions (the others would stop on blocks that differ from theirs):
    it asks the others how long their copies are and cuts once the stream is put back."""
    client, endorser = osns[0].client(), osns[0].client("Org2MSP", "peer0")
    first = [transaction(client, endorser, 200) for _ in range(4)]
    assert await _broadcast_round_robin(osns, first) == 4
    await _converged(osns, {parse_block_tx(e) for e in first})
    cutter = await _cutter(osns)
    behind = next(n for n in osns if n is not cutter)
    others = [n for n in osns if n is not behind]
    os.kill(_pid(behind), signal.SIGSTOP)
    try:
        more = [transaction(client, endorser, 200) for _ in range(12)]
        assert await _broadcast_round_robin(others, more) == 12
        acknowledged = await _converged(others, {parse_block_tx(e) for e in first + more})
        for node in others:
            os.kill(_pid(node), signal.SIGSTOP)
    finally:
        try:
            await roll_back_stream(nats_cluster.urls, BLOCKS, 1)
            await set_lease(nats_cluster.urls, CHANNEL, behind.node, 1000, LEASE_SECONDS * 5)
        finally:
            for node in osns:
                os.kill(_pid(node), signal.SIGCONT)
    after = [transaction(client, endorser, 200) for _ in range(4)]
    assert await _broadcast_round_robin(osns, after) == 4
    chain = await _converged(osns, {parse_block_tx(e) for e in first + more + after})
    old = [block_header_hash(b.header) for b in acknowledged]
    assert [block_header_hash(b.header) for b in chain[: len(old)]] == old


def _terms_ended(node: OrdererFixture) -> int:
    """How many cutting terms ``node`` has ended so far, as its log says."""
    output = node.process.output
    return output.count("stopped cutting") + output.count("cutting interrupted")


async def _stepped_down(node: OrdererFixture, ended: int, timeout: float) -> None:
    """Until ``node`` is no longer the cutter, or has ended a term since its log counted
    ``ended`` (under load it may step down and win the lease back, once the lease the
    bucket named another node for runs out, between two looks at its role)."""
    deadline = time.monotonic() + timeout
    while (await _info(node))["role"] == "cutter" and _terms_ended(node) == ended:
        assert time.monotonic() < deadline, "the old cutter did not step down"
        await asyncio.sleep(0.1)


@CHAOS
async def test_a_lease_bucket_that_fell_back_lets_no_losers_block_in(
    osns, nats_cluster: NatsCluster
) -> None:
    """Under load, the lease bucket falls back to an older term naming another node: for
    a moment two nodes believe they cut. The journal's conditions let only one block in
    at each position, the old cutter steps down within two leases and a second, and
    nothing is lost, forked or ordered twice."""
    client, endorser = osns[0].client(), osns[0].client("Org2MSP", "peer0")
    before = [transaction(client, endorser, 200) for _ in range(4)]
    assert await _broadcast_round_robin(osns, before) == 4
    acknowledged = await _converged(osns, {parse_block_tx(e) for e in before})
    cutter = await _cutter(osns)
    named = next(n for n in osns if n is not cutter)
    during = [transaction(client, endorser, 200) for _ in range(20)]
    load = asyncio.create_task(_broadcast_round_robin(osns, during))
    await asyncio.sleep(0.2)
    ended = _terms_ended(cutter)
    await set_lease(nats_cluster.urls, CHANNEL, named.node, 1, LEASE_SECONDS)
    await _stepped_down(cutter, ended, LEASE_SECONDS * 2 + 1)
    assert await load == 20
    chain = await _converged(osns, {parse_block_tx(e) for e in before + during})
    old = [block_header_hash(b.header) for b in acknowledged]
    assert [block_header_hash(b.header) for b in chain[: len(old)]] == old


async def test_envelopes_the_ingress_lost_before_any_cutter_read_them_are_admitted_again(
    osns, nats_cluster: NatsCluster
) -> None:
    """No node cuts (the lease names a node that is not there) while 6 envelopes are
    admitted, two by each node; then the node that admitted two of them is killed -9, and
    the ingress falls back to before all six. The live nodes still hold theirs; the killed
    one recorded its own on disk before answering SUCCESS and, restarted, reads them back:
    every SUCCESS is ordered, once."""
    client, endorser = osns[0].client(), osns[0].client("Org2MSP", "peer0")
    before = [transaction(client, endorser, 200) for _ in range(4)]
    assert await _broadcast_round_robin(osns, before) == 4
    await _converged(osns, {parse_block_tx(e) for e in before})
    await set_lease(nats_cluster.urls, CHANNEL, "nobody", 1000, 60)
    await _roles_become(osns, ["follower"] * 3)
    read = await stream_length(nats_cluster.urls, INGRESS)
    lost = [transaction(client, endorser, 200) for _ in range(6)]
    for index, envelope in enumerate(lost):  # each node admits two; no failover
        (answer,) = await osns[index % 3].broadcast([envelope])
        assert answer.status == common_pb2.SUCCESS, answer
    assert await stream_length(nats_cluster.urls, INGRESS) == read + 6
    killed = osns[1]
    os.kill(_pid(killed), signal.SIGKILL)
    killed.process.process.wait(10)
    pids = [_pid(node) for node in osns if node is not killed]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        await roll_back_stream(nats_cluster.urls, INGRESS, read)
        await set_lease(nats_cluster.urls, CHANNEL, "nobody", 1000, 0)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    killed.start()  # same folder, same ports
    after = [transaction(client, endorser, 200) for _ in range(3)]
    assert await _broadcast_round_robin(osns, after) == 3
    await _converged(osns, {parse_block_tx(e) for e in before + lost + after})


MENDED_BLOCKS = MAX_BATCH_BLOCKS + 40  # restored in two publishing rounds


async def _kill_in_the_middle(
    urls: list[str], stream: str, low: int, high: int, pid: int, run: float = 0.002
) -> int:
    """Run the stopped process ``pid`` ``run`` seconds in every 20 ms more (a loaded
    host: what it sends goes out slowly) until ``stream`` holds more than ``low`` and fewer
    than ``high`` messages, then SIGKILL it; how many the stream holds once what the
    process had sent has landed (it is never let run at full speed: the whole mend takes
    it well under a second)."""
    connection = await nats.connect(urls)
    try:
        js = connection.jetstream()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            os.kill(pid, signal.SIGCONT)
            await asyncio.sleep(run)
            os.kill(pid, signal.SIGSTOP)
            held = (await js.stream_info(stream)).state.last_seq
            if held >= high:
                os.kill(pid, signal.SIGCONT)
                return held
            if low < held:
                os.kill(pid, signal.SIGKILL)
                break
            await asyncio.sleep(0.02)
        while True:  # until nothing more arrives for half a second
            await asyncio.sleep(0.5)
            now = (await js.stream_info(stream)).state.last_seq
            if now == held:
                return held
            held = now
    finally:
        await connection.close()


@CHAOS  # 13-22 s; tests/integration/test_ledger_replicated.py has the short version
async def test_a_node_killed_in_the_middle_of_a_mend_restarts_and_finishes_it(
    tmp_path: Path, nats_cluster: NatsCluster
) -> None:
    """296 blocks (one envelope each: put back in two publishing rounds); both streams
    fall back to their first message while every node is paused. Only the cutter is woken,
    slowed down: it starts putting the lost blocks back from its copy and is killed -9
    between the rounds. Restarted alone, its copy is longer than the stream: it puts the
    rest back and mends the ingress; then the others wake. The stream ends complete, every
    node serves the blocks acknowledged before, nothing is forked or ordered twice, and
    every node's journal copy verifies with equal digests."""
    one_per_block = {"timeout": "200ms", "count": "1", "absolute": "64 KB", "preferred": "32 KB"}
    async with _cluster(tmp_path, nats_cluster, one_per_block) as nodes:
        client, endorser = nodes[0].client(), nodes[0].client("Org2MSP", "peer0")
        before = [transaction(client, endorser, 2000) for _ in range(MENDED_BLOCKS)]
        answers = await asyncio.gather(
            *(node.broadcast(before[index::3]) for index, node in enumerate(nodes))
        )
        assert all(a.status == common_pb2.SUCCESS for group in answers for a in group)
        acknowledged = await _converged(nodes, {parse_block_tx(e) for e in before})
        mender = await _cutter(nodes)
        for node in nodes:
            os.kill(_pid(node), signal.SIGSTOP)
        try:
            await roll_back_stream(nats_cluster.urls, BLOCKS, 1)
            await roll_back_stream(nats_cluster.urls, INGRESS, 1)
            held = await _kill_in_the_middle(  # it wakes slowed down
                nats_cluster.urls, BLOCKS, 1, len(acknowledged), _pid(mender)
            )
            assert 1 < held < len(acknowledged), f"the mend was not caught mid-way ({held})"
            mender.process.process.wait(10)
            mender.start()  # alone: its copy is the only one awake that holds the rest
            deadline = time.monotonic() + 30
            while await stream_length(nats_cluster.urls, BLOCKS) < len(acknowledged):
                assert time.monotonic() < deadline, "the restarted node did not finish the mend"
                await asyncio.sleep(0.1)
        finally:
            for node in nodes:  # the mender too, if the test failed before its kill
                with contextlib.suppress(ProcessLookupError):
                    os.kill(_pid(node), signal.SIGCONT)
        after = [transaction(client, endorser, 200) for _ in range(3)]
        assert await _broadcast_round_robin(nodes, after) == 3
        chain = await _converged(nodes, {parse_block_tx(e) for e in before + after})
        old = [block_header_hash(b.header) for b in acknowledged]
        assert [block_header_hash(b.header) for b in chain[: len(old)]] == old
        digests = set()
        for node in nodes:
            copy = node.data_dir / "channels" / CHANNEL / "blocks"
            assert audit(copy).ok, node.node
            with Journal.open(copy, read_only=True) as journal:
                digests.add(journal.digest(len(chain) - 1).digest)
        assert len(digests) == 1, "the nodes' journal copies differ"


async def test_a_node_whose_copy_the_stream_contradicts_halts_and_says_where(
    osns, nats_cluster: NatsCluster
) -> None:
    """The block stream falls back to the genesis block and then holds something else at
    position 1 (a fork no copy can mend): every node's copy stops there, and each node
    reports itself halted on its participation API (what ``consortium status`` shows),
    naming the stream and the block, instead of following or cutting on."""
    client, endorser = osns[0].client(), osns[0].client("Org2MSP", "peer0")
    before = [transaction(client, endorser, 200) for _ in range(12)]
    assert await _broadcast_round_robin(osns, before) == 12
    acknowledged = await _converged(osns, {parse_block_tx(e) for e in before})
    assert len(acknowledged) >= 3
    pids = [_pid(node) for node in osns]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        await roll_back_stream(nats_cluster.urls, BLOCKS, 1, then=b"not this chain's block 1")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 20
    while True:
        infos = [await _info(node) for node in osns]
        if all(info.get("role") == "halted" for info in infos):
            break
        assert time.monotonic() < deadline, infos
        await asyncio.sleep(0.2)
    for info in infos:
        assert info["status"] == "failed"
        assert f"stream {BLOCKS}, block 1" in info["halted"], info["halted"]
    for node in osns:  # what they hold stays, and is still served
        assert len(await _all_blocks(node, len(acknowledged))) == len(acknowledged)


@CHAOS  # ≈ 20 s
async def test_a_cutter_killed_while_filling_the_ingress_leaves_no_envelope_behind(
    osns, nats_cluster: NatsCluster
) -> None:
    """The ingress falls back to its first message; a non-cutting node admits 3 envelopes
    onto the lost positions (the lease stays with the paused cutter). The cutter wakes
    slowed down and alone, starts filling the lost positions (one at a time) and is killed
    -9 part way: the envelopes it had found were in its memory only. Restarted, it
    continues the same mend past the fillers it left and admits the 3 again: every
    SUCCESS is ordered, once (before, the admitting node took them for ordered: the
    ingress held them where the blocks had passed)."""
    client, endorser = osns[0].client(), osns[0].client("Org2MSP", "peer0")
    before = [transaction(client, endorser, 200) for _ in range(100)]
    assert await _broadcast_round_robin(osns, before) == 100
    await _converged(osns, {parse_block_tx(e) for e in before})
    read = await stream_length(nats_cluster.urls, INGRESS)
    mender = await _cutter(osns)
    admitter = next(node for node in osns if node is not mender)
    await set_lease(nats_cluster.urls, CHANNEL, mender.node, 1000, 120)
    for node in osns:
        os.kill(_pid(node), signal.SIGSTOP)
    try:
        await roll_back_stream(nats_cluster.urls, INGRESS, 1)
        os.kill(_pid(admitter), signal.SIGCONT)
        overtaken = [transaction(client, endorser, 200) for _ in range(3)]
        for envelope in overtaken:
            (answer,) = await admitter.broadcast([envelope])
            assert answer.status == common_pb2.SUCCESS, answer
        os.kill(_pid(admitter), signal.SIGSTOP)  # nobody takes the slowed cutter's lease
        held = await _kill_in_the_middle(  # one filler per round trip: slowed more
            nats_cluster.urls, INGRESS, 4, read, _pid(mender), run=0.0005
        )
        assert 4 < held < read, f"the mend was not caught mid-way ({held} of {read})"
        mender.process.process.wait(10)
        mender.start()  # alone again: the mend is its to finish
    finally:
        for node in osns:
            with contextlib.suppress(ProcessLookupError):
                os.kill(_pid(node), signal.SIGCONT)
    after = [transaction(client, endorser, 200) for _ in range(3)]
    assert await _broadcast_round_robin(osns, after) == 3
    await _converged(osns, {parse_block_tx(e) for e in before + overtaken + after})
