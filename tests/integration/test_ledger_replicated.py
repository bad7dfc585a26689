"""The replicated journal on a real three-server JetStream cluster (loopback)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import nats
import pytest
from nats.js.api import StreamConfig

from ledgerdb.audit import audit
from ledgerdb.block import BlockAddress, ChainHead, Payload, Revision, prepare
from ledgerdb.errors import (
    InvalidInput,
    JournalConflict,
    LedgerUnavailable,
    ReplicaMismatch,
)
from ledgerdb.jetstream import Stored, layout, message
from ledgerdb.journal import Journal
from ledgerdb.replicated import ReplicatedJournal
from ledgerdb.verify import verify_block, verify_inclusion
from network.nats_cluster import NatsCluster
from tests.support.processes import consortium
from tests.support.stream_faults import roll_back_stream

pytest_plugins = ["tests.support.nats"]

ROOT = Path(__file__).resolve().parents[2]
NAME = "orderers-mychannel"
STREAM = layout(NAME).stream


@asynccontextmanager
async def opened(path: Path, cluster: NatsCluster, **options) -> AsyncIterator[ReplicatedJournal]:
    journal = await ReplicatedJournal.open(path, servers=cluster.urls, name=NAME, **options)
    try:
        yield journal
    finally:
        await journal.close()


async def digests_match(*journals: ReplicatedJournal) -> None:
    for journal in journals:
        await journal.catch_up()
    first = await journals[0].digest()
    for journal in journals[1:]:
        assert await journal.digest() == first


async def test_two_writers_race_and_exactly_one_wins_each_position(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """Each writer runs two appenders (so batches race batches), two blocks per call; one
    of them also follows the stream, as a reader would."""
    won: dict[int, str] = {}
    lost: list[tuple[str, JournalConflict]] = []

    def record(writer: str, addresses: list[BlockAddress]) -> None:
        for address in addresses:
            assert address.sequence_no not in won, "two writers got the same position"
            won[address.sequence_no] = writer

    async def write(writer: str, journal: ReplicatedJournal, task: int) -> None:
        for number in range(25):
            body = b"%s/%d/%d" % (writer.encode(), task, number)
            try:
                record(writer, await journal.append_many([([Payload(body)], None, None)] * 2))
            except JournalConflict as conflict:
                lost.append((writer, conflict))
                record(writer, conflict.appended)

    async with (
        opened(tmp_path / "a", nats_cluster) as a,
        opened(tmp_path / "b", nats_cluster, follow=True) as b,  # sees its own blocks again
    ):
        await asyncio.gather(*(write(w, j, t) for w, j in (("a", a), ("b", b)) for t in (0, 1)))
        assert lost, "the writers never raced"
        for loser, conflict in lost:
            assert conflict.stream == STREAM
            assert f"stream {STREAM}: block {conflict.sequence_no} was taken" in str(conflict)
            assert won[conflict.sequence_no] != loser, "a writer lost to itself"
        await digests_match(a, b)
        assert sorted(won) == list(range(a.tip.sequence_no + 1)), (
            "the stream holds exactly the acknowledged blocks, with no gap"
        )
        assert await a.read_range(0, 1000) == await b.read_range(0, 1000)
    for copy in ("a", "b"):
        assert audit(tmp_path / copy).ok


async def test_an_empty_reader_catches_up_and_its_copy_verifies(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        for start in range(0, 300, 50):
            await writer.append_many(
                [
                    ([Payload(b"fabric block %d" % n)], {"n": n}, None)
                    for n in range(start, start + 50)
                ]
            )
        await writer.append([Revision({"id": "doc", "version": 0}, {"owner": "Alice"})])
        async with opened(tmp_path / "reader", nats_cluster, follow=True) as reader:
            assert reader.tip == writer.tip  # the open caught up
            digest = await reader.digest()
            assert digest == await writer.digest()
            block = await reader.read(123)
            verify_block(block)
            proof = await reader.inclusion_proof(123)
            verify_inclusion(block.block_hash, 123, 300, proof, digest.digest)
            # `consortium ledger verify` on the copy, while the reader holds it open
            report = consortium(ROOT, "ledger", "verify", "--ledger", str(tmp_path / "reader"))
            assert "301" in report.stdout
            later = await writer.append([Payload(b"after the reader opened")])
            await reader.wait_for(later.sequence_no, timeout=10)  # following
            assert (await reader.read(later.sequence_no)).entries[0].body.startswith(b"after")
    assert audit(tmp_path / "reader").ok


@pytest.mark.parametrize(
    "victim",
    [
        "follower",  # preferably the writer's own server: the writer must reconnect
        pytest.param("leader", marks=pytest.mark.slow),  # 5-9 s without a stream leader
    ],
)
async def test_appends_go_on_while_a_server_is_killed(
    nats_cluster: NatsCluster, tmp_path: Path, victim: str
) -> None:
    acknowledged = []

    async def append(writer: ReplicatedJournal, task: int, until: asyncio.Event) -> None:
        number = 0
        while not until.is_set():
            address = await writer.append([Payload(b"task %d block %d " % (task, number) * 30)])
            acknowledged.append(address.sequence_no)
            number += 1

    async with opened(tmp_path / "writer", nats_cluster) as writer:
        await writer.append([Payload(b"first")])
        stop = asyncio.Event()
        tasks = [asyncio.create_task(append(writer, task, stop)) for task in range(8)]
        while len(acknowledged) < 200:
            await asyncio.sleep(0.01)
        nats_cluster.kill_node(await choose(nats_cluster, writer, victim))
        before = len(acknowledged)
        while len(acknowledged) < before + 300:
            await asyncio.sleep(0.05)
            assert not any(task.done() for task in tasks), [t.exception() for t in tasks]
        stop.set()
        await asyncio.gather(*tasks)
        tip = writer.tip.sequence_no
    assert sorted(acknowledged) == list(range(1, tip + 1)), "an acknowledged block is missing"
    async with opened(tmp_path / "reader", nats_cluster) as reader:  # two servers left
        assert reader.tip.sequence_no == tip
    with Journal.open(tmp_path / "writer", read_only=True) as copy:
        assert copy.digest() == Journal.open(tmp_path / "reader", read_only=True).digest()


async def choose(cluster: NatsCluster, writer: ReplicatedJournal, victim: str) -> str:
    """The stream's leader; or a plain replica: neither the stream's leader nor the meta
    leader (whose loss delays creating consumers), the writer's own server if it can."""
    connection = await nats.connect(cluster.urls)
    try:
        leader = (await connection.jetstream().stream_info(STREAM)).cluster.leader
    finally:
        await connection.close()
    if victim == "leader":
        return leader
    own = writer._connection.connected_url.netloc
    replicas = [n for n in cluster.nodes if n.name not in (leader, cluster.meta_leader())]
    return next((n for n in replicas if n.url.endswith(own)), replicas[0]).name


