"""The unmodified Node fabric-ca-client (npm 2.2.x) against ``consortium ca serve``.

It enrolls the bootstrap admin, registers a user with an attribute, reads it back
through the identity service, enrolls it (with and without attribute requests) up to
its maximum, enrolls a TLS certificate, re-enrolls, revokes the user and generates a
CRL; the revoked certificates then fail MSP validation with that CRL. The Node packages
come from ``deploy/install-deps.sh`` (``npm install`` in this folder); if they are
missing this test fails, it never skips.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from ca import certificates
from ca.errors import IdentityError
from ca.msp import Msp, MspConfig, NodeOUs, Role
from proto.signer import serialize_identity
from tests.conformance.ca_process import HERE

MSPID = "Org1MSP"
# One Node run (~3-6 s) serves both tests; the whole module is bounded by its timeout.
pytestmark = pytest.mark.slow


def run_node_flow(url: str) -> dict:
    node = shutil.which("node")
    assert node, "node is not installed: run deploy/install-deps.sh"
    assert (HERE / "node_modules" / "fabric-ca-client").is_dir(), (
        "tests/conformance/node_modules is missing: run deploy/install-deps.sh"
    )
    done = subprocess.run(
        [node, str(HERE / "ca_flow.js"), url, MSPID],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def flow(ca_url: str) -> dict:
    return run_node_flow(ca_url)


def _msp(flow: dict, crls: tuple[bytes, ...] = ()) -> Msp:
    return Msp(
        MspConfig(MSPID, root_certs=(flow["caChain"].encode(),), crls=crls, node_ous=NodeOUs())
    )


def _identity(msp: Msp, pem: str):
    return msp.deserialize(serialize_identity(MSPID, pem.encode()))


def test_enroll_register_enroll_revoke_gencrl(flow: dict) -> None:
    assert flow["caName"] == "ca"
    assert flow["identity"]["id"] == "user1" and flow["identity"]["type"] == "client"
    assert flow["identity"]["affiliation"] == "org1.department1"
    assert {"name": "app.role", "value": "auditor", "ecert": True} in flow["identity"]["attrs"]
    assert {"admin", "user1"} <= set(flow["identityIds"])
    assert flow["badPassword"]["errors"] == [{"code": 20, "message": "Authentication failure"}]
    assert flow["duplicate"]["errors"][0]["code"] == 0
    assert "already registered" in flow["duplicate"]["errors"][0]["message"]
    assert flow["userCannotRegister"]["errors"] == [
        {"code": 71, "message": "Authorization failure"}
    ]
    assert flow["revokedCannotEnroll"]["errors"][0]["code"] == 20

    user = certificates.load_certificate(flow["userCert"].encode())
    assert certificates.common_name(user) == "user1"
    assert sorted(certificates.organizational_units(user)) == ["client", "department1", "org1"]
    assert user.subject.rfc4514_string().startswith("CN=user1,OU=")  # one multi-valued RDN
    assert certificates.certificate_attributes(user)["app.role"] == "auditor"

    # attr_reqs: exactly the requested attribute, the optional missing one is skipped.
    only_role = certificates.load_certificate(flow["attrCert"].encode())
    assert certificates.certificate_attributes(only_role) == {"app.role": "auditor"}
    # maxEnrollments 2 was used up by the two enrollments (reenroll does not count).
    assert flow["pastMax"]["errors"] == [{"code": 20, "message": "Authentication failure"}]

    tls = certificates.load_certificate(flow["tlsCert"].encode())
    assert certificates.issued_by(tls, certificates.load_certificate(flow["tlsChain"].encode()))
    assert flow["tlsChain"] != flow["caChain"]

    reenrolled = certificates.load_certificate(flow["reenrolledCert"].encode())
    issued = {user.serial_number, only_role.serial_number, reenrolled.serial_number}
    revoked = {c["Serial"] for c in flow["revoke"]["result"]["RevokedCerts"]}
    assert revoked == {certificates.hex_id(serial) for serial in issued}

    crl = certificates.load_crl(base64.b64decode(flow["crl"]))
    assert {entry.serial_number for entry in crl} == issued


def test_revoked_certificate_fails_msp_validation(flow: dict) -> None:
    before = _msp(flow)
    assert Role.CLIENT in before.roles(_identity(before, flow["userCert"]))

    after = _msp(flow, crls=(base64.b64decode(flow["crl"]),))
    with pytest.raises(IdentityError, match="revoked"):
        after.validate(_identity(after, flow["userCert"]))
    with pytest.raises(IdentityError, match="revoked"):
        after.validate(_identity(after, flow["reenrolledCert"]))
    assert Role.MEMBER in after.roles(_identity(after, flow["adminCert"]))
