"""The JSON of every published message, from real Fabric blocks built with the same
helpers the nodes use."""

from __future__ import annotations

import base64
import json

from fabric_protos.common import common_pb2
from fabric_protos.peer import (
    chaincode_event_pb2,
    chaincode_pb2,
    proposal_pb2,
    proposal_response_pb2,
)

from network.mqtt import payloads
from proto.blockhash import block_header_hash
from proto.envelope import Code
from proto.messages import build_block, build_transaction_envelope, sign_endorsement
from proto.proposal import build_proposal
from tests.support.ca_pki import make_org

ORG = make_org("Org1MSP")
CLIENT = ORG.identity("user1", "client")
PEER = ORG.identity("peer0", "peer")


def _transaction(event: str | None, payload: bytes = b"") -> tuple[bytes, str]:
    proposal, tx_id = build_proposal(CLIENT, "mychannel", "basic", [b"CreateAsset"])
    events = b""
    if event is not None:
        events = chaincode_event_pb2.ChaincodeEvent(
            chaincode_id="basic", tx_id=tx_id, event_name=event, payload=payload
        ).SerializeToString()
    action = proposal_pb2.ChaincodeAction(
        response=proposal_response_pb2.Response(status=200),
        chaincode_id=chaincode_pb2.ChaincodeID(name="basic", version="1.0"),
        events=events,
    )
    envelope = build_transaction_envelope(
        CLIENT, proposal, [sign_endorsement(PEER, proposal, action)]
    )
    return envelope.SerializeToString(), tx_id


def _block(number: int, transactions: list[bytes], codes: list[int]) -> common_pb2.Block:
    block = build_block(number, b"\x01" * 32, transactions)
    block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER] = bytes(codes)
    return block


def test_a_block_yields_block_then_each_tx_status_then_its_event() -> None:
    created, created_id = _transaction("CreateAsset", b'{"ID":"a1"}')
    plain, plain_id = _transaction(None)
    conflicted, conflicted_id = _transaction("CreateAsset", b"{}")
    block = _block(5, [created, plain, conflicted], [Code.VALID, Code.VALID, 11])
    messages = payloads.block_messages("net", "mychannel", block)

    assert [m.topic for m in messages] == [
        "consortium/net/mychannel/blocks",
        f"consortium/net/mychannel/tx/{created_id}",
        "consortium/net/mychannel/chaincode/basic/CreateAsset",
        f"consortium/net/mychannel/tx/{plain_id}",
        f"consortium/net/mychannel/tx/{conflicted_id}",  # invalid: no chaincode event
    ]
    assert [m.position for m in messages] == [(5, i) for i in range(5)]
    assert [(m.body["block"], m.body["tx"], m.body["index"]) for m in messages] == [
        (5, None, 0),
        (5, 0, 1),
        (5, 0, 2),
        (5, 1, 3),
        (5, 2, 4),
    ]
    head = messages[0].body
    assert head["hash"] == block_header_hash(block.header).hex()
    assert (head["tx_count"], head["valid_count"]) == (3, 2)


def test_tx_status_carries_code_number_name_and_meaning() -> None:
    data, tx_id = _transaction(None)
    messages = payloads.block_messages("net", "ch", _block(2, [data], [Code.MVCC_READ_CONFLICT]))
    body = json.loads(messages[1].payload)
    assert body["txid"] == tx_id
    assert (body["code"], body["code_name"]) == (11, "MVCC_READ_CONFLICT")
    assert "retry" in body["meaning"]
    assert body["type"] == "ENDORSER_TRANSACTION"
    assert body["creator_mspid"] == "Org1MSP"
    assert body["chaincode"] == "basic"
    assert body["timestamp"].endswith("Z")


def test_chaincode_event_payload_as_base64_and_text() -> None:
    data, tx_id = _transaction("Weird/Name", b'{"ID":"a1"}')
    event = payloads.block_messages("net", "ch", _block(3, [data], [Code.VALID]))[2]
    assert event.topic == "consortium/net/ch/chaincode/basic/Weird%2FName"
    assert event.body["event"] == "Weird/Name"
    assert event.body["txid"] == tx_id
    assert event.body["payload_text"] == '{"ID":"a1"}'
    assert base64.b64decode(event.body["payload_base64"]) == b'{"ID":"a1"}'
    assert payloads.payload_fields(b"\xff")["payload_text"] is None


def test_an_undecodable_transaction_is_still_counted_but_has_no_tx_message() -> None:
    messages = payloads.block_messages("net", "ch", _block(4, [b"\x00garbage"], [2]))
    assert len(messages) == 1
    assert messages[0].body["tx_count"] == 1
    assert messages[0].body["valid_count"] == 0


def test_governance_event_keeps_its_detail_and_position() -> None:
    event = {
        "SequenceNo": 12,
        "Kind": "VoteCast",
        "NetworkId": "n-1",
        "SubjectId": "m-1",
        "ProposalId": "p-1",
        "Vote": "YES",
    }
    message = payloads.governance_message("net", 12, 1, event)
    assert message.topic == "consortium/net/governance/VoteCast"
    assert message.position == (12, 1)
    assert message.body["detail"] == {"ProposalId": "p-1", "Vote": "YES"}
    assert (message.body["sequence"], message.body["index"]) == (12, 1)


def test_replies_say_ok_only_for_valid_commits() -> None:
    valid = payloads.submit_reply("r1", "t1", 9, Code.VALID, b"done")
    assert valid["ok"] and valid["code_name"] == "VALID" and valid["payload_text"] == "done"
    conflict = payloads.submit_reply("r2", "t2", 9, Code.MVCC_READ_CONFLICT, None)
    assert not conflict["ok"] and conflict["code"] == 11
    error = payloads.error_reply("r3", "payload[1]", "must be a string, not 5")
    assert error["error"] == {"field": "payload[1]", "message": "must be a string, not 5"}


def test_describe_gives_one_line_per_kind() -> None:
    data, tx_id = _transaction("CreateAsset", b"{}")
    messages = payloads.block_messages("net", "ch", _block(3, [data], [Code.VALID]))
    lines = [payloads.describe(m.body) for m in messages]
    assert lines[0].startswith("block      ch #3 txs=1 valid=1 hash=")
    assert lines[1] == f"tx         ch #3.0 VALID {tx_id} basic"
    assert lines[2] == "chaincode  ch #3.0 basic/CreateAsset {}"
    governance = payloads.governance_message(
        "net", 4, 0, {"Kind": "MemberJoined", "SubjectId": "m-2", "Name": "org3"}
    )
    assert payloads.describe(governance.body) == 'governance #4.0 MemberJoined m-2 {"Name": "org3"}'
    assert all("\n" not in line for line in lines)
