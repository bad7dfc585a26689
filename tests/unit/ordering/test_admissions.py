"""What an ordering node keeps of the envelopes it admitted, and when it admits one
again: the bookkeeping of ``ordering.admissions`` against a stand-in for the ingress
stream (the real stream's fall back is in tests/integration/test_ordering_cluster.py)."""

from __future__ import annotations

import time
from pathlib import Path

from fabric_protos.common import common_pb2

from ordering.admission_log import (
    FILE_NAME,
    REWRITE_AFTER,
    AdmissionLog,
    AdmissionRecord,
    decode_records,
    encode_record,
)
from ordering.admissions import OVERTAKEN_SECONDS, Admissions
from ordering.chain import encode_position
from proto.messages import build_block


class StandInIngress:
    """Positions → envelopes, as a stream holds them; ``admit_again`` appends."""

    channel_id = "mychannel"

    def __init__(self) -> None:
        self.held: dict[int, bytes] = {}
        self.again: list[tuple[bytes, int]] = []  # (envelope, the position it was at)

    def admit(self, envelope: bytes) -> int:
        position = max(self.held, default=0) + 1
        self.held[position] = envelope
        return position

    async def holds(self, position: int, envelope: bytes) -> bool:
        return self.held.get(position) == envelope

    async def admit_again(self, envelope: bytes, is_config_update: bool, was_at: int) -> int:
        self.again.append((envelope, was_at))
        return self.admit(envelope)


async def never_cut(position: int, envelope: bytes, config_update: bool) -> bool:
    return False


async def admitted(admissions: Admissions, ingress: StandInIngress, envelope: bytes) -> int:
    admissions.keep(envelope, False)
    position = ingress.admit(envelope)
    await admissions.placed(envelope, position)
    return position


def block_of(envelopes: list[bytes], position: int) -> common_pb2.Block:
    """A block recording ``position`` as its last envelope's, as a cutter signs it."""
    block = build_block(1, b"\0" * 32, envelopes)
    orderer = common_pb2.OrdererBlockMetadata(consenter_metadata=encode_position((position, 0)))
    metadata = common_pb2.Metadata(value=orderer.SerializeToString())
    block.metadata.metadata[common_pb2.SIGNATURES] = metadata.SerializeToString()
    return block


async def test_a_block_holding_an_envelope_forgets_it() -> None:
    ingress = StandInIngress()
    admissions = Admissions(ingress, grace=0.0)  # type: ignore[arg-type]
    position = await admitted(admissions, ingress, b"one")
    await admitted(admissions, ingress, b"two")
    admissions.ordered(block_of([b"one"], position), is_config=False)
    assert len(admissions) == 1


async def test_an_envelope_the_stream_lost_is_admitted_again_once() -> None:
    ingress = StandInIngress()
    admissions = Admissions(ingress, grace=0.0)  # type: ignore[arg-type]
    kept = await admitted(admissions, ingress, b"kept")
    lost = await admitted(admissions, ingress, b"lost")
    del ingress.held[lost]  # the stream fell back to before it
    ingress.admit(b"someone else's")  # and gave its position to another envelope
    assert admissions.overdue()
    assert await admissions.admit_lost(never_cut) == 1
    assert list(ingress.held.values()).count(b"lost") == 1
    # still held where the blocks have not reached: kept, not admitted again
    assert await admissions.admit_lost(never_cut) == 0
    assert len(admissions) == 2
    # once the blocks pass its position, one the block of that position holds is ordered
    # (here no block reached ``ordered`` with it: a node restarted since, say)
    admissions.ordered(block_of([b"lost"], max(ingress.held)), is_config=False)

    async def cut(at: int, envelope: bytes, config_update: bool) -> bool:
        return (at, envelope) == (kept, b"kept")

    assert await admissions.admit_lost(cut) == 0
    assert len(admissions) == 0


async def test_one_the_blocks_passed_over_is_admitted_again_under_the_mends_mark(
    tmp_path: Path,
) -> None:
    """Held where the blocks have passed, but the block of its position does not hold it:
    it took a lost position, and the mend that should admit it again may have died with
    its cutter. Admitted again, marked with its old position as the mend marks it (so
    JetStream keeps one), while that is inside the duplicate window; later, forgotten."""
    ingress = StandInIngress()
    admissions = Admissions(ingress, grace=0.0)  # type: ignore[arg-type]
    position = await admitted(admissions, ingress, b"overtaken")
    admissions.covered(block_of([b"a filler's block"], position + 5))
    assert await admissions.admit_lost(never_cut) == 1
    assert ingress.again == [(b"overtaken", position)]
    late = AdmissionRecord(b"too late", 3, False, time.time() - OVERTAKEN_SECONDS - 1)
    (tmp_path / FILE_NAME).write_bytes(encode_record(late))
    ingress.held[3] = b"too late"
    restarted = Admissions(ingress, grace=0.0, directory=tmp_path)  # type: ignore[arg-type]
    restarted.covered(block_of([b"a filler's block"], 10))
    assert await restarted.admit_lost(never_cut) == 0
    assert len(restarted) == 0 and ingress.again == [(b"overtaken", position)]


