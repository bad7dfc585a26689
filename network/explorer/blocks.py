"""A block as the explorer shows it: its hashes, the orderer's signature, and each
transaction (who sent it, what it called with which arguments, who endorsed it, what it
read and wrote, and the validation code the peer gave it).

Decoded once when the block arrives, into plain data the pages and the JSON API share.
The header hash is computed here exactly as Fabric does (``proto.blockhash``), so the
page can show that block N+1's previous hash is block N's header hash.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from fabric_protos.common import common_pb2
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.msp import identities_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2, transaction_pb2
from google.protobuf.message import DecodeError

from ca.certificates import common_name
from proto.blockhash import block_data_hash, block_header_hash
from proto.envelope import Invalid, ParsedTx, parse_block

Version = tuple[int, int] | None  # (block, tx) of the value a read saw; None: absent


@dataclass(frozen=True)
class Identity:
    """Who signed: the MSP and the certificate's common name."""

    mspid: str
    name: str

    def __str__(self) -> str:
        return f"{self.name} ({self.mspid})" if self.name else self.mspid


@dataclass
class TxView:
    index: int
    txid: str
    kind: str  # ENDORSER_TRANSACTION, CONFIG, …
    code: str  # the validation code from the block's TRANSACTIONS_FILTER
    timestamp: int = 0  # unix seconds, from the channel header
    creator: Identity | None = None
    chaincode: str = ""
    function: str = ""
    args: list[str] = field(default_factory=list)
    endorsers: list[Identity] = field(default_factory=list)
    reads: dict[str, Version] = field(default_factory=dict)  # "namespace/key" → version
    writes: dict[str, str] = field(default_factory=dict)  # "namespace/key" → value (text)
    response: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "txid": self.txid,
            "kind": self.kind,
            "code": self.code,
            "chaincode": self.chaincode,
            "function": self.function,
            "creator": str(self.creator or ""),
        }


@dataclass
class BlockView:
    channel: str
    number: int
    previous_hash: str
    data_hash: str
    header_hash: str
    data_hash_matches: bool
    signer: Identity | None
    signature: str
    txs: list[TxView]

    def summary(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "number": self.number,
            "header_hash": self.header_hash,
            "txs": [tx.summary() for tx in self.txs],
        }


@functools.lru_cache(maxsize=1024)
def identity_of(serialized: bytes) -> Identity | None:
    """An MSP identity's MSP and common name; None when it does not decode. Cached: the
    same few creators, endorsers and orderers sign block after block, and parsing their
    certificates was most of the time to decode a block (bounded: 1,024 identities)."""
    try:
        identity = identities_pb2.SerializedIdentity.FromString(serialized)
    except DecodeError:
        return None
    try:
        name = common_name(x509.load_pem_x509_certificate(identity.id_bytes))
    except ValueError:
        name = ""
    return Identity(identity.mspid, name)


def block_view(channel: str, block: common_pb2.Block) -> BlockView:
    """Everything the block and transaction pages show about ``block``."""
    header = block.header
    codes = _codes(block)
    signer, signature = _orderer_signature(block)
    txs = [
        _tx_view(index, parsed, codes[index] if index < len(codes) else "NOT_VALIDATED")
        for index, parsed in enumerate(parse_block(block))
    ]
    return BlockView(
        channel=channel,
        number=header.number,
        previous_hash=header.previous_hash.hex(),
        data_hash=header.data_hash.hex(),
        header_hash=block_header_hash(header).hex(),
        data_hash_matches=block_data_hash(block.data.data) == header.data_hash,
        signer=signer,
        signature=signature,
        txs=txs,
    )


def _codes(block: common_pb2.Block) -> list[str]:
    metadata = block.metadata.metadata
    if len(metadata) <= common_pb2.TRANSACTIONS_FILTER:
        return []
    names = []
    for value in metadata[common_pb2.TRANSACTIONS_FILTER]:
        try:
            names.append(transaction_pb2.TxValidationCode.Name(value))
        except ValueError:
            names.append(str(value))
    return names


def _orderer_signature(block: common_pb2.Block) -> tuple[Identity | None, str]:
    """The first signature in the block's SIGNATURES metadata: the orderer that cut it."""
    try:
        metadata = common_pb2.Metadata.FromString(block.metadata.metadata[common_pb2.SIGNATURES])
        signature = metadata.signatures[0]
        header = common_pb2.SignatureHeader.FromString(signature.signature_header)
    except (IndexError, DecodeError):
        return None, ""
    return identity_of(header.creator), signature.signature.hex()


def _tx_view(index: int, parsed: ParsedTx, code: str) -> TxView:
    channel_header = parsed.channel_header
    kind = common_pb2.HeaderType.Name(channel_header.type) if channel_header else "UNREADABLE"
    view = TxView(index, parsed.tx_id, kind, code)
    if channel_header is not None:
        view.timestamp = channel_header.timestamp.seconds
    if parsed.signature_header is not None:
        view.creator = identity_of(parsed.signature_header.creator)
    if channel_header is not None and channel_header.type == common_pb2.ENDORSER_TRANSACTION:
        _read_endorsement(parsed, view)
    return view


def _read_endorsement(parsed: ParsedTx, view: TxView) -> None:
    """Chaincode, arguments, endorsers and the read/write set, as far as they decode."""
    try:
        action = parsed.action
    except Invalid:
        return
    view.endorsers = [
        identity
        for endorsement in action.endorsed.endorsements
        if (identity := identity_of(endorsement.endorser)) is not None
    ]
    chaincode_action = action.chaincode_action
    view.chaincode = chaincode_action.chaincode_id.name
    view.response = f"{chaincode_action.response.status} {chaincode_action.response.message}"
    view.reads, view.writes = _rwset(chaincode_action.results)
    args = _arguments(parsed)
    if args:
        view.function, view.args = args[0], args[1:]


def _arguments(parsed: ParsedTx) -> list[str]:
    """The invocation's arguments, as text where they are text."""
    try:
        transaction = transaction_pb2.Transaction.FromString(parsed.payload.data)
        payload = transaction_pb2.ChaincodeActionPayload.FromString(transaction.actions[0].payload)
        proposal = proposal_pb2.ChaincodeProposalPayload.FromString(
            payload.chaincode_proposal_payload
        )
        spec = chaincode_pb2.ChaincodeInvocationSpec.FromString(proposal.input)
    except (DecodeError, IndexError, AttributeError):
        return []
    return [_text(arg) for arg in spec.chaincode_spec.input.args]


def _rwset(results: bytes) -> tuple[dict[str, Version], dict[str, str]]:
    reads: dict[str, Version] = {}
    writes: dict[str, str] = {}
    try:
        rwset = rwset_pb2.TxReadWriteSet.FromString(results)
        for namespace in rwset.ns_rwset:
            kv = kv_rwset_pb2.KVRWSet.FromString(namespace.rwset)
            for read in kv.reads:
                version = read.version if read.HasField("version") else None
                reads[f"{namespace.namespace}/{read.key}"] = (
                    (version.block_num, version.tx_num) if version else None
                )
            for write in kv.writes:
                value = "(deleted)" if write.is_delete else _text(write.value)
                writes[f"{namespace.namespace}/{write.key}"] = value
    except DecodeError:
        pass
    return reads, writes


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return "0x" + value.hex()
