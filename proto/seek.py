"""Deliver requests: the signed ``SeekInfo`` envelope and what range it asks for.

Orderers and peers both serve Fabric's ``Deliver``; they share this reading of a request
(Fabric's ``common/deliver``), and clients share the builder. Each node supplies only its
block store and its ``Readers`` policy check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from fabric_protos.common import common_pb2
from fabric_protos.orderer import ab_pb2
from google.protobuf.message import DecodeError

from proto.errors import ProtoError
from proto.messages import build_channel_header
from proto.signer import SignedData, Signer
from proto.txid import compute_txid, new_nonce

NEWEST = "newest"
OLDEST = "oldest"
FOREVER = 2**64 - 1
"""Fabric clients ask for ``specified: MaxUint64`` as the stop to stream forever."""


class SeekError(ProtoError):
    """A Deliver request that gets a non-SUCCESS ``common.Status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class SeekRequest:
    channel_id: str
    seek_info: ab_pb2.SeekInfo
    signed_data: SignedData

    @property
    def fail_if_not_ready(self) -> bool:
        return self.seek_info.behavior == ab_pb2.SeekInfo.FAIL_IF_NOT_READY


def seek_position(position: int | str) -> ab_pb2.SeekPosition:
    if position == NEWEST:
        return ab_pb2.SeekPosition(newest=ab_pb2.SeekNewest())
    if position == OLDEST:
        return ab_pb2.SeekPosition(oldest=ab_pb2.SeekOldest())
    if isinstance(position, int):
        return ab_pb2.SeekPosition(specified=ab_pb2.SeekSpecified(number=position))
    raise ValueError(f"seek position {position!r} is not 'newest', 'oldest' or a block number")


def build_seek_envelope(
    signer: Signer,
    channel_id: str,
    start: int | str = OLDEST,
    stop: int | str = FOREVER,
    fail_if_not_ready: bool = False,
) -> common_pb2.Envelope:
    behavior = (
        ab_pb2.SeekInfo.FAIL_IF_NOT_READY
        if fail_if_not_ready
        else ab_pb2.SeekInfo.BLOCK_UNTIL_READY
    )
    seek_info = ab_pb2.SeekInfo(
        start=seek_position(start), stop=seek_position(stop), behavior=behavior
    )
    nonce = new_nonce()
    channel_header = build_channel_header(
        common_pb2.DELIVER_SEEK_INFO, channel_id, compute_txid(nonce, signer.creator)
    )
    payload = common_pb2.Payload(
        header=common_pb2.Header(
            channel_header=channel_header.SerializeToString(),
            signature_header=common_pb2.SignatureHeader(
                creator=signer.creator, nonce=nonce
            ).SerializeToString(),
        ),
        data=seek_info.SerializeToString(),
    )
    payload_bytes = payload.SerializeToString()
    return common_pb2.Envelope(payload=payload_bytes, signature=signer.sign(payload_bytes))


def parse_seek_envelope(envelope: common_pb2.Envelope) -> SeekRequest:
    """Decode a Deliver request; raise ``SeekError(BAD_REQUEST)`` naming what is wrong."""
    try:
        payload = common_pb2.Payload.FromString(envelope.payload)
    except DecodeError:
        raise SeekError(common_pb2.BAD_REQUEST, "envelope payload does not decode") from None
    if not payload.header.channel_header:
        raise SeekError(common_pb2.BAD_REQUEST, "envelope has no channel header")
    try:
        channel_header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        signature_header = common_pb2.SignatureHeader.FromString(payload.header.signature_header)
        seek_info = ab_pb2.SeekInfo.FromString(payload.data)
    except DecodeError as exc:
        raise SeekError(common_pb2.BAD_REQUEST, f"seek request does not decode: {exc}") from None
    if not seek_info.HasField("start") or not seek_info.HasField("stop"):
        raise SeekError(common_pb2.BAD_REQUEST, "seek info needs both start and stop")
    return SeekRequest(
        channel_id=channel_header.channel_id,
        seek_info=seek_info,
        signed_data=SignedData(envelope.payload, signature_header.creator, envelope.signature),
    )


def _start_number(position: ab_pb2.SeekPosition, height: int) -> int:
    """Where a request starts, as Fabric's block ledger iterator reads it: a specified
    block beyond the height (or a position it does not know) is NOT_FOUND at once."""
    kind = position.WhichOneof("Type")
    if kind == "oldest":
        return 0
    if kind == "newest":
        return max(height - 1, 0)
    if kind == "next_commit":
        return height
    if kind == "specified" and position.specified.number <= height:
        return position.specified.number
    raise SeekError(common_pb2.NOT_FOUND, f"seek start position {kind or 'unset'} not found")


def _stop_number(seek_info: ab_pb2.SeekInfo, start: int, height: int) -> int:
    """The last block a request asks for; FOREVER for a stop it never reaches (Fabric
    stops only on delivering the stop block, so a stop behind the start streams on)."""
    kind = seek_info.stop.WhichOneof("Type")
    if kind == "oldest" or (kind == "newest" and seek_info.start == seek_info.stop):
        return start
    if kind == "newest":
        stop = height - 1
    elif kind == "specified":
        stop = seek_info.stop.specified.number
        if stop < start:
            raise SeekError(common_pb2.BAD_REQUEST, f"seek stop {stop} is before start {start}")
    else:
        stop = 0  # next_commit as a stop: Fabric ends only on delivering block 0
    return stop if stop >= start else FOREVER


def seek_range(seek_info: ab_pb2.SeekInfo, height: int) -> tuple[int, int]:
    """The first and last block numbers a request asks for, given the current height
    (Fabric's ``common/deliver``; the last is FOREVER for an endless stream)."""
    start = _start_number(seek_info.start, height)
    return start, _stop_number(seek_info, start, height)


BlockSource = Callable[[int, int], AsyncIterator[common_pb2.Block]]


async def seek_blocks(
    request: SeekRequest, height: int, blocks: BlockSource
) -> AsyncIterator[common_pb2.Block]:
    """The blocks a request asks for, from a node's ``blocks(start, stop)`` source.

    BLOCK_UNTIL_READY waits for blocks not yet there; FAIL_IF_NOT_READY sends what exists
    and then fails with NOT_FOUND, as Fabric's deliver service does.
    """
    start, stop = seek_range(request.seek_info, height)
    available = min(stop, height - 1) if request.fail_if_not_ready else stop
    async for block in blocks(start, available):
        yield block
    if available < stop:
        raise SeekError(common_pb2.NOT_FOUND, f"block {max(start, height)} is not ready")
