"""Policy evaluation table: signature policies, duplicate signers, implicit-meta trees."""

from __future__ import annotations

import pytest
from fabric_protos.common import configtx_pb2

from ca.errors import PolicyError
from ca.msp import MspManager
from ca.policy import (
    PolicyGroup,
    SignedData,
    evaluate,
    from_string,
    implicit_meta,
    policy_group_from_config,
    require,
    signature_policy,
)
from tests.support.ca_pki import make_org

DATA = b"the bytes everyone signs"


@pytest.fixture(scope="module")
def orgs():
    return {name: make_org(name) for name in ("Org1", "Org2", "Org3")}


@pytest.fixture(scope="module")
def people(orgs):
    o1, o2, o3 = orgs["Org1"], orgs["Org2"], orgs["Org3"]
    return {
        "o1client": o1.identity("c1", "client"),
        "o1client2": o1.identity("c1b", "client"),
        "o1peer": o1.identity("p1", "peer"),
        "o1admin": o1.identity("a1", "admin"),
        "o2peer": o2.identity("p2", "peer"),
        "o2admin": o2.identity("a2", "admin"),
        "o3admin": o3.identity("a3", "admin"),
        "o3orderer": o3.identity("o3", "orderer"),
    }


@pytest.fixture(scope="module")
def manager(orgs):
    return MspManager(org.msp() for org in orgs.values())


def sig(signer, data: bytes = DATA) -> SignedData:
    return SignedData(data=DATA, identity=signer.creator, signature=signer.sign(data))


TABLE = [
    ("OR('Org1.member')", ["o1client"], True),
    ("OR('Org1.member')", ["o2peer"], False),
    ("OR('Org1.peer')", ["o1client"], False),
    ("OR('Org1.admin')", ["o1admin"], True),
    ("OR('Org1.client')", ["o1admin"], False),
    ("AND('Org1.member', 'Org2.member')", ["o1peer", "o2peer"], True),
    ("AND('Org1.member', 'Org2.member')", ["o1peer"], False),
    # One identity signing twice counts once.
    ("AND('Org1.member', 'Org1.member')", ["o1client", "o1client"], False),
    ("AND('Org1.member', 'Org1.member')", ["o1client", "o1client2"], True),
    # One identity cannot satisfy two principals even if it holds both roles.
    ("AND('Org1.admin', 'Org1.member')", ["o1admin"], False),
    ("AND('Org1.admin', 'Org1.member')", ["o1admin", "o1client"], True),
    ("OR('Org1.peer', 'Org3.orderer')", ["o3orderer"], True),
    ("OutOf(2, 'Org1.admin', 'Org2.admin', 'Org3.admin')", ["o3admin", "o1admin"], True),
    ("OutOf(2, 'Org1.admin', 'Org2.admin', 'Org3.admin')", ["o3admin", "o1peer"], False),
    (
        "AND('Org1.member', OutOf(2, 'Org2.peer', 'Org3.admin'))",
        ["o1client", "o2peer", "o3admin"],
        True,
    ),
    ("AND('Org1.member', OutOf(2, 'Org2.peer', 'Org3.admin'))", ["o1client", "o2peer"], False),
    ("OutOf(0, 'Org1.admin')", [], True),
]


@pytest.mark.parametrize(("text", "who", "expected"), TABLE)
def test_signature_policy_table(manager, people, text, who, expected) -> None:
    policy = signature_policy(from_string(text).rule, list(from_string(text).identities))
    assert evaluate(policy, [sig(people[w]) for w in who], manager) is expected


def test_bad_signature_and_unknown_identity_do_not_count(manager, people) -> None:
    env = from_string("AND('Org1.member', 'Org2.member')")
    forged = SignedData(DATA, people["o2peer"].creator, people["o2peer"].sign(b"other"))
    stranger = make_org("Org9").identity("s", "client")
    assert not evaluate(env, [sig(people["o1client"]), forged, sig(stranger)], manager)


def test_revoked_signer_does_not_count(orgs, people) -> None:
    org = make_org("OrgR")
    good, bad = org.identity("g", "client"), org.identity("b", "client")
    org.revoke(bad)
    manager = MspManager([org.msp()])
    env = from_string("AND('OrgR.member', 'OrgR.member')")
    assert not evaluate(env, [sig(good), sig(bad)], manager)
    assert evaluate(from_string("OR('OrgR.member')"), [sig(good)], manager)


def _org_group(mspid: str) -> PolicyGroup:
    return PolicyGroup(
        policies={
            "Admins": signature_policy(
                from_string(f"OR('{mspid}.admin')").rule,
                from_string(f"OR('{mspid}.admin')").identities,
            ),
            "Readers": signature_policy(
                from_string(f"OR('{mspid}.member')").rule,
                from_string(f"OR('{mspid}.member')").identities,
            ),
        }
    )


