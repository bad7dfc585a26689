"""An ordering cluster's streams in a snapshot: what ``snapshot create`` records, and how
``up`` re-seeds a restored network's empty JetStream from it.

On a network with several orderers on NATS (``ordering.cluster``) a channel's truth is in
two JetStream streams: the block journal (``LEDGERDB_ordering-<channel>``) and the
ingress (``ORDERING_INGRESS_<channel>``). A snapshot does not copy the NATS servers'
stores: their Raft state (servers, terms, positions) cannot be copied consistently while
they run, and would name another cluster after a restore into a new folder. Instead:

- **create**: every orderer's verified local copy of the journal is copied up to the
  snapshot's height like every journal (its digest checked against the source's); the
  copies of the orderers that reached that height must have one digest. The ingress
  position the newest copied block records (the stream sequence of its last envelope)
  is noted. Both go into ``ordering/reseed.json`` inside the snapshot.
- **restore** puts that file into the network folder, and no NATS store: JetStream
  starts empty.
- **up**, once NATS is ready and before any orderer starts, re-seeds: the journal stream
  gets the copy's blocks republished exactly as they were sealed, with the journal's
  conditional headers (``ledgerdb.jetstream.message``), so it holds the same blocks,
  hashes and chain and every orderer's local copy is a prefix of it; the ingress stream
  is made to begin right after the recorded position, so the cutter, which continues
  from the position in the newest block, cuts the next envelope admitted. The file is
  removed once both are done; an ``up`` interrupted half-way re-seeds from where the
  streams stand. Envelopes admitted but not in a copied block are not in the snapshot,
  as with a single orderer's inbox.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import nats.js.errors
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import StreamInfo

from ledgerdb.jetstream import (
    Publisher,
    Stored,
    StreamReader,
    connect,
    ensure_stream,
    layout,
    message,
    until_available,
)
from ledgerdb.journal import Journal
from network.errors import SnapshotError
from ordering.chain import NOTHING, Position, decode_position, fabric_block
from ordering.cluster import journal_name
from ordering.ingress import Ingress

RESEED = Path("ordering") / "reseed.json"
SEED_SECONDS = 30.0
"""How long re-seeding waits for JetStream (a cluster just started elects its leaders)."""
BATCH_BLOCKS = 256
BATCH_BYTES = 8 * 1024 * 1024


def ordered_position(blocks: Path, height: int) -> Position:
    """The ordering position (inbox or ingress) the newest of the first ``height`` blocks
    records, walking back past blocks that record none, such as the genesis block."""
    with Journal.open(blocks, create=False, read_only=True) as reader:
        for number in range(height - 1, -1, -1):
            position = decode_position(fabric_block(reader.read(number).entries[0].body))
            if position != NOTHING:
                return position
    return NOTHING


def _orderer_copies(journals: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Channel → the orderers' block journals among the copied ones (relative paths)."""
    found: dict[str, list[str]] = {}
    for relative in sorted(journals):
        parts = Path(relative).parts
        if (
            len(parts) >= 4
            and parts[0] == "ordering"
            and parts[-3] == "channels"
            and (parts[-1] == "blocks")
        ):
            found.setdefault(parts[-2], []).append(relative)
    return found


def record(
    network: Path, journals: dict[str, dict[str, Any]], heights: dict[str, int]
) -> dict[str, Any]:
    """Check that the orderers' copies of each channel agree, note where each stream must
    start again, and write it into the snapshot's ``ordering/reseed.json``."""
    seeds: dict[str, Any] = {}
    for channel, copies in _orderer_copies(journals).items():
        height = heights.get(channel, max(journals[c]["blocks"] for c in copies))
        full = [c for c in copies if journals[c]["blocks"] == height]
        if not full:
            raise SnapshotError(f"channel {channel}: no orderer's copy reached height {height}")
        digests = {journals[c]["digest"] for c in full}
        if len(digests) != 1:
            raise SnapshotError(
                f"channel {channel}: the orderers' copies differ at height {height} "
                f"({', '.join(full)}); not taking a snapshot of a forked journal"
            )
        position = ordered_position(network / full[0], height)
        seeds[channel] = {
            "journal": journal_name(channel),
            "copy": full[0],
            "blocks": height,
            "digest": digests.pop(),
            "ingress_next": max(position[0], 0) + 1,
        }
    path = network / RESEED
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(seeds, indent=2))
    return seeds


