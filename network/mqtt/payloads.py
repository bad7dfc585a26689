"""The JSON of every message the bridge publishes, in one place (``docs/events.md``).

Every message carries its position so subscribers can de-duplicate what the at-least-once
edge repeats: channel messages carry ``(block, tx, index)`` — ``index`` counts the
messages of one block from 0 (the block message) in publishing order — and governance
messages carry ``(sequence, index)``, the control plane's journal block and the event's
place in it. Positions only grow, so "seen (block, index) before" is a complete test.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import chaincode_event_pb2
from google.protobuf.message import DecodeError

from network.mqtt import topics
from network.validation_codes import meaning
from proto.blockhash import block_header_hash
from proto.envelope import Code, Invalid, ParsedTx, parse_block

SCHEMA = 1


@dataclass(frozen=True)
class Message:
    """One MQTT message: where it goes, what it says, and where it sits in its stream."""

    topic: str
    body: Mapping[str, Any]
    position: tuple[int, int]  # (block, index) or (governance sequence, index)

    @property
    def payload(self) -> bytes:
        return encode(self.body)


def encode(body: Mapping[str, Any]) -> bytes:
    """Compact JSON with sorted keys: the bytes of every payload the bridge publishes."""
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


def code_fields(code: int) -> dict[str, Any]:
    """A validation code as number, Fabric's name and what it means for the client."""
    try:
        name = Code.Name(code)
    except ValueError:
        name = f"UNKNOWN_{code}"
    return {"code": code, "code_name": name, "meaning": meaning(name)}


# -- blocks, transactions and chaincode events ------------------------------------------


@dataclass(frozen=True)
class _Transaction:
    tx_id: str
    type_name: str
    timestamp: str
    creator_mspid: str
    chaincode: str
    event: chaincode_event_pb2.ChaincodeEvent | None


def _timestamp(header: common_pb2.ChannelHeader) -> str:
    seconds = header.timestamp.seconds + header.timestamp.nanos / 1e9
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _read_transaction(tx: ParsedTx) -> _Transaction:
    """What a subscriber wants of one envelope; whatever does not decode is left empty,
    and so is everything after it (an invalid transaction is still reported, with its
    code)."""
    tx_id = type_name = timestamp = mspid = chaincode = ""
    event = None
    try:
        header, signature = tx.channel_header, tx.signature_header
        if header is None:
            raise Invalid(Code.BAD_CHANNEL_HEADER, "channel header does not decode")
        tx_id, timestamp = header.tx_id, _timestamp(header)
        type_name = common_pb2.HeaderType.Name(header.type)
        if signature is None:
            raise Invalid(Code.BAD_COMMON_HEADER, "signature header does not decode")
        mspid = identities_pb2.SerializedIdentity.FromString(signature.creator).mspid
        if header.type == common_pb2.ENDORSER_TRANSACTION:
            action = tx.action.chaincode_action
            chaincode = action.chaincode_id.name
            if action.events:
                event = chaincode_event_pb2.ChaincodeEvent.FromString(action.events)
    except (DecodeError, Invalid, ValueError):
        pass
    return _Transaction(tx_id, type_name, timestamp, mspid, chaincode, event)


def _codes(block: common_pb2.Block) -> bytes:
    metadata = block.metadata.metadata
    filter_index = common_pb2.TRANSACTIONS_FILTER
    return metadata[filter_index] if len(metadata) > filter_index else b""


def block_messages(network: str, channel: str, block: common_pb2.Block) -> list[Message]:
    """Every message of one committed block, in publishing order: the block, then per
    transaction its status and (if it is VALID and set one) its chaincode event."""
    number = block.header.number
    codes = _codes(block)
    transactions = [_read_transaction(tx) for tx in parse_block(block)]
    valid = sum(1 for i in range(len(transactions)) if i < len(codes) and codes[i] == Code.VALID)
    base = {"schema": SCHEMA, "network": network, "channel": channel, "block": number}
    messages = [
        Message(
            topics.blocks(network, channel),
            {
                **base,
                "kind": "block",
                "tx": None,
                "index": 0,
                "hash": block_header_hash(block.header).hex(),
                "previous_hash": block.header.previous_hash.hex(),
                "data_hash": block.header.data_hash.hex(),
                "tx_count": len(transactions),
                "valid_count": valid,
            },
            (number, 0),
        )
    ]
    for tx_index, tx in enumerate(transactions):
        code = codes[tx_index] if tx_index < len(codes) else Code.NOT_VALIDATED
        if tx.tx_id:  # config transactions of a genesis block have none
            index = len(messages)
            messages.append(
                Message(
                    topics.tx(network, channel, tx.tx_id),
                    {
                        **base,
                        "kind": "tx",
                        "tx": tx_index,
                        "index": index,
                        "txid": tx.tx_id,
                        "type": tx.type_name,
                        "timestamp": tx.timestamp,
                        "creator_mspid": tx.creator_mspid,
                        "chaincode": tx.chaincode or None,
                        **code_fields(code),
                    },
                    (number, index),
                )
            )
        if tx.event is not None and code == Code.VALID:
            messages.append(_chaincode_message(network, channel, base, tx, tx_index, len(messages)))
    return messages


