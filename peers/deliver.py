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
from fabric_protos.peer import (
    chaincode_event_pb2,
    events_pb2,
    events_pb2_grpc,
    transaction_pb2,
)

from peers.channel import PeerChannel
from peers.validation import Invalid, unpack_endorsed_action
from proto.seek import SeekError, parse_seek_envelope, seek_blocks

log = logging.getLogger(__name__)
Requests = AsyncIterator[common_pb2.Envelope]
Code = transaction_pb2.TxValidationCode


def filtered_block(block: common_pb2.Block) -> events_pb2.FilteredBlock:
    codes = block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
    filtered = events_pb2.FilteredBlock(number=block.header.number)
    for index, data in enumerate(block.data.data):
        payload = common_pb2.Payload.FromString(common_pb2.Envelope.FromString(data).payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        filtered.channel_id = header.channel_id
        transaction = events_pb2.FilteredTransaction(
            txid=header.tx_id, type=header.type, tx_validation_code=codes[index]
        )
        if header.type == common_pb2.ENDORSER_TRANSACTION:
            try:
                _, action = unpack_endorsed_action(payload.data)
            except Invalid:
                action = None
            if action is not None and action.events:
                event = chaincode_event_pb2.ChaincodeEvent.FromString(action.events)
                event.payload = b""  # filtered: names only
                transaction.transaction_actions.chaincode_actions.append(
                    events_pb2.FilteredChaincodeAction(chaincode_event=event)
                )
        filtered.filtered_transactions.append(transaction)
    return filtered


class PeerDeliver(events_pb2_grpc.DeliverServicer):
    def __init__(self, channels: Callable[[str], PeerChannel | None]) -> None:
        self._channels = channels

    async def _blocks(self, envelope: common_pb2.Envelope) -> AsyncIterator[common_pb2.Block]:
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
        async for block in seek_blocks(request, channel.height, channel.blocks):
            yield block

    async def _serve(
        self,
        requests: AsyncIterator[common_pb2.Envelope],
        shape: Callable[[common_pb2.Block], events_pb2.DeliverResponse],
    ) -> AsyncIterator[events_pb2.DeliverResponse]:
        async for envelope in requests:
            status = common_pb2.SUCCESS
            try:
                async for block in self._blocks(envelope):
                    yield shape(block)
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


def _full(block: common_pb2.Block) -> events_pb2.DeliverResponse:
    return events_pb2.DeliverResponse(block=block)


def _filtered(block: common_pb2.Block) -> events_pb2.DeliverResponse:
    return events_pb2.DeliverResponse(filtered_block=filtered_block(block))


def _with_private_data(block: common_pb2.Block) -> events_pb2.DeliverResponse:
    """No private data store yet: blocks come with an empty private data map."""
    return events_pb2.DeliverResponse(
        block_and_private_data=events_pb2.BlockAndPrivateData(block=block)
    )
