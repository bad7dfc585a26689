"""What `chaincode deploy` and the lifecycle commands read from the user: collections files
(Fabric's collections_config.json) and policies, each mistake named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ca.errors import CaError
from network.chaincode_deploy import application_policy, collections_from_file, policy_text


def _file(tmp_path: Path, entries) -> Path:
    path = tmp_path / "collections.json"
    path.write_text(json.dumps(entries))
    return path


def test_a_fabric_collections_file_becomes_the_definition_package(tmp_path: Path) -> None:
    package = collections_from_file(
        _file(
            tmp_path,
            [
                {
                    "name": "secrets",
                    "policy": "OR('Org1MSP.member')",
                    "requiredPeerCount": 0,
                    "maxPeerCount": 3,
                    "blockToLive": 10,
                    "memberOnlyRead": True,
                    "memberOnlyWrite": False,
                }
            ],
        )
    )
    (config,) = package.config
    static = config.static_collection_config
    assert (static.name, static.maximum_peer_count, static.block_to_live) == ("secrets", 3, 10)
    assert static.member_only_read and not static.member_only_write
    assert not static.HasField("endorsement_policy")


def test_a_collection_s_endorsement_policy_is_kept(tmp_path: Path) -> None:
    """Fabric's collection-level endorsementPolicy, either form."""
    entries = [
        {
            "name": "a",
            "policy": "OR('A.member')",
            "endorsementPolicy": {"signaturePolicy": "AND('A.peer', 'B.peer')"},
        },
        {
            "name": "b",
            "policy": "OR('A.member')",
            "endorsementPolicy": {"channelConfigPolicy": "Channel/Application/Writers"},
        },
    ]
    first, second = (
        c.static_collection_config.endorsement_policy
        for c in collections_from_file(_file(tmp_path, entries)).config
    )
    assert first == application_policy("AND('A.peer', 'B.peer')")
    assert second.channel_config_policy_reference == "/Channel/Application/Writers"


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"name": "x"}, "must be a JSON list"),
        ([{"name": "x"}], r"collections\.json\[0\]: needs at least name and policy"),
        ([{"name": "x", "policy": "OR("}], r"\[0\]\.policy"),
        ([{"name": "x", "policy": "OR('A.member')", "maxPeerCount": -1}], "maxPeerCount"),
        ([{"name": "x", "policy": "OR('A.member')", "colour": 1}], "colour: unknown field"),
        (
            [{"name": "x", "policy": "OR('A.member')", "endorsementPolicy": "OR('A.peer')"}],
            r"\[0\]\.endorsementPolicy: must hold one of signaturePolicy, channelConfigPolicy",
        ),
        (
            [
                {
                    "name": "x",
                    "policy": "OR('A.member')",
                    "endorsementPolicy": {"signaturePolicy": "OR("},
                }
            ],
            r"endorsementPolicy\.signaturePolicy",
        ),
    ],
)
def test_a_bad_collections_file_is_named(tmp_path: Path, entries, message: str) -> None:
    with pytest.raises(CaError, match=message):
        collections_from_file(_file(tmp_path, entries))


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("AND('Org1MSP.peer', 'Org2MSP.peer')", "AND('Org1MSP.peer', 'Org2MSP.peer')"),
        ("OR('Org1MSP.peer')", "OR('Org1MSP.peer')"),
        ("OutOf(2, 'A.peer', 'B.member', 'C.admin')", "OutOf(2, 'A.peer', 'B.member', 'C.admin')"),
        ("MAJORITY", "/Channel/Application/Endorsement"),
    ],
)
def test_a_committed_policy_reads_as_it_was_written(written: str, shown: str) -> None:
    assert policy_text(application_policy(written)) == shown
