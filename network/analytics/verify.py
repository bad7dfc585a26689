"""``consortium analytics verify``: a key's document checked both ways.

In ledgerdb: the key's latest revision, its revision proof, and that proof folded up to
the database's digest (QLDB's verification). Back to Fabric: the block the revision names,
as the member's peer serves it, has the header hash the ``blocks`` table recorded and a
data hash that covers its envelopes; every later block chains to it up to the peer's tip;
and its transaction at the revision's position is VALID, has the revision's txid and
writes exactly the document. And the block carries the ordering service's signature:
each signer is an orderer organization's identity in the channel config the block names
(its last config block, itself hashing as the ``blocks`` table recorded it), the signature
verifies, and together they satisfy the channel's ``/Channel/Orderer/BlockValidation``
policy, as a Fabric peer checks before it commits. Each check is one ``Step``; a failed
one says what differs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2_grpc
from google.protobuf.message import DecodeError

from ca.channelconfig import ChannelConfig
from ca.errors import CaError
from ca.msp import msp_from_channel_value, parse_serialized_identity
from ledgerdb.errors import VerificationError
from ledgerdb.export import to_json
from ledgerdb.revision_proof import verify_revision_proof
from network.analytics.rows import BLOCKS_TABLE, FABRIC, block_rows, table_name
from network.analytics.store import quoted
from network.gateway_client import GatewayClient
from proto.blockhash import block_data_hash, block_header_hash
from proto.blocksign import block_signatures, last_config_index
from proto.envelope import Code
from proto.seek import NEWEST, build_seek_envelope


@dataclass(frozen=True)
class Step:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class Revision:
    """The key's latest committed revision and the Fabric coordinates it carries."""

    document_id: str
    sequence_no: int
    data: dict[str, Any]

    @property
    def block(self) -> int:
        return int(self.data[FABRIC]["block"])


def latest_revision(database: Any, chaincode: str, key: str) -> Revision | None:
    """The key's live revision in the committed view, or None (absent or deleted)."""
    view = quoted(f"_ql_committed_{table_name(chaincode)}")
    rows = database.execute(
        f"SELECT r.metadata.id AS id, r.blockAddress.sequenceNo AS seq, r.data AS data "
        f"FROM {view} AS r WHERE r.data.{FABRIC}.key = ?",
        key,
    ).values
    if not rows:
        return None
    return Revision(str(rows[0]["id"]), int(rows[0]["seq"]), rows[0]["data"])


def ledger_steps(database: Any, revision: Revision) -> list[Step]:
    """The revision proven against the database's current digest."""
    digest = database.digest()
    proof = database.get_revision(
        revision.document_id, revision.sequence_no, digest.tip.sequence_no
    )
    where = f"document {revision.document_id} in ledgerdb block {revision.sequence_no}"
    try:
        verify_revision_proof(proof, trusted_digest=digest.digest)
    except VerificationError as exc:
        return [Step("revision proof", False, f"{where}: {exc}")]
    tip = digest.tip.sequence_no
    return [
        Step("revision proof", True, f"{where}, proven to digest {digest.digest.hex()} (tip {tip})")
    ]


async def peer_blocks(
    client: GatewayClient, channel: str, first: int, last: int | None = None
) -> list[common_pb2.Block]:
    """Blocks ``first`` … ``last`` (default: the peer's newest), as its Deliver serves them."""
    seek = build_seek_envelope(client.signer, channel, first, NEWEST if last is None else last)
    stub = events_pb2_grpc.DeliverStub(client.channel)
    found = []
    async for response in stub.Deliver(iter([seek])):
        if response.WhichOneof("Type") != "block":
            break
        found.append(response.block)
    return found


def fabric_steps(
    database: Any,
    revision: Revision,
    chaincode: str,
    key: str,
    blocks: list[common_pb2.Block],
    config_block: common_pb2.Block | None,
) -> list[Step]:
    """The revision's Fabric block (``blocks[0]``, then the peer's later blocks) checked
    against the analytics ``blocks`` row, the peer's chain and the orderer's signature
    (per ``config_block``, the block's last config block); its transaction checked
    against the revision."""
    number = revision.block
    if not blocks or blocks[0].header.number != number:
        return [Step("peer block", False, f"the peer did not serve block {number}")]
    block = blocks[0]
    recorded = _recorded_hash(database, number)
    header_hash = block_header_hash(block.header).hex()
    checks: list[tuple[str, Callable[[], str | None]]] = [
        ("block header hash", lambda: _same(recorded, header_hash, number)),
        ("block data hash", lambda: _data_hash(block)),
        ("chain to the peer's tip", lambda: _chain(blocks)),
        ("transaction", lambda: _transaction(block, revision, chaincode, key)),
    ]
    steps = []
    for name, check in checks:
        problem = check()
        steps.append(Step(name, problem is None, problem or _said(name, block, blocks, revision)))
    steps.insert(2, orderer_step(database, block, config_block))
    return steps


def _same(recorded: Any, actual: str, number: int) -> str | None:
    if recorded == actual:
        return None
    return f"block {number}: analytics recorded {recorded}, the peer's block hashes to {actual}"


def _data_hash(block: common_pb2.Block) -> str | None:
    if block_data_hash(block.data.data) == block.header.data_hash:
        return None
    return f"block {block.header.number}: data_hash does not cover its transactions"


