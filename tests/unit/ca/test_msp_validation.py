"""MSP validation: chain, expiry, revocation, wrong MSP, NodeOU roles, folders."""

from __future__ import annotations

import datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from fabric_protos.msp import identities_pb2, msp_principal_pb2

from ca import certificates
from ca.errors import IdentityError, MspConfigError, SignatureError
from ca.msp import (
    MspManager,
    NodeOUs,
    Role,
    load_msp,
    load_signing_identity,
    msp_from_channel_value,
    parse_serialized_identity,
    write_msp,
)
from ca.signing import P256_ORDER, is_low_s
from tests.support.ca_pki import make_org


@pytest.fixture(scope="module")
def org1():
    return make_org("Org1MSP")


@pytest.fixture(scope="module")
def org2():
    return make_org("Org2MSP")


def test_valid_client_deserializes_validates_and_verifies(org1) -> None:
    msp = org1.msp()
    signer = org1.identity("alice", "client")
    identity = msp.deserialize(signer.creator)
    msp.validate(identity)
    assert msp.roles(identity) == {Role.MEMBER, Role.CLIENT}
    msp.verify(identity, b"payload", signer.sign(b"payload"))
    with pytest.raises(SignatureError):
        msp.verify(identity, b"other payload", signer.sign(b"payload"))


def test_identity_issued_directly_by_root_is_valid(org1) -> None:
    msp = org1.msp()
    signer = org1.identity("peer0", "peer", issuer=org1.root)
    assert Role.PEER in msp.roles(msp.deserialize(signer.creator))


def test_chain_from_another_member_is_rejected(org1, org2) -> None:
    foreign = org2.identity("mallory", "client")
    # Claim Org1's MSP ID with a certificate from Org2's CA.
    forged = identities_pb2.SerializedIdentity(
        mspid="Org1MSP", id_bytes=foreign.certificate_pem
    ).SerializeToString()
    msp = org1.msp()
    with pytest.raises(IdentityError, match="not issued by a CA of MSP Org1MSP"):
        msp.validate(msp.deserialize(forged))


def test_identity_of_the_wrong_msp_is_rejected(org1, org2) -> None:
    with pytest.raises(IdentityError, match="belongs to MSP 'Org2MSP'"):
        org1.msp().deserialize(org2.identity().creator)


def test_expired_identity_is_rejected(org1) -> None:
    past = certificates.now() - datetime.timedelta(hours=1)
    signer = org1.identity("old", "client", not_after=past)
    msp = org1.msp()
    with pytest.raises(IdentityError, match="expired"):
        msp.validate(msp.deserialize(signer.creator))


def test_revoked_identity_is_rejected_once_the_crl_is_in_the_msp() -> None:
    org = make_org("Org3MSP")
    signer = org.identity("bob", "client")
    bystander = org.identity("carol", "client")
    msp = org.msp()
    msp.validate(msp.deserialize(signer.creator))
    org.revoke(signer)
    revoked_msp = org.msp()
    with pytest.raises(IdentityError, match="revoked"):
        revoked_msp.validate(revoked_msp.deserialize(signer.creator))
    revoked_msp.validate(revoked_msp.deserialize(bystander.creator))
    # with_crl gives the same result without rebuilding from scratch.
    with pytest.raises(IdentityError, match="revoked"):
        msp.with_crl(org.crls[-1]).validate(msp.deserialize(signer.creator))


def test_crl_signed_by_a_foreign_ca_is_refused(org1, org2) -> None:
    foreign_crl = org2.intermediate.crl([(1, certificates.now(), 0)])
    with pytest.raises(MspConfigError, match="not signed by any of its CAs"):
        org1.msp().with_crl(foreign_crl.public_bytes(certificates.serialization.Encoding.PEM))


@pytest.mark.parametrize(
    ("role", "extra", "message"),
    [
        (None, (), "found: none"),
        ("client", ("peer",), "found: client, peer"),
        ("department1", (), "found: none"),
    ],
)
def test_node_ou_rules_need_exactly_one_role(org1, role, extra, message) -> None:
    signer = org1.identity("x", role, extra_ous=extra)
    msp = org1.msp()
    with pytest.raises(IdentityError, match=message):
        msp.validate(msp.deserialize(signer.creator))


def test_without_node_ous_any_chained_identity_is_a_member(org1) -> None:
    msp = org1.msp(node_ous=NodeOUs(enabled=False))
    identity = msp.deserialize(org1.identity("x", None).creator)
    assert msp.roles(identity) == {Role.MEMBER}


