"""A peer's own snapshots, the way Fabric's ``peer snapshot submitrequest | cancelrequest
| listpending`` asks for them: at a block number, written when that block commits.

Requests are kept per channel in ``snapshots/requests/<channel>.json`` (they survive a
restart, as Fabric's bookkeeper does), with Fabric's rules and error texts: block 0 means
the last committed block, a block below it is refused, a duplicate is refused, and only
an admin of the peer's own organization may ask. A snapshot is written to
``snapshots/completed/<channel>/<block>/``: the world state's public keys, private data
hashes and committed txids at that block (one ``<key hex> <value hex>`` line each: our
format, since the files are read only by us) and the channel's config block in force
there (what a peer joining from the snapshot needs: ``peers.snapshot_join``), with
Fabric's two metadata files naming
the channel, the block, its hash and every file's SHA-256. Commits pause while it is
written, as Fabric's do.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.peer import snapshot_pb2, snapshot_pb2_grpc
from google.protobuf import empty_pb2
from google.protobuf.message import DecodeError

from ca.errors import CaError
from ca.msp import Msp
from peers.committer import CommittedBlock
from peers.errors import PeerError
from peers.ledger import Ledger
from peers.snapshot_join import (
    ADDITIONAL_METADATA,
    APPROVALS,
    BOOTSTRAP,
    CONFIG_BLOCK,
    SIGNABLE_METADATA,
    STATE_DB_TYPE,
)
from proto.blockhash import block_header_hash
from proto.blocksign import last_config_index

log = logging.getLogger(__name__)


class SnapshotRefused(PeerError):
    """A snapshot request Fabric's peer would refuse; the message is Fabric's."""


class SnapshotRequests:
    """The pending snapshot requests of one channel."""

    def __init__(self, folder: Path, channel: str) -> None:
        self.path = folder / "requests" / f"{channel}.json"
        self.blocks: list[int] = json.loads(self.path.read_text()) if self.path.exists() else []

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        temp.write_text(json.dumps(sorted(self.blocks)))
        temp.replace(self.path)

    def add(self, block: int, last_committed: int, exists: bool) -> int:
        """Record a request; returns the block it is for (0: the last committed one)."""
        block = block or last_committed
        if block < last_committed:
            raise SnapshotRefused(
                f"requested snapshot for block number {block} cannot be less than the last "
                f"committed block number {last_committed}"
            )
        if block == last_committed and exists:
            raise SnapshotRefused(f"snapshot already generated for block number {block}")
        if block in self.blocks:
            raise SnapshotRefused(f"duplicate snapshot request for block number {block}")
        self.blocks.append(block)
        self._save()
        return block

    def cancel(self, block: int) -> None:
        if block not in self.blocks:
            raise SnapshotRefused(f"no snapshot request exists for block number {block}")
        self.blocks.remove(block)
        self._save()


class Snapshots:
    """Every channel's requests on one peer, and the writing of each snapshot."""

    def __init__(
        self,
        folder: Path,
        ledger: Callable[[str], Ledger | None],
        mspid: str = "",
        approvals: Callable[[str], list[tuple[str, int, str]]] = lambda _: [],
    ) -> None:
        self.folder = folder
        self._ledger = ledger
        self.mspid = mspid
        self._approvals = approvals
        self._requests: dict[str, SnapshotRequests] = {}

    def ledger(self, channel: str) -> Ledger:
        found = self._ledger(channel)
        if found is None:
            raise SnapshotRefused(f"cannot find ledger for channel {channel}")
        return found

    def requests(self, channel: str) -> SnapshotRequests:
        self.ledger(channel)
        if channel not in self._requests:
            self._requests[channel] = SnapshotRequests(self.folder, channel)
        return self._requests[channel]

    def completed(self, channel: str, block: int) -> Path:
        return self.folder / "completed" / channel / str(block)

    def submit(self, channel: str, block: int) -> None:
        requests = self.requests(channel)
        last = self.ledger(channel).height - 1
        wanted = requests.add(block, last, self.completed(channel, block or last).exists())
        if wanted == last:  # nothing more to wait for
            self.write(channel)

    def committed(self, channel: str, committed: CommittedBlock) -> None:
        """The commit listener: a block someone asked a snapshot of is written now."""
        number = committed.block.header.number
        if number in self.requests(channel).blocks:
            self.write(channel)

    def write(self, channel: str) -> Path:
        """The snapshot at the channel's last committed block, written to a temporary
        folder and renamed into place; the request is then settled."""
        ledger = self.ledger(channel)
        block = ledger.read_block(ledger.height - 1)
        number = block.header.number
        target = self.completed(channel, number)
        temp = self.folder / "temp" / f"{channel}-{number}"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        hashes = ledger.state.export(temp)
        hashes[CONFIG_BLOCK] = _write_config_block(ledger, block, temp / CONFIG_BLOCK)
        approvals = {"mspid": self.mspid, "approvals": self._approvals(channel)}
        (temp / APPROVALS).write_text(json.dumps(approvals, indent=2))
        hashes[APPROVALS] = hashlib.sha256((temp / APPROVALS).read_bytes()).hexdigest()
        signable = {
            "channel_name": channel,
            "last_block_number": number,
            "last_block_hash": block_header_hash(block.header).hex(),
            "previous_block_hash": block.header.previous_hash.hex(),
            "snapshot_files_raw_hashes": hashes,
            "state_db_type": STATE_DB_TYPE,
        }
        text = json.dumps(signable, indent=4).encode()
        (temp / SIGNABLE_METADATA).write_bytes(text)
        additional = {
            "snapshot_hash": hashlib.sha256(text).hexdigest(),
            "last_block_commit_hash": ledger.commit_hash.hex(),
        }
        (temp / ADDITIONAL_METADATA).write_text(json.dumps(additional, indent=4))
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        temp.rename(target)
        requests = self.requests(channel)
        if number in requests.blocks:
            requests.cancel(number)
        log.info("generated snapshot of channel %s at block %d in %s", channel, number, target)
        return target


