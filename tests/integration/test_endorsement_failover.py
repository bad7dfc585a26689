"""Three companies, a channel of all three and a private channel of two (a spec that is not
one of our samples): with one company's peer killed, an OutOf(2, …) invoke commits
through the other two; a MAJORITY (channel policy reference) chaincode works; the
private channel stays closed to the third company. Real processes, the CLI as typed."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from proto.ports import free_port
from tests.support.processes import consortium

SPEC = """
network:
  name: three-companies
control_plane: {{port: {p[0]}}}
ordering:
  orderers: [{{name: orderer0, port: {p[1]}, admin_port: {p[2]}}}]
members:
  - {{name: acme, account: "111111111111", mspid: AcmeMSP, ca: {{port: {p[3]}}},
     peers: [{{name: peer0, port: {p[4]}}}]}}
  - {{name: globex, account: "222222222222", mspid: GlobexMSP, ca: {{port: {p[5]}}},
     peers: [{{name: peer0, port: {p[6]}}}]}}
  - {{name: initech, account: "333333333333", mspid: InitechMSP, ca: {{port: {p[7]}}},
     peers: [{{name: peer0, port: {p[8]}}}]}}
channels:
  - {{name: wide, members: [acme, globex, initech], batch: {{timeout: 200ms}}}}
  - {{name: acme-globex, members: [acme, globex], batch: {{timeout: 200ms}}}}
chaincodes:
  - name: basic
    sample: asset_transfer
    channel: wide
    port: {p[9]}
    endorsement_policy: "OutOf(2, 'AcmeMSP.peer', 'GlobexMSP.peer', 'InitechMSP.peer')"
  - name: bilateral
    sample: asset_transfer
    channel: acme-globex
    port: {p[10]}
    endorsement_policy: MAJORITY
"""


def _invoke(tmp_path: Path, chaincode: str, asset: str, member: str, check: bool = True):
    return consortium(
        tmp_path, "invoke", chaincode, "CreateAsset", asset, "red", "1", member, "1",
        "--member", member, "-o", "json", check=check,
    )  # fmt: skip


@pytest.mark.slow
def test_endorsement_fails_over_and_private_channels_stay_private(tmp_path: Path) -> None:
    spec = tmp_path / "companies.yaml"
    spec.write_text(SPEC.format(p=[free_port() for _ in range(11)]))
    try:
        consortium(tmp_path, "up", str(spec), "--no-reconcile", "-o", "json")
        assert json.loads(_invoke(tmp_path, "basic", "w1", "acme").stdout)["status"] == "VALID"
        assert json.loads(_invoke(tmp_path, "bilateral", "b1", "acme").stdout)["status"] == "VALID"

        # Globex's only peer dies: acme's gateway plans around it (acme + initech).
        home = tmp_path / ".consortium" / "three-companies"
        os.kill(int((home / "pids" / "peer-globex-peer0.pid").read_text()), signal.SIGKILL)
        for asset in ("w2", "w3"):  # the second one plans around globex at once
            created = json.loads(_invoke(tmp_path, "basic", asset, "acme").stdout)
            assert created["status"] == "VALID"
        read = consortium(tmp_path, "query", "basic", "ReadAsset", "w2", "--member", "initech")
        assert "acme" in read.stdout
        # MAJORITY of two organizations needs both: no plan without globex.
        refused = _invoke(tmp_path, "bilateral", "b2", "acme", check=False)
        assert refused.returncode != 0 and "GlobexMSP" in json.loads(refused.stdout)["error"]

        # The private channel stays closed to initech.
        closed = consortium(
            tmp_path, "query", "bilateral", "ReadAsset", "b1", "--member", "initech",
            "--channel", "acme-globex", check=False,
        )  # fmt: skip
        assert closed.returncode != 0 and "acme" not in closed.stdout

        consortium(tmp_path, "reconcile")  # globex's peer back, with its data
        # acme's gateway reconnects within its 2 s backoff cap (gRPC's default grows to 2 min)
        deadline = time.monotonic() + 10
        while (again := _invoke(tmp_path, "bilateral", "b3", "acme", check=False)).returncode:
            assert time.monotonic() < deadline, again.stderr
            time.sleep(0.5)
        assert json.loads(again.stdout)["status"] == "VALID"
    finally:
        consortium(tmp_path, "down", "--purge", check=False)
