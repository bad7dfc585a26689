"""What each Fabric transaction validation code means, in one sentence for a person.

``consortium tx explain``, ``invoke --explain`` and the MQTT bridge's ``tx/<txid>`` events
print these; ``docs/validation-codes.md`` has the long form (when, an example, the fix).
Every code of ``TxValidationCode`` has an entry (a unit test checks it).
"""

from __future__ import annotations

from fabric_protos.peer import transaction_pb2

INTERNAL = "a code Fabric keeps for internal states or old releases; consortium never assigns it"

MEANINGS = {
    "VALID": "every check passed; its writes are in the world state",
    "NIL_ENVELOPE": "an empty entry in the block's data",
    "BAD_PAYLOAD": "the envelope, its payload or the transaction inside does not decode",
    "BAD_COMMON_HEADER": "the payload lacks its channel or signature header, creator or nonce",
    "BAD_CREATOR_SIGNATURE": (
        "the creator is not valid on the channel (unknown MSP, wrong CA, expired, revoked) "
        "or its signature does not verify"
    ),
    "INVALID_ENDORSER_TRANSACTION": INTERNAL,
    "INVALID_CONFIG_TRANSACTION": "a config transaction the peer cannot apply",
    "UNSUPPORTED_TX_PAYLOAD": "a payload type the peer does not process",
    "BAD_PROPOSAL_TXID": "the txid is not hex(SHA-256(nonce ‖ creator))",
    "DUPLICATE_TXID": "this transaction id was already used",
    "ENDORSEMENT_POLICY_FAILURE": (
        "its endorsements do not satisfy the chaincode's policy or a key-level policy"
    ),
    "MVCC_READ_CONFLICT": "a key it read changed before it committed; retry it",
    "PHANTOM_READ_CONFLICT": "a range it scanned changed before it committed; retry it",
    "UNKNOWN_TX_TYPE": "a header type other than endorser or config transaction",
    "TARGET_CHAIN_NOT_FOUND": "the transaction names another channel than the block's",
    "MARSHAL_TX_ERROR": INTERNAL,
    "NIL_TXACTION": "an endorser transaction without exactly one action",
    "EXPIRED_CHAINCODE": "it was endorsed by a chaincode version the channel no longer runs",
    "CHAINCODE_VERSION_CONFLICT": INTERNAL,
    "BAD_HEADER_EXTENSION": "the channel header's chaincode extension does not decode",
    "BAD_CHANNEL_HEADER": "the channel header does not decode",
    "BAD_RESPONSE_PAYLOAD": "the endorsed response payload or its chaincode action does not decode",
    "BAD_RWSET": "the read/write set does not decode",
    "ILLEGAL_WRITESET": "it writes to another chaincode's namespace",
    "INVALID_WRITESET": INTERNAL,
    "INVALID_CHAINCODE": "the chaincode is not defined on the channel",
    "NOT_VALIDATED": INTERNAL,
    "INVALID_OTHER_REASON": INTERNAL,
}


def meaning(code: int | str) -> str:
    """The sentence for a code given by number or name (unknown: say where to look)."""
    name = code if isinstance(code, str) else _name(code)
    return MEANINGS.get(name, "see docs/validation-codes.md")


def _name(number: int) -> str:
    try:
        return transaction_pb2.TxValidationCode.Name(number)
    except ValueError:
        return str(number)