@pytest.fixture(scope="module")
def channel() -> PolicyGroup:
    application = PolicyGroup(
        policies={
            "Admins": implicit_meta("MAJORITY", "Admins"),
            "Readers": implicit_meta("ANY", "Readers"),
            "Everyone": implicit_meta("ALL", "Readers"),
        },
        groups={name: _org_group(name) for name in ("Org1", "Org2", "Org3")},
    )
    return PolicyGroup(
        policies={
            "Admins": implicit_meta("MAJORITY", "Admins"),
            "Readers": implicit_meta("ANY", "Readers"),
        },
        groups={"Application": application},
    )


NESTED = [
    ("Admins", ["o1admin", "o2admin"], True),
    ("Admins", ["o1admin"], False),
    ("Admins", ["o1admin", "o1admin", "o2peer"], False),
    ("Application/Admins", ["o3admin", "o2admin"], True),
    ("Readers", ["o2peer"], True),
    ("Readers", [], False),
    ("Application/Everyone", ["o1client", "o2peer"], False),
    ("Application/Everyone", ["o1client", "o2peer", "o3orderer"], True),
    ("Application/Org2/Admins", ["o2admin"], True),
]


@pytest.mark.parametrize(("name", "who", "expected"), NESTED)
def test_nested_implicit_meta(manager, people, channel, name, who, expected) -> None:
    assert channel.evaluate(name, [sig(people[w]) for w in who], manager) is expected


def test_implicit_meta_with_no_children() -> None:
    empty = PolicyGroup(
        policies={"All": implicit_meta("ALL", "X"), "Any": implicit_meta("ANY", "X")}
    )
    assert empty.evaluate("All", [], MspManager())
    assert not empty.evaluate("Any", [], MspManager())


def test_policy_errors_name_the_problem(manager, channel) -> None:
    with pytest.raises(PolicyError, match="'Nope' is not defined"):
        channel.evaluate("Nope", [], manager)
    with pytest.raises(PolicyError, match="no group 'Missing'"):
        channel.evaluate("Missing/Admins", [], manager)
    with pytest.raises(PolicyError, match="needs the config group"):
        evaluate(implicit_meta("ANY", "Readers"), [], manager)
    with pytest.raises(PolicyError, match="not ANY, ALL or MAJORITY"):
        implicit_meta("SOME", "Readers")
    with pytest.raises(PolicyError, match="Writers is not satisfied"):
        require(from_string("OR('Org1.admin')"), [], manager, name="Writers")


def test_policy_tree_from_a_channel_config_group(manager, people) -> None:
    org_policy = signature_policy(
        from_string("OR('Org1.admin')").rule, from_string("OR('Org1.admin')").identities
    )
    org2_policy = signature_policy(
        from_string("OR('Org2.admin')").rule, from_string("OR('Org2.admin')").identities
    )
    channel = configtx_pb2.ConfigGroup()
    application = channel.groups["Application"]
    application.policies["Admins"].policy.CopyFrom(implicit_meta("MAJORITY", "Admins"))
    application.groups["Org1"].policies["Admins"].policy.CopyFrom(org_policy)
    application.groups["Org2"].policies["Admins"].policy.CopyFrom(org2_policy)
    tree = policy_group_from_config(channel)
    two = [sig(people["o1admin"]), sig(people["o2admin"])]
    assert tree.evaluate("/Application/Admins", two, manager)
    assert not tree.evaluate("Application/Admins", two[:1], manager)


def test_a_compiled_rule_is_reused_but_never_outlives_its_envelope(manager, people) -> None:
    """Rules are compiled once per distinct envelope (issue 19); the same envelope still
    judges each set of signers afresh, and an envelope changed in place is judged by its
    new rule, not by the rule cached for its old bytes."""
    envelope = from_string("AND('Org1.member', 'Org2.member')")
    both, one = [sig(people["o1peer"]), sig(people["o2peer"])], [sig(people["o1peer"])]
    assert evaluate(envelope, both, manager)
    assert not evaluate(envelope, one, manager)
    envelope.CopyFrom(from_string("OR('Org1.member')"))
    assert evaluate(envelope, one, manager)
    envelope.CopyFrom(from_string("OR('Org3.admin')"))
    assert not evaluate(envelope, both, manager)


def test_a_policy_tree_decodes_each_policy_once_and_still_judges_every_call(
    manager, people, channel
) -> None:
    for _ in range(3):
        assert channel.evaluate("Application/Admins", [sig(people["o3admin"])], manager) is False
        assert channel.evaluate(
            "Application/Admins", [sig(people["o3admin"]), sig(people["o2admin"])], manager
        )
