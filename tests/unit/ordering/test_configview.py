"""`channel config` shows a channel's config decoded: values by name, policies as typed."""

from pathlib import Path

import pytest
from fabric_protos.common import policies_pb2

from ca.channelconfig import ChannelConfig
from ca.configview import describe, policy_text
from ca.policy import from_string, implicit_meta
from ordering.blockcutter import BatchSize
from ordering.configtx import genesis_block, load_profile, with_batch


@pytest.mark.parametrize(
    "rule",
    [
        "OR('Org1MSP.admin')",
        "AND('Org1MSP.peer', 'Org2MSP.peer')",
        "OutOf(2, 'A.peer', 'B.peer', 'C.member')",
        "OR(AND('A.client', 'B.peer'), 'C.orderer')",
    ],
)
def test_signature_policies_are_written_as_typed(rule: str) -> None:
    policy = policies_pb2.Policy(
        type=policies_pb2.Policy.SIGNATURE, value=from_string(rule).SerializeToString()
    )
    assert policy_text(policy) == rule


def test_implicit_meta_policies_read_as_rule_and_sub_policy() -> None:
    assert policy_text(implicit_meta("MAJORITY", "Endorsement")) == "MAJORITY Endorsement"


def test_a_genesis_config_decodes(profile_path: Path) -> None:
    config = ChannelConfig.from_block(genesis_block(load_profile(profile_path), "mychannel"))
    tree = describe(config.config)
    orderer = tree["Channel"]["groups"]["Orderer"]
    assert orderer["values"]["BatchTimeout"] == "250ms"
    assert orderer["values"]["BatchSize"]["max_message_count"] == 50
    assert orderer["groups"]["OrdererMSP"]["values"]["Endpoints"] == ["127.0.0.1:7050"]
    application = tree["Channel"]["groups"]["Application"]
    assert application["policies"]["Endorsement"] == "MAJORITY Endorsement"
    org1 = application["groups"]["Org1MSP"]
    assert org1["values"]["AnchorPeers"] == ["127.0.0.1:7051"]
    assert org1["values"]["MSP"]["name"] == "Org1MSP" and org1["values"]["MSP"]["node_ous"]
    assert application["groups"]["Org2MSP"]["policies"]["Writers"] == (
        "OR('Org2MSP.client', 'Org2MSP.admin')"
    )


def test_with_batch_changes_only_the_batch_values(profile_path: Path) -> None:
    config = ChannelConfig.from_block(genesis_block(load_profile(profile_path), "mychannel"))
    updated = ChannelConfig.from_config(
        "mychannel", with_batch(config.config, BatchSize(3, 1024 * 1024, 1024), "5s")
    )
    assert (updated.batch_timeout, updated.batch_size.max_message_count) == ("5s", 3)
    before, after = describe(config.config), describe(updated.config)
    for tree in (before, after):
        del tree["Channel"]["groups"]["Orderer"]["values"]["BatchSize"]
        del tree["Channel"]["groups"]["Orderer"]["values"]["BatchTimeout"]
    assert before == after
