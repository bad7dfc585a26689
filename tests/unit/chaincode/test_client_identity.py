"""The stdlib-only client identity helper against certificates made with ``cryptography``."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509

from chaincode.client_identity import ClientIdentity, ClientIdentityError, go_dn


def test_mspid_attributes_and_roles(identities):
    who = identities("Org1MSP", "ann", role="admin", attributes={"dept": "qa", "level": "3"})
    cid = ClientIdentity.from_creator(who.creator)
    assert cid.get_mspid() == "Org1MSP"
    assert cid.get_attribute_value("dept") == "qa"
    assert cid.get_attribute_value("missing") is None
    assert cid.assert_attribute_value("level", "3")
    assert not cid.assert_attribute_value("level", "4")
    assert cid.get_roles() == ["admin"] and cid.has_role("admin")


def test_id_is_base64_of_subject_and_issuer_in_go_order(identities):
    who = identities("Org1MSP", "bob", affiliation=("org1", "dept1"))
    decoded = base64.b64decode(ClientIdentity.from_creator(who.creator).get_id()).decode()
    assert decoded == "x509::CN=bob,OU=client+OU=org1+OU=dept1,C=US::CN=ca.org1,O=org1,C=US"
    # Without multi-valued RDNs Go and RFC 4514 agree; cross-check with cryptography.
    ca = x509.load_pem_x509_certificate(
        identities.ca("Org1MSP").certificate.public_bytes(
            __import__("cryptography.hazmat.primitives.serialization", fromlist=["x"]).Encoding.PEM
        )
    )
    assert decoded.endswith("::" + ca.subject.rfc4514_string())


def test_no_attribute_extension_means_no_attributes(identities):
    cid = ClientIdentity.from_creator(identities("Org2MSP", "plain").creator)
    assert cid.attributes == {}


def test_escaping_follows_go():
    assert go_dn([("CN", "a,b"), ("O", " x")]) == "CN=a\\,b,O=\\ x"


@pytest.mark.parametrize(
    ("creator", "message"),
    [
        (b"\x0a\x03Org", "needs mspid and id_bytes"),
        (b"\x0a\x03Org\x12\x05hello", "no PEM CERTIFICATE"),
        (b"\x0a", "truncated protobuf"),
    ],
)
def test_bad_creator_bytes_are_refused_clearly(creator, message):
    with pytest.raises(ClientIdentityError, match=message):
        ClientIdentity.from_creator(creator)
