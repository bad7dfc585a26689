"""Who a member can sign as: its connection file's identities and any enrolled later
into ``members/<m>/users/NAME/msp`` (``consortium ca adduser``) — one lookup, used by
``--identity`` and by the explorer's form."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ca.signing import SoftwareSigner
from network.gateway_client import GatewayClientError, member_identities, member_signer
from tests.support.ca_pki import make_org


def _pem_key(signer: SoftwareSigner) -> bytes:
    return signer.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _msp(folder: Path, signer: SoftwareSigner) -> None:
    (folder / "signcerts").mkdir(parents=True)
    (folder / "keystore").mkdir()
    (folder / "signcerts" / "cert.pem").write_bytes(signer.certificate_pem)
    (folder / "keystore" / "key_sk").write_bytes(_pem_key(signer))


def test_identities_enrolled_later_sign_as_the_member(tmp_path: Path) -> None:
    org = make_org("Org1MSP")
    user1, auditor = org.identity("user1"), org.identity("auditor")
    (tmp_path / "user1.pem").write_bytes(user1.certificate_pem)
    (tmp_path / "user1.key").write_bytes(_pem_key(user1))
    connection = {
        "mspId": "Org1MSP",
        "identities": {
            "user1": {"cert": str(tmp_path / "user1.pem"), "key": str(tmp_path / "user1.key")}
        },
    }
    users = tmp_path / "users"
    _msp(users / "auditor" / "msp", auditor)
    (users / "half").mkdir()  # a folder without an msp/ is no identity

    assert member_identities(connection, users) == ["auditor", "user1"]
    assert member_signer(connection, users, "user1").certificate_pem == user1.certificate_pem
    signer = member_signer(connection, users, "auditor")
    assert signer.certificate_pem == auditor.certificate_pem and signer.mspid == "Org1MSP"
    for name in ("nobody", "half", "../users/auditor", ".."):
        with pytest.raises(
            GatewayClientError, match=r"not an identity of Org1MSP \(known: auditor, user1\)"
        ):
            member_signer(connection, users, name)