def test_admin_by_ou_or_by_admincerts(org1) -> None:
    admin = org1.identity("admin", "admin")
    listed = org1.identity("legacy", "client")
    msp = org1.msp(admins=(listed.certificate_pem,))
    assert Role.ADMIN in msp.roles(msp.deserialize(admin.creator))
    assert Role.ADMIN in msp.roles(msp.deserialize(listed.creator))
    assert Role.ADMIN not in org1.msp().roles(org1.msp().deserialize(listed.creator))


def test_ca_certificate_cannot_be_an_identity(org1) -> None:
    ca_pem = certificates.to_pem(org1.intermediate.certificate)
    sid = identities_pb2.SerializedIdentity(mspid="Org1MSP", id_bytes=ca_pem)
    msp = org1.msp()
    with pytest.raises(IdentityError, match="CA certificate"):
        msp.validate(msp.deserialize(sid.SerializeToString()))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\xff\xff", "not a SerializedIdentity"),
        (identities_pb2.SerializedIdentity(id_bytes=b"x").SerializeToString(), "mspid is empty"),
        (
            identities_pb2.SerializedIdentity(
                mspid="Org1MSP", id_bytes=b"junk"
            ).SerializeToString(),
            "id_bytes is not a PEM",
        ),
    ],
)
def test_malformed_identity_bytes_name_the_field(raw, message) -> None:
    with pytest.raises(IdentityError, match=message):
        parse_serialized_identity(raw)


def test_manager_checks_creator_and_signature(org1, org2) -> None:
    manager = MspManager([org1.msp(), org2.msp()])
    signer = org2.identity("dave", "peer")
    identity = manager.check_signature(signer.creator, b"tx", signer.sign(b"tx"))
    assert identity.mspid == "Org2MSP"
    with pytest.raises(IdentityError, match="'Org9MSP' is not known"):
        manager.validate(make_org("Org9MSP").identity().creator)


def test_msp_folder_round_trip_with_config_yaml(tmp_path, org1) -> None:
    signer = org1.identity("peer0", "peer")
    org = make_org("Org4MSP")
    revoked = org.identity("gone", "client")
    org.revoke(revoked)
    node_signer = org.identity("peer0", "peer")
    folder = write_msp(tmp_path / "msp", org.config(), signer=node_signer)
    assert (folder / "config.yaml").read_text().count("OrganizationalUnitIdentifier") == 4
    assert oct((folder / "keystore" / "priv_sk").stat().st_mode & 0o777) == "0o600"
    msp = load_msp(folder, "Org4MSP")
    assert msp.config.node_ous == NodeOUs()
    loaded = load_signing_identity(folder, "Org4MSP")
    assert loaded.certificate_pem == node_signer.certificate_pem
    assert Role.PEER in msp.roles(msp.deserialize(loaded.creator))
    with pytest.raises(IdentityError, match="revoked"):
        msp.validate(msp.deserialize(revoked.creator))
    assert signer  # org1's identity is unrelated and must not validate here
    with pytest.raises(IdentityError):
        msp.validate(
            msp.deserialize(
                identities_pb2.SerializedIdentity(
                    mspid="Org4MSP", id_bytes=signer.certificate_pem
                ).SerializeToString()
            )
        )


def test_missing_msp_parts_are_named(tmp_path) -> None:
    with pytest.raises(MspConfigError, match="does not exist"):
        load_msp(tmp_path / "nope", "X")
    (tmp_path / "empty").mkdir()
    with pytest.raises(MspConfigError, match="no certificate in cacerts"):
        load_msp(tmp_path / "empty", "X")


def test_to_proto_carries_node_ous(org1) -> None:
    proto = org1.msp().to_proto()
    assert proto.name == "Org1MSP"
    assert proto.fabric_node_ous.enable
    assert proto.fabric_node_ous.peer_ou_identifier.organizational_unit_identifier == "peer"


def _ou_principal(mspid: str, ou: str, certifiers: bytes = b"") -> msp_principal_pb2.MSPPrincipal:
    unit = msp_principal_pb2.OrganizationUnit(
        msp_identifier=mspid, organizational_unit_identifier=ou, certifiers_identifier=certifiers
    )
    return msp_principal_pb2.MSPPrincipal(
        principal_classification=msp_principal_pb2.MSPPrincipal.ORGANIZATION_UNIT,
        principal=unit.SerializeToString(),
    )


