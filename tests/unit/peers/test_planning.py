"""Endorsement planning picks the smallest set of organizations the policy needs."""

from pathlib import Path

import pytest
from fabric_protos.peer import policy_pb2

from ca.channelconfig import ChannelConfig
from ca.policy import from_string
from peers.planning import NoEndorsementPlan, plan
from tests.support.channel import ChannelFixture


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> ChannelConfig:
    channel = ChannelFixture(Path(tmp_path_factory.mktemp("plan")))
    return ChannelConfig.from_block(channel.genesis)


def signature(rule: str) -> policy_pb2.ApplicationPolicy:
    return policy_pb2.ApplicationPolicy(signature_policy=from_string(rule))


ORGS = ["Org1MSP", "Org2MSP"]


@pytest.mark.parametrize(
    ("policy", "local", "expected"),
    [
        (signature("AND('Org1MSP.peer', 'Org2MSP.peer')"), "Org1MSP", ["Org1MSP", "Org2MSP"]),
        (signature("OR('Org1MSP.peer', 'Org2MSP.peer')"), "Org2MSP", ["Org2MSP"]),
        (signature("OR('Org1MSP.member')"), "Org2MSP", ["Org1MSP"]),
        (signature("OutOf(1, 'Org1MSP.peer', 'Org2MSP.peer')"), "Org1MSP", ["Org1MSP"]),
        # The channel default: MAJORITY of the two organizations' Endorsement policies.
        (policy_pb2.ApplicationPolicy(), "Org1MSP", ["Org1MSP", "Org2MSP"]),
        (
            policy_pb2.ApplicationPolicy(
                channel_config_policy_reference="/Channel/Application/Writers"
            ),
            "Org2MSP",
            ["Org2MSP"],
        ),
    ],
)
def test_smallest_plan(policy, local: str, expected: list[str], config: ChannelConfig) -> None:
    assert plan(policy, config, local, ORGS) == expected


def test_unreachable_or_unsatisfiable_policies_are_refused(config: ChannelConfig) -> None:
    with pytest.raises(NoEndorsementPlan, match="no combination"):
        plan(signature("AND('Org1MSP.peer', 'Org2MSP.peer')"), config, "Org1MSP", ["Org1MSP"])
    with pytest.raises(NoEndorsementPlan):
        plan(signature("OR('Org1MSP.admin')"), config, "Org1MSP", ORGS)
