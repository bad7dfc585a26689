"""Every constraint of every field of every AMB operation, sent with boto3 to a real
``consortium node run control-plane``: each broken field alone is refused with AMB's
InvalidRequestException (HTTP 400) naming the field, and nothing is written.

The cases come from botocore's model (``tests/support/amb_model.py``), so a field the
model constrains cannot be missed. boto3 is told not to validate, as a user of another
SDK or of plain HTTP would not: the server is the one that must refuse. Two kinds of
case cannot be sent and are left to the unit test: an empty path member (the URL then
names another route) and a missing ClientRequestToken (every SDK fills one in).
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.test_controlplane_api import STATUS, account, expect, network_request
from tests.integration.test_controlplane_server import (
    ControlPlaneProcess,
    client,
    create_network,
    member_config,
    server,  # noqa: F401 - a fixture
)
from tests.support import amb_model


def unvalidated(url: str, caller: str) -> Any:
    return boto3.client(
        "managedblockchain",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=caller,
        aws_secret_access_key="any",
        config=Config(retries={"total_max_attempts": 1}, parameter_validation=False),
    )


@pytest.mark.parametrize("name", amb_model.SERVED)
def test_each_broken_field_is_refused_naming_it(
    server: ControlPlaneProcess,  # noqa: F811
    name: str,
) -> None:
    api = unvalidated(server.url, account())
    call = getattr(api, _python(name))
    tip = server.internal("/ping")["LedgerTip"]
    tried = 0
    for field, constraint, value in amb_model.cases(name):
        if not amb_model.sendable(name, field, constraint):
            continue
        request = amb_model.request(name, field, value)
        with pytest.raises(ClientError) as excinfo:
            call(**request)
        error = excinfo.value.response
        where = f"{name} {field} {constraint}: {error['Error']}"
        assert error["Error"]["Code"] == "InvalidRequestException", where
        assert error["ResponseMetadata"]["HTTPStatusCode"] == STATUS["InvalidRequestException"]
        assert f"'{field.wire}" in error["Error"]["Message"], where
        tried += 1
    assert tried >= 1
    assert server.internal("/ping")["LedgerTip"] == tip  # nothing written
    assert api.list_networks()["Networks"] == []  # and the process still serves


def _python(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


def test_rules_only_the_reference_text_states(server: ControlPlaneProcess) -> None:  # noqa: F811
    """Beyond the model: a Fabric version AMB offers, HYPERLEDGER_FABRIC only, a whole
    voting policy, an Edition, an account id as invitee, no ``aws:`` tags; and each
    operation's error type is one its reference lists."""
    owner_account = account()
    owner = client(server.url, owner_account)
    network_id, member_id = create_network(owner)
    network_arn = owner.get_network(NetworkId=network_id)["Network"]["Arn"]
    tip = server.internal("/ping")["LedgerTip"]
    base = network_request()
    refusals = [
        ({"FrameworkVersion": "2.5"}, "FrameworkVersion"),
        ({"Framework": "ETHEREUM"}, "Framework"),
        ({"FrameworkConfiguration": {}}, "FrameworkConfiguration.Fabric.Edition"),
        (
            {"VotingPolicy": {"ApprovalThresholdPolicy": {"ThresholdPercentage": 50}}},
            "ProposalDurationInHours",
        ),
        ({"Tags": {"aws:team": "x"}}, "Tags.key"),
    ]
    for change, field in refusals:
        message = expect("InvalidRequestException", owner.create_network, **{**base, **change})
        assert field in message, (change, message)
    raw = unvalidated(server.url, owner_account)
    for password in amb_model.BAD_PASSWORDS:  # each of the reference's password rules
        fabric = {"AdminUsername": "admin", "AdminPassword": password}
        config = {"Name": "org1", "FrameworkConfiguration": {"Fabric": fabric}}
        message = expect(
            "InvalidRequestException", raw.create_network, **{**base, "MemberConfiguration": config}
        )
        assert "'MemberConfiguration.FrameworkConfiguration.Fabric.AdminPassword'" in message
    message = expect(
        "InvalidRequestException", owner.tag_resource, ResourceArn=network_arn, Tags={"k": "AWS:v"}
    )
    assert "'Tags.k'" in message
    message = expect(
        "InvalidRequestException",
        owner.create_proposal,
        NetworkId=network_id,
        MemberId=member_id,
        Actions={"Invitations": [{"Principal": "12345"}]},
    )
    assert "Actions.Invitations.1.Principal" in message
    # errors AMB lists for these operations: no ResourceNotFoundException for lists
    expect("AccessDeniedException", owner.list_members, NetworkId="n-DOESNOTEXIST")
    expect("AccessDeniedException", owner.list_nodes, NetworkId="n-DOESNOTEXIST")
    message = expect(
        "InvalidRequestException",
        owner.list_proposal_votes,
        NetworkId=network_id,
        ProposalId="p-DOESNOTEXIST",
    )
    assert "proposalId" in message
    assert server.internal("/ping")["LedgerTip"] == tip
    assert [n["Id"] for n in owner.list_networks()["Networks"]] == [network_id]
    assert owner.list_tags_for_resource(ResourceArn=network_arn)["Tags"] == {}
    # the reference text over the model: KmsKeyArn "" (min 1 in the model) is the AWS
    # owned key, which the member and its nodes then show, as AMB does (boto3's own
    # validation follows the model and would not send it)
    keyless = {**member_config("org1"), "KmsKeyArn": ""}
    created = raw.create_network(**{**base, "Name": "keyless", "MemberConfiguration": keyless})
    other_network, other_member = created["NetworkId"], created["MemberId"]
    member = owner.get_member(NetworkId=other_network, MemberId=other_member)["Member"]
    assert member["KmsKeyArn"] == "AWS Owned KMS Key"
    node_id = owner.create_node(
        NetworkId=other_network,
        MemberId=other_member,
        NodeConfiguration={"InstanceType": "bc.t3.small"},
    )["NodeId"]
    node = owner.get_node(NetworkId=other_network, NodeId=node_id)["Node"]
    assert node["KmsKeyArn"] == "AWS Owned KMS Key"
