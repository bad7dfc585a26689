"""Fabric's policy language → the same protobufs Fabric's policydsl produces."""

from __future__ import annotations

import pytest
from fabric_protos.msp import msp_principal_pb2

from ca.errors import PolicyParseError
from ca.msp import Role
from ca.policy import from_string


def _principals(envelope) -> list[tuple[str, Role]]:
    out = []
    for p in envelope.identities:
        assert p.principal_classification == msp_principal_pb2.MSPPrincipal.ROLE
        role = msp_principal_pb2.MSPRole.FromString(p.principal)
        out.append((role.msp_identifier, Role(role.role)))
    return out


def test_nested_and_outof() -> None:
    env = from_string("AND('Org1.member', OutOf(2, 'Org2.peer', \"Org3.admin\", 'Org1.member'))")
    assert env.version == 0
    assert _principals(env) == [
        ("Org1", Role.MEMBER),
        ("Org2", Role.PEER),
        ("Org3", Role.ADMIN),
        ("Org1", Role.MEMBER),  # Fabric does not deduplicate principals
    ]
    assert env.rule.n_out_of.n == 2
    first, second = env.rule.n_out_of.rules
    assert first.signed_by == 0
    assert second.n_out_of.n == 2
    assert [r.signed_by for r in second.n_out_of.rules] == [1, 2, 3]


@pytest.mark.parametrize("gate", ["OR", "Or", "or"])
def test_or_is_one_of_in_fabrics_spellings(gate: str) -> None:
    env = from_string(f"{gate}('Org1MSP.client', 'Org2MSP.orderer')")
    assert env.rule.n_out_of.n == 1
    assert _principals(env) == [("Org1MSP", Role.CLIENT), ("Org2MSP", Role.ORDERER)]


def test_msp_ids_may_contain_dots() -> None:
    env = from_string("OutOf('1', 'org1.example.com.peer')")
    assert _principals(env) == [("org1.example.com", Role.PEER)]
    assert env.rule.n_out_of.n == 1 and env.rule.n_out_of.rules[0].signed_by == 0


def test_outof_may_ask_one_more_than_it_has_as_fabric_allows() -> None:
    assert from_string("OutOf(3, 'Org1.member', 'Org2.member')").rule.n_out_of.n == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("AND('Org1.member'", "expected close"),
        ("AND('Org1.boss')", "is not '<MSPID>"),
        ("OutOf('x', 'Org1.member')", "needs a whole number"),
        ("OutOf(4, 'Org1.member', 'Org2.member')", "t 4, n 2"),
        ("'Org1.member'", "must start with AND, OR or OutOf"),
        ("AND(Org1.member)", "unrecognized token 'Org1.member'"),
        ("aNd('Org1.member')", "must start with"),
        ("AND('Org1.member') junk", "unexpected 'junk'"),
        ("AND('Org1.member' ; )", "unexpected character"),
    ],
)
def test_bad_policy_text_says_where(text: str, message: str) -> None:
    with pytest.raises(PolicyParseError, match=message):
        from_string(text)