# A writer in its own process, killed -9 in the middle of its appends.
WRITER = """
import asyncio, sys
from ledgerdb.block import Payload
from ledgerdb.replicated import ReplicatedJournal

async def main():
    path, name, *servers = sys.argv[1:]
    journal = await ReplicatedJournal.open(path, servers=servers, name=name)
    async def append(task):
        for number in range(100_000):
            address = await journal.append([Payload(b"%d-%d" % (task, number) * 20)])
            print(address.sequence_no, flush=True)
    await asyncio.gather(*(append(task) for task in range(4)))

asyncio.run(main())
"""


async def test_a_killed_writer_restarts_from_its_copy_and_the_stream(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(tmp_path / "w"), NAME, *nats_cluster.urls],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    acknowledged = []
    try:
        assert process.stdout is not None
        while len(acknowledged) < 300:
            line = await asyncio.to_thread(process.stdout.readline)
            assert line, "the writer process stopped"
            acknowledged.append(int(line))
    finally:
        process.kill()
        process.wait(timeout=10)
    async with opened(tmp_path / "w", nats_cluster) as writer:
        assert writer.tip.sequence_no >= max(acknowledged)  # nothing acknowledged lost
        address = await writer.append([Payload(b"after the restart")])
        assert address.sequence_no == writer.tip.sequence_no
        async with opened(tmp_path / "fresh", nats_cluster) as fresh:
            await digests_match(writer, fresh)
    assert audit(tmp_path / "w").ok


async def publish_raw(cluster: NatsCluster, data: bytes, headers: dict | None = None) -> None:
    connection = await nats.connect(cluster.urls)
    try:
        await connection.jetstream().publish(layout(NAME).subject, data, headers=headers)
    finally:
        await connection.close()