def test_organization_unit_and_identity_principals(org1) -> None:
    msp = org1.msp()
    signer = org1.identity("u", "client", extra_ous=("department1",))
    identity = msp.deserialize(signer.creator)
    chain_id = msp.certifiers_identifier(identity)
    assert msp.satisfies_principal(identity, _ou_principal("Org1MSP", "department1"))
    assert msp.satisfies_principal(identity, _ou_principal("Org1MSP", "department1", chain_id))
    assert not msp.satisfies_principal(identity, _ou_principal("Org1MSP", "department1", b"x"))
    assert not msp.satisfies_principal(identity, _ou_principal("Org1MSP", "department2"))
    assert not msp.satisfies_principal(identity, _ou_principal("Org2MSP", "department1"))
    same = msp_principal_pb2.MSPPrincipal(
        principal_classification=msp_principal_pb2.MSPPrincipal.IDENTITY, principal=signer.creator
    )
    other = msp_principal_pb2.MSPPrincipal(
        principal_classification=msp_principal_pb2.MSPPrincipal.IDENTITY,
        principal=org1.identity("v", "client").creator,
    )
    assert msp.satisfies_principal(identity, same)
    assert not msp.satisfies_principal(identity, other)


def test_channel_config_value_round_trip() -> None:
    org1 = make_org("OrgC")
    signer = org1.identity("p", "peer")
    org1.revoke(revoked := org1.identity("r", "client"))
    msp = org1.msp(node_ous=NodeOUs(peer="node"))
    again = msp_from_channel_value(msp.to_channel_value())
    assert again.config == msp.config
    assert again.node_roles(again.deserialize(org1.identity("q", "node").creator)) == {Role.PEER}
    with pytest.raises(IdentityError, match="revoked"):
        again.validate(again.deserialize(revoked.creator))
    with pytest.raises(IdentityError, match="found: none"):
        again.validate(again.deserialize(signer.creator))  # OU "peer" is not this MSP's
    with pytest.raises(MspConfigError, match="does not decode"):
        msp_from_channel_value(b"\xff\xff")


def test_revoking_an_intermediate_invalidates_everything_it_issued() -> None:
    org = make_org("OrgI")
    leaf = org.identity("x", "client")
    direct = org.identity("y", "client", issuer=org.root)
    serial = org.intermediate.certificate.serial_number
    crl = org.root.crl([(serial, certificates.now(), 2)])
    msp = org.msp().with_crl(crl.public_bytes(certificates.serialization.Encoding.PEM))
    with pytest.raises(IdentityError, match=r"'ica.OrgI'.*revoked"):
        msp.validate(msp.deserialize(leaf.creator))
    msp.validate(msp.deserialize(direct.creator))


def test_msp_signatures_are_low_s_only(org1) -> None:
    manager = MspManager([org1.msp()])
    signer = org1.identity("s", "client")
    signature = signer.sign(b"tx")
    assert is_low_s(signature)
    manager.check_signature(signer.creator, b"tx", signature)
    r, s = decode_dss_signature(signature)
    with pytest.raises(SignatureError, match="high S"):
        manager.check_signature(signer.creator, b"tx", encode_dss_signature(r, P256_ORDER - s))
    with pytest.raises(SignatureError, match="not DER"):
        manager.check_signature(signer.creator, b"tx", b"\x01\x02")


def test_node_ou_certificate_restricts_a_role_to_one_issuing_ca(tmp_path) -> None:
    org = make_org("OrgN")
    inter_pem = certificates.to_pem(org.intermediate.certificate)
    node_ous = NodeOUs(certificates=((Role.PEER, inter_pem),))
    msp = org.msp(node_ous=node_ous)
    via_intermediate = org.identity("p1", "peer")
    via_root = org.identity("p2", "peer", issuer=org.root)
    client_via_root = org.identity("c1", "client", issuer=org.root)
    assert Role.PEER in msp.roles(msp.deserialize(via_intermediate.creator))
    with pytest.raises(IdentityError, match="found: none"):
        msp.validate(msp.deserialize(via_root.creator))
    assert Role.CLIENT in msp.roles(msp.deserialize(client_via_root.creator))  # unrestricted

    folder = write_msp(tmp_path / "msp", msp.config)
    assert "intermediatecerts/0-cert.pem" in (folder / "config.yaml").read_text()
    loaded = load_msp(folder, "OrgN")
    assert loaded.config.node_ous == node_ous
    again = msp_from_channel_value(msp.to_channel_value())
    assert again.config.node_ous == node_ous
    with pytest.raises(IdentityError, match="found: none"):
        again.validate(again.deserialize(via_root.creator))

    stranger = certificates.to_pem(make_org("OrgZ").root.certificate)
    with pytest.raises(MspConfigError, match="NodeOUs certificate for client of MSP OrgN"):
        org.msp(node_ous=NodeOUs(certificates=((Role.CLIENT, stranger),)))
    with pytest.raises(MspConfigError, match="must be one of the MSP's CA certificates"):
        write_msp(
            tmp_path / "bad",
            org.config(node_ous=NodeOUs(certificates=((Role.CLIENT, stranger),))),
        )
    assert not (tmp_path / "bad").exists()