def _chaincode_message(
    network: str,
    channel: str,
    base: Mapping[str, Any],
    tx: _Transaction,
    tx_index: int,
    index: int,
) -> Message:
    assert tx.event is not None
    chaincode = tx.event.chaincode_id or tx.chaincode
    return Message(
        topics.chaincode_event(network, channel, chaincode, tx.event.event_name),
        {
            **base,
            "kind": "chaincode_event",
            "tx": tx_index,
            "index": index,
            "txid": tx.tx_id,
            "chaincode": chaincode,
            "event": tx.event.event_name,
            **payload_fields(tx.event.payload),
        },
        (base["block"], index),
    )


def payload_fields(payload: bytes) -> dict[str, Any]:
    """Bytes for JSON: always base64; also as text when they are UTF-8 (most are JSON)."""
    try:
        text: str | None = payload.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return {"payload_base64": base64.b64encode(payload).decode(), "payload_text": text}


# -- governance ----------------------------------------------------------------------------


def governance_message(
    network: str, sequence: int, index: int, event: Mapping[str, Any]
) -> Message:
    """One control-plane event (``GET /internal/events`` shape) as the bridge publishes it."""
    known = ("SequenceNo", "Kind", "NetworkId", "SubjectId")
    kind = str(event["Kind"])
    return Message(
        topics.governance(network, kind),
        {
            "schema": SCHEMA,
            "kind": "governance",
            "network": network,
            "sequence": sequence,
            "index": index,
            "event": kind,
            "network_id": event.get("NetworkId", ""),
            "subject_id": event.get("SubjectId", ""),
            "detail": {k: v for k, v in event.items() if k not in known},
        },
        (sequence, index),
    )


# -- ingress replies ---------------------------------------------------------------------


def submit_reply(
    request_id: str, tx_id: str, block: int, code: int, result: bytes | None
) -> dict[str, Any]:
    """The outcome of a submitted transaction: committed VALID (``ok``) or with a code."""
    reply: dict[str, Any] = {
        "schema": SCHEMA,
        "kind": "result",
        "id": request_id,
        "ok": code == Code.VALID,
        "txid": tx_id,
        "block": block,
        **code_fields(code),
    }
    if result is not None:
        reply.update(payload_fields(result))
    return reply


def error_reply(
    request_id: str, field: str, message: str, tx_id: str | None = None
) -> dict[str, Any]:
    """A request that was not committed: which part was wrong and why."""
    return {
        "schema": SCHEMA,
        "kind": "result",
        "id": request_id,
        "ok": False,
        "txid": tx_id,
        "error": {"field": field, "message": message},
    }


# -- one line per message, for `consortium events tail` ---------------------------------


def describe(body: Mapping[str, Any]) -> str:
    kind = body.get("kind")
    where = f"{body.get('channel', '')} #{body.get('block')}"
    if kind == "block":
        return (
            f"block      {where} txs={body['tx_count']} valid={body['valid_count']} "
            f"hash={body['hash'][:16]}"
        )
    if kind == "tx":
        chaincode = body.get("chaincode") or body.get("type", "")
        return f"tx         {where}.{body['tx']} {body['code_name']} {body['txid']} {chaincode}"
    if kind == "chaincode_event":
        payload = body.get("payload_text")
        if payload is None:
            payload = f"(base64) {body['payload_base64']}"
        return f"chaincode  {where}.{body['tx']} {body['chaincode']}/{body['event']} {payload}"
    if kind == "governance":
        detail = json.dumps(body.get("detail", {}), sort_keys=True)
        return (
            f"governance #{body['sequence']}.{body['index']} {body['event']} "
            f"{body['subject_id']} {detail}"
        )
    return json.dumps(body, sort_keys=True)
