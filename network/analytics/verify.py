"""``consortium analytics verify``: a key's document checked both ways.

In ledgerdb: the key's latest revision, its revision proof, and that proof folded up to
the database's digest (QLDB's verification). Back to Fabric: the block the revision names,
as the member's peer serves it, has the header hash the ``blocks`` table recorded and a
data hash that covers its envelopes; every later block chains to it up to the peer's tip;
and its transaction at the revision's position is VALID, has the revision's txid and
writes exactly the document. Each check is one ``Step``; a failed one says what differs.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fabric_protos.common import common_pb2
from fabric_protos.peer import events_pb2_grpc

from ledgerdb.errors import VerificationError
from ledgerdb.export import to_json
from ledgerdb.revision_proof import verify_revision_proof
from network.analytics.rows import BLOCKS_TABLE, FABRIC, block_rows, table_name
from network.analytics.store import quoted
from network.gateway_client import GatewayClient
from proto.blockhash import block_data_hash, block_header_hash
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


async def peer_blocks(client: GatewayClient, channel: str, first: int) -> list[common_pb2.Block]:
    """Blocks ``first`` … the peer's newest, as its Deliver serves them."""
    seek = build_seek_envelope(client.signer, channel, first, NEWEST)
    stub = events_pb2_grpc.DeliverStub(client.channel)
    found = []
    async for response in stub.Deliver(iter([seek])):
        if response.WhichOneof("Type") != "block":
            break
        found.append(response.block)
    return found


def fabric_steps(
    database: Any, revision: Revision, chaincode: str, key: str, blocks: list[common_pb2.Block]
) -> list[Step]:
    """The revision's Fabric block checked against the analytics ``blocks`` row and the
    peer's chain; its transaction checked against the revision."""
    number = revision.block
    if not blocks or blocks[0].header.number != number:
        return [Step("peer block", False, f"the peer did not serve block {number}")]
    block = blocks[0]
    rows = database.execute(f"SELECT * FROM {BLOCKS_TABLE} AS b WHERE b.number = ?", number)
    row = rows.values[0] if rows.values else {}
    header_hash = block_header_hash(block.header).hex()
    checks: list[tuple[str, Callable[[], str | None]]] = [
        ("block header hash", lambda: _same(row.get("header_hash"), header_hash, number)),
        ("block data hash", lambda: _data_hash(block)),
        ("chain to the peer's tip", lambda: _chain(blocks)),
        ("transaction", lambda: _transaction(block, revision, chaincode, key)),
    ]
    steps = []
    for name, check in checks:
        problem = check()
        steps.append(Step(name, problem is None, problem or _said(name, block, blocks, revision)))
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