def reseed(root: Path, servers: list[str], replicas: int) -> list[str]:
    """Re-seed the streams of a network restored from a snapshot (nothing to do without
    ``ordering/reseed.json``); returns one line per channel saying what was done."""
    path = root / RESEED
    if not path.is_file():
        return []
    seeds = json.loads(path.read_text())
    done = asyncio.run(_reseed(root, seeds, servers, replicas))
    path.unlink()
    return done


async def _reseed(
    root: Path, seeds: dict[str, Any], servers: list[str], replicas: int
) -> list[str]:
    connection = await connect(servers, SEED_SECONDS)
    try:
        js = connection.jetstream(timeout=5.0)
        said = []
        for channel, seed in sorted(seeds.items()):
            sent = await _seed_journal(connection, js, root / seed["copy"], seed, replicas)
            first = seed["ingress_next"]
            await until_available(
                lambda c=channel, f=first: _seed_ingress(js, c, f, replicas),
                f"the ingress of channel {channel}",
                SEED_SECONDS,
            )
            said.append(
                f"channel {channel}: {sent} of {seed['blocks']} blocks republished, "
                f"ingress continues at {first}"
            )
        return said
    finally:
        await connection.close()


async def _seed_journal(
    connection: NATS, js: JetStreamContext, copy: Path, seed: dict[str, Any], replicas: int
) -> int:
    """Republish the copy's first ``seed['blocks']`` blocks to the journal stream, from
    where the stream stands (a stream ahead of the snapshot, or holding another block,
    is refused: it is not this network's restored one). Returns the blocks sent."""
    where = layout(seed["journal"])
    info = await ensure_stream(js, where, replicas, SEED_SECONDS)
    held, total = info.state.last_seq, int(seed["blocks"])
    with Journal.open(copy, create=False, read_only=True) as journal:
        if total and journal.digest(total - 1).digest.hex() != seed["digest"]:
            raise SnapshotError(f"{copy}: the snapshot's copy does not have its recorded digest")
        if held > total or (
            held and await StreamReader(js, where).message_at(held) != _data(journal, held - 1)
        ):
            raise SnapshotError(
                f"stream {where.stream} holds other blocks than the snapshot ({held} of "
                f"{total}); restore into a network whose NATS servers start empty"
            )
        publisher = Publisher(connection, where.subject)
        await publisher.start()
        start = held
        while start < total:
            batch: list[tuple[bytes, dict[str, str]]] = []
            size = 0
            for block in journal.read_range(start, min(start + BATCH_BLOCKS, total)):
                batch.append(message(block))
                size += len(batch[-1][0])
                if size >= BATCH_BYTES:
                    break
            outcomes = await publisher.publish(batch, SEED_SECONDS)
            for offset, outcome in enumerate(outcomes):
                number = start + offset
                if not isinstance(outcome, Stored) or outcome.sequence != number + 1:
                    raise SnapshotError(
                        f"stream {where.stream}: block {number} was not stored as message "
                        f"{number + 1} ({outcome})"
                    )
            start += len(batch)
    return total - held


def _data(journal: Journal, number: int) -> bytes:
    return message(journal.read(number))[0]


async def _seed_ingress(js: JetStreamContext, channel: str, first: int, replicas: int) -> None:
    """The channel's ingress stream, made so its next envelope gets position ``first``:
    made allowing purges, purged up to ``first`` (JetStream then numbers on from there),
    then closed to purges like every ingress. An empty stream at another position (a
    re-seed interrupted, then run from another snapshot) is made again."""
    ingress = Ingress(js, channel, replicas)
    config = ingress.stream_config()
    info: StreamInfo | None
    try:
        info = await js.stream_info(ingress.stream)
    except nats.js.errors.NotFoundError:
        info = None
    if info is not None and info.state.last_seq + 1 < first:
        if info.state.messages:
            raise SnapshotError(
                f"stream {ingress.stream} holds envelopes before position {first} that are "
                "in no block of the snapshot; restore into a network whose NATS servers "
                "start empty"
            )
        await js.delete_stream(ingress.stream)
        info = None
    if info is None:
        config.deny_purge = False
        await js.add_stream(config)
        if first > 1:
            await js.purge_stream(ingress.stream, seq=first)
        config.deny_purge = True
        await js.update_stream(config)
    elif not info.config.deny_purge:
        await js.update_stream(config)
