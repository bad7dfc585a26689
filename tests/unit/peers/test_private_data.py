"""The transient store, collection configs and the commit of clear private data
(hash-checked, non-members keep only hashes, missing data recorded)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fabric_protos.ledger.rwset import rwset_pb2
from fabric_protos.ledger.rwset.kvrwset import kv_rwset_pb2
from fabric_protos.peer import collection_pb2
from fabric_protos.peer.lifecycle import lifecycle_pb2

from ca.policy import from_string
from chaincode.rwset import TxRWSet
from chaincode.state import Version
from peers.collections import CollectionError, collection_from_config, collections_of
from peers.lifecycle import (
    LIFECYCLE_NAMESPACE,
    ChaincodeDefinition,
    definition_key,
    encode_definition,
)
from peers.privatedata import resolve_private
from peers.transientstore import TransientStore
from peers.worldstate import BlockUpdate, WorldState


def _config(name: str, members: str, required: int = 0, maximum: int = 1):
    return collection_pb2.StaticCollectionConfig(
        name=name,
        member_orgs_policy=collection_pb2.CollectionPolicyConfig(
            signature_policy=from_string(members)
        ),
        required_peer_count=required,
        maximum_peer_count=maximum,
        block_to_live=3,
        member_only_read=True,
    )


def _package() -> collection_pb2.CollectionConfigPackage:
    return collection_pb2.CollectionConfigPackage(
        config=[
            collection_pb2.CollectionConfig(static_collection_config=config)
            for config in (
                _config("both", "OR('Org1MSP.member', 'Org2MSP.peer')"),
                _config("mine", "OR('Org1MSP.member')"),
            )
        ]
    )


def _private(namespace: str, collection: str, key: str, value: bytes):
    kv = kv_rwset_pb2.KVRWSet(writes=[kv_rwset_pb2.KVWrite(key=key, value=value)])
    return rwset_pb2.TxPvtReadWriteSet(
        ns_pvt_rwset=[
            rwset_pb2.NsPvtReadWriteSet(
                namespace=namespace,
                collection_pvt_rwset=[
                    rwset_pb2.CollectionPvtReadWriteSet(
                        collection_name=collection, rwset=kv.SerializeToString()
                    )
                ],
            )
        ]
    ), kv.SerializeToString()


def test_collections_name_member_orgs_and_counts() -> None:
    definition = ChaincodeDefinition(
        "cc", lifecycle_pb2.QueryChaincodeDefinitionResult(collections=_package())
    )
    found = collections_of(definition)
    assert found["both"].member_orgs == {"Org1MSP", "Org2MSP"}
    assert found["mine"].member_orgs == {"Org1MSP"}
    assert (found["both"].block_to_live, found["both"].member_only_read) == (3, True)
    with pytest.raises(CollectionError, match="collection bad: maximum_peer_count"):
        collection_from_config(_config("bad", "OR('Org1MSP.member')", required=2, maximum=1))


def test_transient_store_keeps_purges_and_ages_out(tmp_path: Path) -> None:
    store = TransientStore(tmp_path, retention=10)
    private, clear = _private("cc", "both", "k", b"v")
    assert store.put("tx1", 5, private) == ["cc/both"]
    store.put("tx2", 20, private)
    assert store.get("tx1", "cc", "both") == clear
    assert store.get("tx1", "cc", "other") is None
    store.purge(["tx1"])
    assert store.get("tx1", "cc", "both") is None
    assert store.purge_older_than(25) == 1  # tx1's index entry; tx2 is recent
    assert store.get("tx2", "cc", "both") == clear
    assert store.purge_older_than(31) == 1
    assert store.get("tx2", "cc", "both") is None
    store.close()


@pytest.fixture
def stores(tmp_path: Path):
    state = WorldState(tmp_path / "state")
    stored = lifecycle_pb2.QueryChaincodeDefinitionResult(collections=_package())
    update = BlockUpdate(number=0)
    rwset = TxRWSet()
    rwset.namespace(LIFECYCLE_NAMESPACE).writes[definition_key("cc")] = encode_definition(stored)
    update.writes.append((Version(0, 0), "deploy", rwset))
    state.commit_block(update)
    transient = TransientStore(tmp_path / "transient")
    yield state, transient
    state.close()
    transient.close()


def _expect(update: BlockUpdate, tx: int, collection: str, clear: bytes) -> None:
    digest = hashlib.sha256(clear).digest()
    update.expected_private.append((Version(1, tx), f"tx{tx}", "cc", collection, digest))


def test_commit_applies_matching_data_refuses_tampered_and_records_missing(stores) -> None:
    state, transient = stores
    good, good_clear = _private("cc", "both", "k1", b"v1")
    transient.put("tx0", 1, good)
    _, genuine = _private("cc", "both", "k2", b"genuine")
    forged, _ = _private("cc", "both", "k2", b"forged")
    transient.put("tx1", 1, forged)
    _, absent = _private("cc", "both", "k3", b"v3")
    _, theirs = _private("cc", "mine", "k4", b"v4")
    update = BlockUpdate(number=1)
    _expect(update, 0, "both", good_clear)
    _expect(update, 1, "both", genuine)
    _expect(update, 2, "both", absent)
    outcome = resolve_private("ch", "Org1MSP", update, state, transient)
    assert outcome.by_tx == {
        "tx0": {"cc/both": "transient"},
        "tx1": {"cc/both": "refused, missing"},
        "tx2": {"cc/both": "missing"},
    }
    state.commit_block(update)
    assert state.get_private("cc", "both", "k1").value == b"v1"
    assert state.get_private("cc", "both", "k2") is None
    assert sorted(state.missing_private()) == [
        (Version(1, 1), "cc", "both"),
        (Version(1, 2), "cc", "both"),
    ]
    assert list(state.private_rwsets(1)) == [0]

    # A non-member of "mine" keeps only hashes: nothing clear, nothing missing.
    other = BlockUpdate(number=2)
    _expect(other, 0, "mine", theirs)
    assert resolve_private("ch", "Org2MSP", other, state, transient).by_tx == {}
    assert (other.private_writes, other.missing_private) == ([], [])
