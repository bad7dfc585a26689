"""Organizations with real MSP folders and a two-org channel profile, for ordering tests."""

from pathlib import Path

import pytest

from ca.msp import write_msp
from tests.support.ca_pki import Org, make_org

PROFILE = """
Profiles:
  TwoOrgsChannel:
    Orderer:
      OrdererType: solo
      BatchTimeout: 250ms
      BatchSize:
        MaxMessageCount: 50
        AbsoluteMaxBytes: 1 MB
        PreferredMaxBytes: 512 KB
      Organizations:
        - Name: OrdererOrg
          ID: OrdererMSP
          MSPDir: msp/orderer
          OrdererEndpoints: ["127.0.0.1:7050"]
    Application:
      Organizations:
        - Name: Org1
          ID: Org1MSP
          MSPDir: msp/org1
          AnchorPeers: [{Host: 127.0.0.1, Port: 7051}]
        - Name: Org2
          ID: Org2MSP
          MSPDir: msp/org2
          Policies:
            Readers: {Type: Signature, Rule: "OR('Org2MSP.member')"}
            Writers: {Type: Signature, Rule: "OR('Org2MSP.client', 'Org2MSP.admin')"}
            Admins: {Type: Signature, Rule: "OR('Org2MSP.admin')"}
            Endorsement: {Type: Signature, Rule: "OR('Org2MSP.peer')"}
"""


@pytest.fixture(scope="session")
def orgs() -> dict[str, Org]:
    return {mspid: make_org(mspid) for mspid in ("OrdererMSP", "Org1MSP", "Org2MSP")}


@pytest.fixture
def profile_path(tmp_path: Path, orgs: dict[str, Org]) -> Path:
    for mspid, folder in (("OrdererMSP", "orderer"), ("Org1MSP", "org1"), ("Org2MSP", "org2")):
        write_msp(tmp_path / "msp" / folder, orgs[mspid].config())
    path = tmp_path / "configtx.yaml"
    path.write_text(PROFILE)
    return path
