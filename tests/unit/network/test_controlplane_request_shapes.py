"""Our request shapes against botocore's copy of AMB's model, constraint by constraint."""

from __future__ import annotations

import re
from pathlib import Path

import botocore.loaders
import pytest

from network.controlplane import request_shapes as shapes
from network.controlplane.errors import InvalidRequestException
from network.controlplane.operations import OPERATIONS
from tests.support import amb_model

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
        *((shapes.PasswordString, password, False) for password in amb_model.BAD_PASSWORDS),
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


# ---- every field of every operation, from the model ---------------------------------------

OURS = {operation.name: operation for operation in OPERATIONS}


def test_every_operation_of_the_model_is_served_on_its_route() -> None:
    for name in amb_model.SERVED:
        http = amb_model.MODEL["operations"][name]["http"]
        route = re.sub(r":[^}]*}", "}", OURS[name].path)  # {resourceArn:.+} is {resourceArn}
        assert (OURS[name].method, route) == (http["method"], http["requestUri"]), name


@pytest.mark.parametrize("name", amb_model.SERVED)
def test_shape_tree_matches_the_model(name: str) -> None:
    """Our input shape, member by member and all the way down, is the model's."""
    model = amb_model.input_shape(name)
    members = {
        spec.get("locationName", member): spec["shape"]
        for member, spec in model["members"].items()
        if spec.get("location") != "uri"
    }
    ours = OURS[name].shape
    if not members:
        assert ours is None
        return
    assert ours is not None
    assert set(ours.members) == set(members)
    wire = {spec.get("locationName", m): m for m, spec in model["members"].items()}
    assert {wire[m] for m in ours.required} == {
        m for m in model.get("required", []) if model["members"][m].get("location") != "uri"
    }
    for member, shape_name in members.items():
        _same(ours.members[member], shape_name, f"{name}.{member}")
    for member, spec in model["members"].items():
        if spec.get("location") == "uri":
            path_shape = shapes.PATH_SHAPES.get(spec["locationName"], shapes.ResourceIdString)
            _same(path_shape, spec["shape"], f"{name}.{member}")


def _same(ours: object, shape_name: str, where: str) -> None:
    model = amb_model.SHAPES[shape_name]
    kind = model["type"]
    if kind == "structure":
        assert isinstance(ours, shapes.Struct), where
        assert set(ours.members) == set(model["members"]), where
        assert set(ours.required) == set(model.get("required", [])), where
        for member, spec in model["members"].items():
            _same(ours.members[member], spec["shape"], f"{where}.{member}")
    elif kind == "list":
        assert isinstance(ours, shapes.ListOf), where
        assert (ours.min, ours.max) == (model.get("min"), model.get("max")), where
        _same(ours.member, model["member"]["shape"], f"{where}[]")
    elif kind == "map":
        assert isinstance(ours, shapes.MapOf), where
        assert (ours.min, ours.max) == (model.get("min"), model.get("max")), where
        _same(ours.key, model["key"]["shape"], f"{where}.key")
        _same(ours.value, model["value"]["shape"], f"{where}.value")
    else:
        expected = {"string": shapes.Str, "integer": shapes.Int, "boolean": shapes.Bool}[kind]
        assert isinstance(ours, expected), where
        for constraint in ("min", "max", "pattern", "enum"):
            mine = getattr(ours, constraint, None)
            theirs = model.get(constraint)
            assert mine == (tuple(theirs) if constraint == "enum" and theirs else theirs), (
                f"{where}: {constraint}"
            )


def _checked(name: str, request: dict) -> None:
    """What the REST layer does before an operation runs: path ids, then the input."""
    operation = OURS[name]
    model = amb_model.input_shape(name)["members"]
    payload = {}
    for member, value in request.items():
        spec = model[member]
        if spec.get("location") == "uri":
            shapes.check_path_id(spec["locationName"], value)
        else:
            payload[spec.get("locationName", member)] = value
    operation.check(payload)


@pytest.mark.parametrize("name", amb_model.SERVED)
def test_every_constraint_of_every_field_is_enforced(name: str) -> None:
    """Each field broken alone, each way the model allows: refused, naming the field."""
    _checked(name, amb_model.valid(amb_model.MODEL["operations"][name]["input"]["shape"]))
    tried = 0
    for field, constraint, value in amb_model.cases(name):
        with pytest.raises(InvalidRequestException) as excinfo:
            _checked(name, amb_model.request(name, field, value))
        assert f"'{field.wire}" in str(excinfo.value), (str(field), constraint)
        tried += 1
    assert tried >= 2


@pytest.mark.parametrize("key", ["aws:owner", "AWS:x", "Aws:"])
def test_a_tag_may_not_use_the_reserved_prefix(key: str) -> None:
    with pytest.raises(InvalidRequestException, match=r"Tags\.key"):
        shapes.TagResourceInput.check({"Tags": {key: "v"}}, "")
    with pytest.raises(InvalidRequestException, match="reserved"):
        shapes.TagResourceInput.check({"Tags": {"k": key}}, "")


def test_the_documented_audit_table_is_the_model_s() -> None:
    doc = Path(__file__).parents[3] / "docs" / "controlplane.md"
    rows = [line for line in doc.read_text().splitlines() if line.startswith("|")]
    table = amb_model.audit_table()
    start = rows.index(table[0])
    assert rows[start : start + len(table)] == table, (
        "docs/controlplane.md's audit table is stale: paste tests.support.amb_model.audit_table()"
    )
