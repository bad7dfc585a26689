"""The peer's ``Deliver`` service: committed blocks (with their validation codes), filtered
blocks (txids, codes and chaincode events without payloads) and blocks with private data.

Each request is a signed ``SeekInfo`` envelope; the requester must satisfy the channel's
``/Channel/Application/Readers`` policy. Block streaming and its statuses are shared
with the orderer (``proto.seek``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import grpc
from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.peer import (
    events_pb2,
    events_pb2_grpc,
)

from peers.channel import PeerChannel
from peers.collections import Collection, collections_of, mspid_of
from peers.lifecycle import read_definition
from peers.privatedata import filter_private
from proto.envelope import parse_block
from proto.seek import SeekError, SeekRequest, parse_seek_envelope, seek_blocks

log = logging.getLogger(__name__)
Requests = AsyncIterator[common_pb2.Envelope]


def filtered_block(block: common_pb2.Block) -> events_pb2.FilteredBlock:
    codes = block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
    filtered = events_pb2.FilteredBlock(number=block.header.number)
    for index, tx in enumerate(parse_block(block)):
        transaction = events_pb2.FilteredTransaction(tx_validation_code=codes[index])
        if tx.channel_header is not None:  # else the orderer let through what does not decode
            filtered.channel_id = tx.channel_header.channel_id
            transaction.txid, transaction.type = tx.tx_id, tx.channel_header.type
        event = tx.chaincode_event()
        if event is not None:
            event.payload = b""  # filtered: names only
            transaction.transaction_actions.chaincode_actions.append(
                events_pb2.FilteredChaincodeAction(chaincode_event=event)
            )
        filtered.filtered_transactions.append(transaction)
    return filtered


class PeerDeliver(events_pb2_grpc.DeliverServicer):
    def __init__(self, channels: Callable[[str], PeerChannel | None]) -> None:
        self._channels = channels

    async def _blocks(
        self, envelope: common_pb2.Envelope, shape: Shape
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        request = parse_seek_envelope(envelope)
        channel = self._channels(request.channel_id)
        if channel is None or channel.ledger.config is None:
            raise SeekError(common_pb2.NOT_FOUND, f"channel {request.channel_id!r} not found")
        if not channel.ledger.config.evaluate(
            "/Channel/Application/Readers", [request.signed_data]
        ):
            raise SeekError(
                common_pb2.FORBIDDEN, "the requester does not satisfy /Channel/Application/Readers"
            )
        shaped = shape(request, channel)
        async for block in seek_blocks(request, channel.height, channel.blocks):
            yield shaped(block)

    async def _serve(
        self,
        requests: AsyncIterator[common_pb2.Envelope],
        shape: Shape,
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        async for envelope in requests:
            status = common_pb2.SUCCESS
            try:
                async for response in self._blocks(envelope, shape):
                    yield response
            except SeekError as error:
                status = error.status
                log.info("deliver refused: %s", error)
            yield events_pb2.DeliverResponse(status=status)

    async def Deliver(
        self, request_iterator: Requests, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        async for response in self._serve(request_iterator, _full):
            yield response

    async def DeliverFiltered(
        self, request_iterator: Requests, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        async for response in self._serve(request_iterator, _filtered):
            yield response

    async def DeliverWithPrivateData(
        self, request_iterator: Requests, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        async for response in self._serve(request_iterator, _with_private_data):
            yield response


def _full(_: SeekRequest, __: PeerChannel) -> Shaper:
    return lambda block: events_pb2.DeliverResponse(block=block)


def _filtered(_: SeekRequest, __: PeerChannel) -> Shaper:
    return lambda block: events_pb2.DeliverResponse(filtered_block=filtered_block(block))


def _with_private_data(request: SeekRequest, channel: PeerChannel) -> Shaper:
    """Each block with the clear private data this peer committed for its transactions,
    limited to collections the requester's organization is a member of (Fabric's
    ``DeliverWithPrivateData`` serves a member only what it may read)."""
    mspid = mspid_of(request.signed_data.identity)
    state = channel.ledger.state
    members: dict[str, dict[str, Collection]] = {}

    def allowed(namespace: str, collection: str) -> bool:
        if namespace not in members:
            members[namespace] = collections_of(read_definition(state, namespace))
        found = members[namespace].get(collection)
        return found is not None and found.is_member(mspid)

    def shaped(block: common_pb2.Block) -> events_pb2.DeliverResponse:
        answer = events_pb2.BlockAndPrivateData(block=block)
        for tx, raw in state.private_rwsets(block.header.number).items():
            private = filter_private(rwset_pb2.TxPvtReadWriteSet.FromString(raw), allowed)
            if private.ns_pvt_rwset:
                answer.private_data_map[tx].CopyFrom(private)
        return events_pb2.DeliverResponse(block_and_private_data=answer)

    return shaped


Shaper = Callable[[common_pb2.Block], events_pb2.DeliverResponse]
Shape = Callable[[SeekRequest, PeerChannel], Shaper]