async def test_foreign_data_in_the_stream_is_refused_naming_the_block(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        for number in range(3):
            await writer.append([Payload(b"block %d" % number)])
        digest = await writer.digest()
    await publish_raw(nats_cluster, b"not a block at all")
    with pytest.raises(ReplicaMismatch, match=f"stream {STREAM}, block 3: message 4 is not a"):
        await ReplicatedJournal.open(tmp_path / "reader", servers=nats_cluster.urls, name=NAME)
    with Journal.open(tmp_path / "reader", read_only=True) as copy:
        assert copy.digest() == digest  # blocks 0..2 taken, nothing for the foreign message


async def test_a_block_that_does_not_continue_the_chain_is_refused(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        await writer.append([Payload(b"block 0")])
        await writer.append([Payload(b"block 1")])
        digest = await writer.digest()
    stray = ChainHead(layout(NAME).strand_id, 2, b"\x07" * 32)  # sealed on some other block 1
    data, _ = message(stray.seal(prepare([Payload(b"a forged block 2")]), 0))
    await publish_raw(nats_cluster, data)
    with pytest.raises(ReplicaMismatch, match="block 2: the stream's block does not continue"):
        await ReplicatedJournal.open(tmp_path / "reader", servers=nats_cluster.urls, name=NAME)
    with Journal.open(tmp_path / "reader", read_only=True) as copy:
        assert copy.digest() == digest  # the blocks fetched with it were good, and kept


async def test_a_local_copy_that_disagrees_with_the_stream_is_refused_naming_the_block(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        for number in range(6):
            await writer.append([Payload(b"block %d" % number)])
        blocks = await writer.read_range(0, 6)
    strand = layout(NAME).strand_id
    with Journal.open(tmp_path / "forked", strand_id=strand) as forked:
        forked.submit(blocks[:2]).result()
        forked.append([Payload(b"another block 2")])  # the same chain up to 1, then not
        forked.append([Payload(b"another block 3")])
        forked_digest = forked.digest()
    with pytest.raises(ReplicaMismatch, match=f"stream {STREAM}, block 2: the local copy"):
        await ReplicatedJournal.open(tmp_path / "forked", servers=nats_cluster.urls, name=NAME)
    with Journal.open(tmp_path / "longer", strand_id=strand) as longer:
        longer.submit(blocks).result()
        longer.append([Payload(b"block 6, never in the stream")])
    longer_than_the_stream = r"block 6: the local copy .* holds 7 blocks but the stream only 6"
    with pytest.raises(ReplicaMismatch, match=longer_than_the_stream):
        await ReplicatedJournal.open(tmp_path / "longer", servers=nats_cluster.urls, name=NAME)
    with Journal.open(tmp_path / "forked", read_only=True) as forked:
        assert forked.digest() == forked_digest  # nothing rewritten locally ...
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        assert writer.tip.sequence_no == 5  # ... nor in the stream


async def test_a_block_too_large_for_one_message_is_refused_before_it_is_sent(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        await writer.append([Payload(b"block 0")])
        with pytest.raises(InvalidInput, match=f"does not fit in one message of stream {STREAM}"):
            await writer.append([Payload(bytes(nats_cluster.max_payload))])
        assert (await writer.append([Payload(b"block 1")])).sequence_no == 1


async def test_a_stream_not_laid_out_as_a_journal_is_refused(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    connection = await nats.connect(nats_cluster.urls)
    try:
        await connection.jetstream().add_stream(
            StreamConfig(name=STREAM, subjects=["somebody.else"], num_replicas=3)
        )
    finally:
        await connection.close()
    with pytest.raises(LedgerUnavailable, match=f"stream {STREAM} exists but is not laid out"):
        await ReplicatedJournal.open(tmp_path / "copy", servers=nats_cluster.urls, name=NAME)


async def test_appends_go_on_when_the_stream_forgot_its_last_message_id(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """A leader restored from a snapshot does not know the last message's id, so the chain
    condition fails on a free position; the writer checks the link itself and goes on."""
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        first = await writer.append([Payload(b"block 0")])
        head = writer.journal.head()
        data, headers = message(head.seal(prepare([Payload(b"block 1, no message id")]), 0))
        del headers["Nats-Msg-Id"]  # the stream's last message id is now empty
        await publish_raw(nats_cluster, data, headers)
        with pytest.raises(JournalConflict, match="block 1 was taken"):
            await writer.append([Payload(b"sealed on block 0")])
        # caught up; block 2 goes unlinked, then block 3 (same batch) linked again
        third, fourth = await writer.append_many(
            [([Payload(b"block 2")], None, None), ([Payload(b"block 3")], None, None)]
        )
        assert (first.sequence_no, third.sequence_no, fourth.sequence_no) == (0, 2, 3)
        fifth = await writer.append([Payload(b"block 4")])
        assert fifth.sequence_no == 4
    async with opened(tmp_path / "reader", nats_cluster) as reader:
        assert reader.tip.sequence_no == 4
    assert audit(tmp_path / "reader").ok


async def roll_back(cluster: NatsCluster, keep: int, then: bytes | None = None) -> None:
    await roll_back_stream(cluster.urls, STREAM, keep, then)


async def stream_blocks(cluster: NatsCluster) -> int:
    connection = await nats.connect(cluster.urls)
    try:
        return (await connection.jetstream().stream_info(STREAM)).state.last_seq
    finally:
        await connection.close()


async def test_acknowledged_blocks_a_stream_lost_are_put_back_from_the_copies(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """The stream falls back from 10 blocks to 4: a following reader notices and puts
    blocks 4..9 back from its verified copy; the writer's next append lands at 10; the
    stream's blocks are the ones acknowledged before, byte for byte."""
    async with (
        opened(tmp_path / "writer", nats_cluster) as writer,
        opened(tmp_path / "reader", nats_cluster, follow=True) as reader,
    ):
        for number in range(10):
            await writer.append([Payload(b"block %d" % number)])
        await reader.wait_for(9, 20)
        acknowledged = await reader.digest()
        await roll_back(nats_cluster, 4)
        deadline = asyncio.get_running_loop().time() + 20
        while await stream_blocks(nats_cluster) < 10:  # the reader alone restores it
            assert asyncio.get_running_loop().time() < deadline, "the stream was not restored"
            await asyncio.sleep(0.1)
        assert reader.restored >= 1
        assert (await writer.append([Payload(b"block 10")])).sequence_no == 10
        await reader.wait_for(10, 20)
        await digests_match(writer, reader)
        assert (await writer.digest(9)) == acknowledged
    async with opened(tmp_path / "fresh", nats_cluster) as fresh:  # from the stream alone
        assert fresh.tip.sequence_no == 10
        assert (await fresh.digest(9)) == acknowledged
    assert audit(tmp_path / "fresh").ok


async def test_a_writer_puts_back_lost_blocks_before_its_append(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """No reader follows: the writer's own append finds the position behind the stream's
    tip, restores blocks 3..5, then lands at 6."""
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        for number in range(6):
            await writer.append([Payload(b"block %d" % number)])
        await roll_back(nats_cluster, 3)
        assert (await writer.append([Payload(b"block 6")])).sequence_no == 6
        assert writer.restored == 3
    assert await stream_blocks(nats_cluster) == 7


async def test_a_stream_that_fell_back_again_between_two_questions_is_restored(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """The stream answers 5 blocks, then falls back to 2 before its block 4 is asked (a
    leader elected between the two questions, as in `make chaos`): block 4 not found is
    no fork; the writer asks again and puts back blocks 2..7 instead of stopping."""
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        for number in range(8):
            await writer.append([Payload(b"block %d" % number)])
        await roll_back(nats_cluster, 5)
        reader = writer._reader
        answer = reader.last_sequence
        calls, falls = [], [2]

        async def then_falls_back() -> tuple[int, int]:
            """The count, then (the second time: the restore's own question, after the
            append's) the stream falls back before the caller asks for the block."""
            answered = await answer()
            calls.append(answered)
            if len(calls) == 2:
                await roll_back(nats_cluster, falls.pop())
            return answered

        reader.last_sequence = then_falls_back
        assert (await writer.append([Payload(b"block 8")])).sequence_no == 8
        assert not falls and writer.restored == 6
    assert await stream_blocks(nats_cluster) == 9


async def test_a_stream_that_fell_back_and_forked_is_not_restored(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """After the fall back, another block took position 3: the copy cannot be put back
    on it; the journal stops naming the block, and the stream keeps what it holds."""
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        for number in range(6):
            await writer.append([Payload(b"block %d" % number)])
        block_2 = await writer.read(2)
        other = ChainHead(layout(NAME).strand_id, 3, block_2.block_hash)
        data, _ = message(other.seal(prepare([Payload(b"another block 3")]), 0))
        await roll_back(nats_cluster, 3, then=data)
        with pytest.raises(ReplicaMismatch, match=f"stream {STREAM}, block 3"):
            await writer.append([Payload(b"block 6")])
    assert await stream_blocks(nats_cluster) == 4


async def test_an_append_meant_for_a_position_the_copy_moved_past_is_refused_unsent(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """A writer numbering its own blocks (an orderer's block n must be block n) names the
    position: when its copy took other blocks meanwhile, the append is refused before it
    is sent, instead of landing further on with the wrong number inside."""
    async with (
        opened(tmp_path / "other", nats_cluster) as other,
        opened(tmp_path / "writer", nats_cluster, follow=True) as writer,
    ):
        await other.append_many([([Payload(b"block %d" % n)], None, None) for n in range(3)])
        await writer.wait_for(2, 20)
        with pytest.raises(JournalConflict, match=r"meant for block 1, but the next block .* 3"):
            await writer.append_at(1, [([Payload(b"my block 1")], None, None)])
        assert await stream_blocks(nats_cluster) == 3
        (landed,) = await writer.append_at(3, [([Payload(b"block 3")], None, None)])
        assert landed.sequence_no == 3
        with pytest.raises(InvalidInput, match="at: a position"):
            await writer.append_at(-1, [([Payload(b"x")], None, None)])


async def test_a_copy_whose_stream_fell_back_while_it_was_down_puts_the_blocks_back(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """The writer is killed (no close: its process is gone) with the stream at 8 blocks,
    or in the middle of putting lost blocks back; the stream meanwhile holds 3. Opened
    again, its copy (marked as this stream's) is longer than the stream and agrees with
    its last block: the open puts blocks 3..7 back instead of refusing, and a fresh
    reader gets the very blocks acknowledged before."""
    journal = await ReplicatedJournal.open(
        tmp_path / "writer", servers=nats_cluster.urls, name=NAME
    )
    for number in range(8):
        await journal.append([Payload(b"block %d" % number)])
    acknowledged = await journal.digest()
    await journal.close()
    await roll_back(nats_cluster, 3)
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        assert writer.restored == 5
        assert await stream_blocks(nats_cluster) == 8
        assert (await writer.append([Payload(b"block 8")])).sequence_no == 8
    async with opened(tmp_path / "fresh", nats_cluster) as fresh:
        assert await fresh.digest(7) == acknowledged
    assert audit(tmp_path / "fresh").ok


async def test_a_duplicate_answer_naming_no_position_is_not_taken_for_a_stored_block(
    nats_cluster: NatsCluster, tmp_path: Path
) -> None:
    """nats-server 2.10 stages a message id at sequence 0 until the message is applied, and
    a send lost in an election can leave it staged: a new send of that block is answered
    "duplicate, sequence 0" (seen in `make chaos`, where it stopped every orderer). The
    answer is injected here for the first send of block 3; the writer asks the stream,
    finds the position free, and sends the block again without its message id."""
    async with opened(tmp_path / "writer", nats_cluster) as writer:
        for number in range(3):
            await writer.append([Payload(b"block %d" % number)])
        publisher = writer._publisher
        send = publisher.publish
        answered: list[int] = []

        async def staged_once(messages, timeout):
            if not answered:
                answered.append(len(messages))
                return [Stored(0, duplicate=True)] * len(messages)
            return await send(messages, timeout)

        publisher.publish = staged_once
        assert (await writer.append([Payload(b"block 3")])).sequence_no == 3
        assert (await writer.append([Payload(b"block 4")])).sequence_no == 4
        assert answered == [1]
    assert await stream_blocks(nats_cluster) == 5
    connection = await nats.connect(nats_cluster.urls)
    try:
        resent = await connection.jetstream().get_msg(STREAM, 4)
        assert "Nats-Msg-Id" not in (resent.headers or {})
    finally:
        await connection.close()
    async with opened(tmp_path / "reader", nats_cluster) as reader:
        assert reader.tip.sequence_no == 4
    assert audit(tmp_path / "reader").ok
