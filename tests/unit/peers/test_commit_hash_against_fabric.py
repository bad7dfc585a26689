"""The commit hash against real Fabric 2.5.12's: blocks 0–6 of the anchor network's
``mychannel`` as its org1 peer served them (genesis; two approvals and the commit of
``basic``, whose approvals are hashed writes to implicit collections; CreateAsset,
TransferAsset, DeleteAsset of the JavaScript asset-transfer-basic sample). Each block's
COMMIT_HASH recomputed from its own contents and the previous block's hash must be
the one Fabric recorded."""

from __future__ import annotations

import base64
import gzip
import json
from pathlib import Path

import pytest
from fabric_protos.common import common_pb2

from peers.commithash import block_commit_hash
from peers.ledger import _replayed_update
from proto.commithash import read_commit_hash

DATA = Path(__file__).resolve().parent / "data" / "fabric-2.5.12-blocks.json.gz"
BLOCKS = [
    common_pb2.Block.FromString(base64.b64decode(b))
    for b in json.loads(gzip.decompress(DATA.read_bytes()))
]


class _NoState:
    """None of these blocks writes metadata only, so no earlier value is needed."""

    def get(self, namespace: str, key: str) -> None:
        return None


def test_fabric_genesis_metadata() -> None:
    genesis = BLOCKS[0]
    assert genesis.metadata.metadata[common_pb2.SIGNATURES] == b"\n\x02\n\x00"
    assert read_commit_hash(genesis) == b""


@pytest.mark.parametrize("number", range(1, len(BLOCKS)))
def test_commit_hash_is_fabrics(number: int) -> None:
    block = BLOCKS[number]
    codes = block.metadata.metadata[common_pb2.TRANSACTIONS_FILTER]
    previous = read_commit_hash(BLOCKS[number - 1])
    ours = block_commit_hash(_replayed_update(block), _NoState(), codes, previous)
    assert ours == read_commit_hash(block)
