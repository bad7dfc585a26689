"""Our request shapes against botocore's copy of AMB's model, constraint by constraint."""

from __future__ import annotations

import botocore.loaders
import pytest

from network.controlplane import request_shapes as shapes
from network.controlplane.errors import InvalidRequestException

MODEL = botocore.loaders.Loader().load_service_model("managedblockchain", "service-2")["shapes"]
NAMED = {
    name: value
    for name, value in vars(shapes).items()
    if isinstance(value, shapes.Str | shapes.Int) and name in MODEL
}


def test_every_named_shape_is_checked() -> None:
    assert len(NAMED) >= 30


@pytest.mark.parametrize("name", sorted(NAMED))
def test_constraints_match_the_model(name: str) -> None:
    ours, model = NAMED[name], MODEL[name]
    assert ours.min == model.get("min"), "min"
    assert ours.max == model.get("max"), "max"
    if isinstance(ours, shapes.Str):
        assert ours.pattern == model.get("pattern"), "pattern"
        assert ours.enum == (tuple(model["enum"]) if "enum" in model else None), "enum"


@pytest.mark.parametrize(
    ("name", "struct"),
    [
        ("CreateNetworkInput", shapes.CreateNetworkInput),
        ("CreateMemberInput", shapes.CreateMemberInput),
        ("CreateNodeInput", shapes.CreateNodeInput),
        ("CreateProposalInput", shapes.CreateProposalInput),
        ("VoteOnProposalInput", shapes.VoteOnProposalInput),
        ("MemberConfiguration", shapes.MemberConfiguration),
        ("MemberFabricConfiguration", shapes.MemberFabricConfiguration),
        ("NodeConfiguration", shapes.NodeConfiguration),
    ],
)
def test_body_members_and_required_match(name: str, struct: shapes.Struct) -> None:
    model = MODEL[name]
    body = {m for m, spec in model["members"].items() if "location" not in spec}
    assert set(struct.members) == body
    required = {m for m in model.get("required", []) if m in body}
    assert set(struct.required) == required


def test_errors_name_the_field_path() -> None:
    body = {
        "ClientRequestToken": "t",
        "InvitationId": "in-1",
        "MemberConfiguration": {
            "Name": "ok",
            "FrameworkConfiguration": {"Fabric": {"AdminUsername": "admin", "AdminPassword": "x"}},
        },
    }
    with pytest.raises(InvalidRequestException) as excinfo:
        shapes.CreateMemberInput.check(body, "")
    assert "'MemberConfiguration.FrameworkConfiguration.Fabric.AdminPassword'" in str(excinfo.value)
    assert "length greater than or equal to 8" in str(excinfo.value)


@pytest.mark.parametrize(
    ("shape", "value", "ok"),
    [
        (shapes.NetworkMemberNameString, "org-1", True),
        (shapes.NetworkMemberNameString, "org--1", False),
        (shapes.NetworkMemberNameString, "org1-", False),
        (shapes.NetworkMemberNameString, "1org", False),
        (shapes.PasswordString, "Password123", True),
        (shapes.PasswordString, "Password@123", False),
        (shapes.PasswordString, "password123", False),
        (shapes.UsernameString, "admin1", True),
        (shapes.UsernameString, "ad-min", False),
        (shapes.NameString, " x ", True),
        (shapes.NameString, "  ", False),
        (shapes.ThresholdPercentageInt, 100, True),
        (shapes.ThresholdPercentageInt, 101, False),
        (shapes.ThresholdPercentageInt, True, False),
        (shapes.ProposalDurationInt, "5", True),
        (shapes.ProposalDurationInt, "five", False),
    ],
)
def test_patterns_and_ranges(shape: object, value: object, ok: bool) -> None:
    if ok:
        shape.check(value, "field")
    else:
        with pytest.raises(InvalidRequestException):
            shape.check(value, "field")