def _write_config_block(ledger: Ledger, last: common_pb2.Block, path: Path) -> str:
    """The config block in force at ``last`` (a peer joining from the snapshot needs the
    channel's config, whose block is before the snapshot); returns its file's SHA-256."""
    number = last_config_index(last) if last.header.number else 0
    if number < ledger.first_block:  # this peer joined from a snapshot itself
        data = (ledger.directory / BOOTSTRAP / CONFIG_BLOCK).read_bytes()
    else:
        data = ledger.read_block(number).SerializeToString()
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest()


class SnapshotService(snapshot_pb2_grpc.SnapshotServicer):
    """Fabric's ``protos.Snapshot`` service; every call by an admin of the peer's MSP."""

    def __init__(self, snapshots: Snapshots, local_msp: Msp) -> None:
        self.snapshots = snapshots
        self.local_msp = local_msp

    async def Generate(self, signed, context):
        request = await self._checked(signed, snapshot_pb2.SnapshotRequest, context)
        await self._do(context, self.snapshots.submit, request.channel_id, request.block_number)
        return empty_pb2.Empty()

    async def Cancel(self, signed, context):
        request = await self._checked(signed, snapshot_pb2.SnapshotRequest, context)
        requests = await self._do(context, self.snapshots.requests, request.channel_id)
        await self._do(context, requests.cancel, request.block_number)
        return empty_pb2.Empty()

    async def QueryPendings(self, signed, context):
        query = await self._checked(signed, snapshot_pb2.SnapshotQuery, context)
        requests = await self._do(context, self.snapshots.requests, query.channel_id)
        return snapshot_pb2.QueryPendingSnapshotsResponse(block_numbers=sorted(requests.blocks))

    async def _checked(self, signed, kind, context):
        """The request, decoded and signed by an admin of this peer's organization."""
        try:
            request = kind.FromString(signed.request)
        except DecodeError:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "failed to unmarshal snapshot request"
            )
        if not request.HasField("signature_header"):
            await context.abort(grpc.StatusCode.UNKNOWN, "missing signature header")
        try:
            identity = self.local_msp.deserialize(request.signature_header.creator)
            self.local_msp.validate(identity)
            self.local_msp.verify(identity, signed.request, signed.signature)
            admin = self.local_msp.is_admin(identity)
        except CaError as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, f"access denied: {exc}")
        if not admin:
            await context.abort(
                grpc.StatusCode.UNKNOWN,
                f"access denied: {identity.enrollment_id} is not an admin of "
                f"{self.local_msp.mspid}",
            )
        return request

    @staticmethod
    async def _do(context, action, *args):
        try:
            return action(*args)
        except SnapshotRefused as exc:
            await context.abort(grpc.StatusCode.UNKNOWN, str(exc))
