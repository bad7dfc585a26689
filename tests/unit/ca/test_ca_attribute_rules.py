"""Fabric CA's attribute rules and request-field checks, without a server."""

from __future__ import annotations

import pytest

from ca import attributes, requests
from ca.errors import CaRequestError
from ca.registry import Attribute, IdentityRecord


def registrar(*attrs: tuple[str, str]) -> IdentityRecord:
    return IdentityRecord(
        id="reg",
        type="client",
        affiliation="org1",
        attrs=tuple(Attribute(n, v) for n, v in attrs),
        max_enrollments=-1,
    )


@pytest.mark.parametrize(
    ("patterns", "name", "allowed"),
    [
        ("*", "anything", True),
        ("app.*", "app.role", True),
        ("app.*", "apple", False),
        ("a,b", "b", True),
        ("", "a", False),
    ],
)
def test_pattern_allows(patterns: str, name: str, allowed: bool) -> None:
    assert attributes.pattern_allows(patterns, name) is allowed


RULES = [
    # (registrar attributes, requested attribute, allowed)
    ((("hf.Registrar.Attributes", "*"),), ("app.x", "1"), True),
    ((("hf.Registrar.Attributes", "app.*"),), ("other", "1"), False),
    ((("hf.Registrar.Attributes", "*"), ("hf.Revoker", "true")), ("hf.Revoker", "true"), True),
    ((("hf.Registrar.Attributes", "*"),), ("hf.Revoker", "true"), False),
    ((("hf.Registrar.Attributes", "*"),), ("hf.Revoker", "false"), True),
    ((("hf.Registrar.Attributes", "*"),), ("hf.GenCRL", "maybe"), False),
    (
        (("hf.Registrar.Attributes", "*"), ("hf.Registrar.DelegateRoles", "client,peer")),
        ("hf.Registrar.Roles", "peer"),
        True,
    ),
    (
        (("hf.Registrar.Attributes", "*"), ("hf.Registrar.DelegateRoles", "client")),
        ("hf.Registrar.Roles", "client,orderer"),
        False,
    ),
    ((("hf.Registrar.Attributes", "app.*"),), ("hf.Registrar.Attributes", "app.*"), False),
    ((("hf.Registrar.Attributes", "*"),), ("hf.Registrar.Attributes", "app.*"), True),
]


@pytest.mark.parametrize(("owned", "wanted", "allowed"), RULES)
def test_registration_attribute_rules(owned, wanted, allowed: bool) -> None:
    attrs = (Attribute(*wanted),)
    if allowed:
        attributes.check_can_register_attributes(registrar(*owned), attrs)
    else:
        with pytest.raises(CaRequestError) as caught:
            attributes.check_can_register_attributes(registrar(*owned), attrs)
        assert (caught.value.status, caught.value.code) == (403, 71)


def test_certificate_attributes_choice() -> None:
    record = IdentityRecord(
        "u", "client", "", (Attribute("a", "1", True), Attribute("b", "2", False)), -1
    )
    assert attributes.certificate_attributes(record, None) == {"a": "1"}
    assert attributes.certificate_attributes(record, [{"name": "b"}]) == {"b": "2"}
    assert attributes.certificate_attributes(record, [{"name": "c", "optional": True}]) is None
    with pytest.raises(CaRequestError, match="'c' was requested"):
        attributes.certificate_attributes(record, [{"name": "c"}])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "Empty request body"),
        (b"[]", "not a JSON object"),
        (b"{", "Invalid request body"),
    ],
)
def test_request_bodies(body: bytes, message: str) -> None:
    with pytest.raises(CaRequestError, match=message):
        requests.json_object(body)


def test_request_fields_name_the_field() -> None:
    with pytest.raises(CaRequestError, match="'id' must be a string"):
        requests.opt_str({"id": 5}, "id")
    with pytest.raises(CaRequestError, match="'hosts' must be a string list"):
        requests.opt_list_of_str({"hosts": ["a", 1]}, "hosts")
    with pytest.raises(CaRequestError, match="attrs\\[0\\]"):
        attributes.requested_attributes({"attrs": [{"value": "x"}]})
    with pytest.raises(CaRequestError, match="set by the CA"):
        attributes.requested_attributes({"attrs": [{"name": "hf.Type", "value": "peer"}]})
    assert requests.revocation_reason({"reason": "KeyCompromise"}) == 1
    assert requests.normalize_hex("00AB") == "ab"
