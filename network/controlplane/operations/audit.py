"""Reads that show the ledger itself, beyond AMB's API: PartiQL and verifiable history.

Both exist so a member need not trust the control plane's word: a query sees the
governance tables (and their revisions) as the caller may, and a proposal's history
carries each revision with its block and a proof against the ledger digest, which the
client checks (``network/controlplane/client.py``).
"""

from __future__ import annotations

import base64
from typing import Any

from ledgerdb.block import encode
from network.controlplane import request_shapes as shapes
from network.controlplane.errors import InvalidRequestException, ResourceNotFoundException
from network.controlplane.ledger import Revision
from network.controlplane.operations.base import Call, Read
from network.controlplane.operations.common import networks_of, visible_network
from network.controlplane.query import run_query, visibility


class _Values:
    """PartiQL parameters: a JSON list of values, passed on as they are."""

    def check(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise InvalidRequestException(f"{path} must be a list of values.")
        return value


QUERY_INPUT = shapes.Struct(
    {"Statement": shapes.Str(min=1, max=4096), "Parameters": _Values()},
    required=("Statement",),
)


def query(call: Call) -> dict[str, Any]:
    """A read-only PartiQL statement over the caller's view of the governance tables."""
    visible = visibility(call.caller, networks_of(call.txn, call.caller))
    statement, parameters = call.params["Statement"], call.params.get("Parameters", [])
    return {"Values": run_query(call.txn.transaction, visible, statement, parameters)}


def history(call: Call, proposal_id: str) -> dict[str, Any]:
    """The proposal's revisions and every vote, each with the evidence that proves it."""
    txn = call.txn
    proposal = txn.get("proposals", proposal_id)
    if proposal is None:
        raise ResourceNotFoundException(f"Proposal {proposal_id} not found.")
    visible_network(call, proposal["NetworkId"])
    document_id = txn.document_id("proposals", proposal_id)
    votes = [doc_id for doc_id, _, _ in txn.in_order("votes", "ProposalId", proposal_id)]
    revisions = txn.revisions("proposals", [document_id]) + txn.revisions("votes", votes)
    digest = call.env.database.digest()
    tip = digest.tip.sequence_no
    return {
        "ProposalId": proposal_id,
        "NetworkId": proposal["NetworkId"],
        "Digest": base64.b64encode(digest.digest).decode(),
        "DigestTip": tip,
        "Entries": _evidence(call, revisions, tip),
    }


def _evidence(call: Call, revisions: list[Revision], tip: int) -> list[dict[str, Any]]:
    """Each revision with its block and the block's proof up to ``tip`` (one per block)."""
    blocks: dict[int, tuple[str, list[str]]] = {}
    entries = []
    for revision in revisions:
        if revision.sequence_no not in blocks:
            block, proof = call.env.database.get_block(revision.sequence_no, tip)
            blocks[revision.sequence_no] = (
                base64.b64encode(encode(block)).decode(),
                [base64.b64encode(h).decode() for h in proof],
            )
        encoded, proof_hashes = blocks[revision.sequence_no]
        entries.append(
            {
                "Table": revision.table,
                "DocumentId": revision.document_id,
                "Version": revision.version,
                "Document": revision.document,
                "SequenceNo": revision.sequence_no,
                "Block": encoded,
                "Proof": proof_hashes,
            }
        )
    return entries


OPERATIONS = (
    Read("Query", "POST /governance/query", query, QUERY_INPUT),
    Read("History", "GET /proposals/{proposalId}/history", history),
)