def _chain(blocks: list[common_pb2.Block]) -> str | None:
    for before, after in itertools.pairwise(blocks):
        if after.header.previous_hash != block_header_hash(before.header):
            number = after.header.number
            return f"block {number}: previous_hash is not block {number - 1}'s header hash"
    return None


def _transaction(
    block: common_pb2.Block, revision: Revision, chaincode: str, key: str
) -> str | None:
    coordinates = revision.data[FABRIC]
    position, txid = int(coordinates["position"]), str(coordinates["txid"])
    rows = block_rows(block)
    if position >= len(rows.transactions) or rows.transactions[position]["txid"] != txid:
        return f"block {block.header.number} has no transaction {txid} at position {position}"
    if rows.transactions[position]["validation_code"] != Code.Name(Code.VALID):
        return f"transaction {txid} is {rows.transactions[position]['validation_code']}"
    table = table_name(chaincode)
    written = [
        w.document
        for w in rows.writes
        if w.table == table
        and w.key == key
        and w.document is not None
        and int(w.document[FABRIC]["position"]) == position
    ]
    if not written or to_json(written[-1]) != to_json(revision.data):
        return f"transaction {txid} did not write this document for key {key!r}"
    return None


BLOCK_VALIDATION = "/Channel/Orderer/BlockValidation"


def config_block_number(block: common_pb2.Block) -> int | None:
    """The last config block ``block``'s signed metadata names (None: it names none)."""
    try:
        return last_config_index(block)
    except (IndexError, DecodeError):
        return None


def orderer_step(
    database: Any, block: common_pb2.Block, config_block: common_pb2.Block | None
) -> Step:
    """The orderer's signature on ``block``, checked against ``config_block``'s channel
    config (see the module docstring); the detail names the check that failed."""
    name, number = "orderer signature", block.header.number
    config = _channel_config(database, block, config_block)
    if isinstance(config, str):
        return Step(name, False, config)
    signed = block_signatures(block)
    if not signed:
        return Step(name, False, f"block {number} carries no orderer signature")
    orderers = _orderer_mspids(config)
    signers = []
    for entry in signed:
        try:
            identity = parse_serialized_identity(entry.identity)
        except CaError as exc:
            return Step(name, False, f"block {number}: a signer does not decode: {exc}")
        if identity.mspid not in orderers:
            return Step(
                name,
                False,
                f"block {number} is signed by {identity.mspid}, not an orderer organization "
                f"of the channel ({', '.join(sorted(orderers))})",
            )
        try:
            msp = config.msps.get(identity.mspid)
            msp.validate(identity)
        except CaError as exc:
            return Step(name, False, f"block {number}: {identity.mspid}'s certificate: {exc}")
        try:
            msp.verify(identity, entry.data, entry.signature)
        except CaError as exc:
            return Step(name, False, f"block {number}: {identity.mspid}'s signature: {exc}")
        signers.append(identity.mspid)
    if not config.evaluate(BLOCK_VALIDATION, signed):
        reason = config.refusal(BLOCK_VALIDATION, signed)
        return Step(name, False, f"block {number}: {BLOCK_VALIDATION} not satisfied: {reason}")
    return Step(
        name,
        True,
        f"block {number} signed by {', '.join(signers)}, valid per {BLOCK_VALIDATION} of "
        f"config block {config_block_number(block)}",
    )


def _channel_config(
    database: Any, block: common_pb2.Block, config_block: common_pb2.Block | None
) -> ChannelConfig | str:
    """The channel config to check ``block`` against, or why ``config_block`` cannot be it."""
    number = config_block_number(block)
    if number is None:
        return f"block {block.header.number} names no last config block in its metadata"
    if config_block is None or config_block.header.number != number:
        return f"the peer did not serve config block {number}"
    recorded = _recorded_hash(database, number)
    if recorded != block_header_hash(config_block.header).hex():
        return f"config block {number}: analytics recorded {recorded}, the peer's block differs"
    try:
        return ChannelConfig.from_block(config_block)
    except CaError as exc:  # ChannelConfigError included
        return f"config block {number}: {exc}"


def _recorded_hash(database: Any, number: int) -> str | None:
    rows = database.execute(f"SELECT * FROM {BLOCKS_TABLE} AS b WHERE b.number = ?", number)
    return rows.values[0].get("header_hash") if rows.values else None


def _orderer_mspids(config: ChannelConfig) -> set[str]:
    orderer = config.config.channel_group.groups.get("Orderer")
    if orderer is None:
        return set()
    return {
        msp_from_channel_value(group.values["MSP"].value).mspid
        for group in orderer.groups.values()
        if "MSP" in group.values
    }


def _said(
    name: str, block: common_pb2.Block, blocks: list[common_pb2.Block], revision: Revision
) -> str:
    """What a passed check established, in one line."""
    number = block.header.number
    return {
        "block header hash": f"block {number} hashes to {block_header_hash(block.header).hex()}, "
        "as analytics recorded",
        "block data hash": f"block {number}'s data_hash covers its {len(block.data.data)} "
        "transaction(s)",
        "chain to the peer's tip": f"blocks {number} … {blocks[-1].header.number} chain by "
        "previous_hash",
        "transaction": f"transaction {revision.data[FABRIC]['txid']} (position "
        f"{revision.data[FABRIC]['position']}) is VALID and wrote this document",
    }[name]