class CountingIngress(StandInIngress):
    """Counts the stream reads ``admit_lost`` makes (each is a request to the stream's
    leader on a real cluster)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def holds(self, position: int, envelope: bytes) -> bool:
        self.reads += 1
        return await super().holds(position, envelope)


async def test_a_backlog_not_read_yet_costs_one_stream_read_and_a_lost_tail_one_each() -> None:
    """A stream that falls back loses a suffix: once it holds the newest kept envelope
    at its position, the older ones waiting to be read are not asked about one by one.
    The lost tail's envelopes (their positions now someone else's) are each found and
    admitted again; below them, one read again vouches for the rest."""
    ingress = CountingIngress()
    admissions = Admissions(ingress, grace=0.0)  # type: ignore[arg-type]
    for number in range(100):
        await admitted(admissions, ingress, b"envelope %d" % number)
    assert await admissions.admit_lost(never_cut) == 0
    assert ingress.reads == 1 and len(admissions) == 100
    for position in range(91, 101):  # the stream fell back to 90, then others came
        ingress.held[position] = b"someone else's %d" % position
    ingress.reads = 0
    assert await admissions.admit_lost(never_cut) == 10
    assert ingress.reads == 11
    assert sorted(was_at for _, was_at in ingress.again) == list(range(91, 101))
    assert len(admissions) == 100


async def test_nothing_is_admitted_again_within_the_grace_time_or_unacknowledged() -> None:
    ingress = StandInIngress()
    admissions = Admissions(ingress, grace=60.0)  # type: ignore[arg-type]
    position = await admitted(admissions, ingress, b"young")
    del ingress.held[position]
    admissions.keep(b"in flight", False)  # no acknowledgement yet
    assert not admissions.overdue()
    assert await admissions.admit_lost(never_cut) == 0
    admissions.refused(b"in flight")
    assert len(admissions) == 1


async def test_one_the_block_of_its_position_holds_is_forgotten_not_admitted() -> None:
    ingress = StandInIngress()
    admissions = Admissions(ingress, grace=0.0)  # type: ignore[arg-type]
    position = await admitted(admissions, ingress, b"cut")
    del ingress.held[position]

    async def cut(at: int, envelope: bytes, config_update: bool) -> bool:
        return at == position and envelope == b"cut"

    assert await admissions.admit_lost(cut) == 0
    assert len(admissions) == 0 and not ingress.held


async def test_what_a_killed_node_acknowledged_is_checked_again_after_its_restart(
    tmp_path: Path,
) -> None:
    """The acknowledged envelopes are on disk before SUCCESS: a new ``Admissions`` on the
    same folder (the restarted node) keeps them, at their latest position, and admits a
    lost one again; one a block holds is forgotten."""
    ingress = StandInIngress()
    first = Admissions(ingress, grace=0.0, directory=tmp_path)  # type: ignore[arg-type]
    kept = await admitted(first, ingress, b"kept")
    lost = await admitted(first, ingress, b"lost")
    first.keep(b"in flight", False)  # never acknowledged: not on disk
    # killed here (no close): the next run reads what the first one made durable
    del ingress.held[lost]
    again = Admissions(ingress, grace=0.0, directory=tmp_path)  # type: ignore[arg-type]
    assert sorted(record.envelope for record in again.records()) == [b"kept", b"lost"]
    assert await again.admit_lost(never_cut) == 1
    assert list(ingress.held.values()).count(b"lost") == 1
    new_position = max(ingress.held)
    third = Admissions(ingress, grace=0.0, directory=tmp_path)  # type: ignore[arg-type]
    positions = {record.envelope: record.position for record in third.records()}
    assert positions == {b"kept": kept, b"lost": new_position}
    third.ordered(block_of([b"kept", b"lost"], new_position), is_config=False)
    assert len(third) == 0
    await first.log.close()
    await again.log.close()


def test_a_torn_last_write_is_cut_off(tmp_path: Path) -> None:
    records = [AdmissionRecord(b"one", 1, False, 1.0), AdmissionRecord(b"two", 2, True, 2.0)]
    whole = b"".join(encode_record(record) for record in records)
    (tmp_path / FILE_NAME).write_bytes(whole + encode_record(records[0])[:-3])
    assert AdmissionLog(tmp_path, list).read() == records
    assert (tmp_path / FILE_NAME).read_bytes() == whole
    assert decode_records(whole[:-1]) == (records[:1], len(encode_record(records[0])))


async def test_the_log_is_rewritten_with_the_live_records_only(tmp_path: Path) -> None:
    ingress = StandInIngress()
    admissions = Admissions(ingress, grace=0.0, directory=tmp_path)  # type: ignore[arg-type]
    for number in range(REWRITE_AFTER + 10):
        envelope = b"envelope %d" % number
        position = await admitted(admissions, ingress, envelope)
        admissions.ordered(block_of([envelope], position), is_config=False)
    await admitted(admissions, ingress, b"still kept")
    assert admissions.log is not None
    await admissions.log.close()
    on_disk = AdmissionLog(tmp_path, list).read()
    assert len(on_disk) < 20
    assert on_disk[-1].envelope == b"still kept"
