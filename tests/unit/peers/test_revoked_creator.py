"""Revocation reaching validation: once a channel config carries the member's CRL (put
there by ``with_revocation_list``, what ``consortium ca revoke --member`` sends), the
revoked creator's transaction is ``BAD_CREATOR_SIGNATURE``, Fabric's code for a creator
whose identity does not validate; the member's other identities stay valid."""

from __future__ import annotations

from pathlib import Path

from fabric_protos.common import common_pb2

from ca.channelconfig import ChannelConfig
from chaincode.rwset import TxRWSet
from network.supervisor.revocation import with_revocation_list
from peers.lifecycle import read_definition
from peers.validation import BlockValidator
from peers.worldstate import BlockUpdate, WorldState
from proto.envelope import parse_block
from tests.support.channel import ChannelFixture, define
from tests.support.orderer import CHANNEL


def test_a_revoked_creator_s_transaction_is_bad_creator_signature(tmp_path: Path) -> None:
    channel = ChannelFixture(tmp_path / "channel")
    org1 = channel.orgs["Org1MSP"]
    mallory, user = org1.identity("mallory", "client"), channel.clients["Org1MSP"]
    org1.revoke(mallory)
    genesis = ChannelConfig.from_block(channel.genesis)
    revoked = ChannelConfig.from_config(
        CHANNEL, with_revocation_list(genesis.config, "Org1MSP", org1.crls[-1])
    )
    assert revoked.msps.get("Org1MSP").config.crls == (org1.crls[-1],)
    assert revoked.msps.get("Org2MSP").config.crls == genesis.msps.get("Org2MSP").config.crls

    state = WorldState(tmp_path / "state")
    state.commit_block(BlockUpdate(0))
    define(state)
    rwset = TxRWSet()
    rwset.namespace("basic").writes["a"] = b"1"
    envelopes = [channel.transaction(rwset, client=c) for c in (mallory, user)]
    block = common_pb2.Block(
        data=common_pb2.BlockData(data=[e.SerializeToString() for e in envelopes])
    )

    def codes(config: ChannelConfig) -> list[str]:
        validator = BlockValidator(config, state, lambda name: read_definition(state, name))
        return [v.code_name for v in validator.validate_block(1, parse_block(block))[0]]

    assert codes(genesis) == ["VALID", "VALID"]
    assert codes(revoked) == ["BAD_CREATOR_SIGNATURE", "VALID"]
    state.close()
