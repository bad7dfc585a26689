"""Deliver's filtered blocks: txids, codes and event names, read from committed blocks."""

from __future__ import annotations

from fabric_protos.common import common_pb2

from peers.deliver import filtered_block
from tests.support.orderer import CHANNEL


def test_filtered_blocks_carry_ids_codes_and_event_names_without_payloads(
    events_block: common_pb2.Block,
) -> None:
    filtered = filtered_block(events_block)
    assert (filtered.number, filtered.channel_id) == (1, CHANNEL)
    transactions = filtered.filtered_transactions
    assert [t.tx_validation_code for t in transactions] == [0, 10, 0, 0, 0]
    assert all(len(t.txid) == 64 for t in transactions)
    assert all(t.type == common_pb2.ENDORSER_TRANSACTION for t in transactions)
    events = [
        [a.chaincode_event for a in t.transaction_actions.chaincode_actions] for t in transactions
    ]
    assert [[e.event_name for e in found] for found in events] == [
        ["First"],
        ["Refused"],
        ["Elsewhere"],
        [],
        ["Second"],
    ]
    assert all(e.payload == b"" for found in events for e in found)


def test_an_envelope_that_does_not_decode_is_served_without_ids(
    events_block: common_pb2.Block,
) -> None:
    """Only a faulty orderer could order one; Deliver still serves the block."""
    events_block.data.data.append(b"\xff\xff")
    events_block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] += bytes([2])
    last = filtered_block(events_block).filtered_transactions[-1]
    assert (last.txid, last.type, last.tx_validation_code) == ("", 0, 2)
