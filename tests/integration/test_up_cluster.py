"""`consortium up deploy/three-orderers.yaml`: three orderers on three NATS servers, run by
the CLI as a user types it; the cutting orderer or a NATS server killed with -9, the
network keeps committing, every orderer's journal has the same digest, `ledger verify
--node` reads a live node's journal."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.support.fabric_network import free_port
from tests.support.processes import consortium

ROOT = Path(__file__).resolve().parents[2]
HOME = Path(".consortium") / "three-orderers"


def _spec(directory: Path) -> Path:
    text = (ROOT / "deploy" / "three-orderers.yaml").read_text()
    text = re.sub(r"(port|cluster_port|monitor_port|admin_port): \d+",
                  lambda m: f"{m.group(1)}: {free_port()}", text)  # fmt: skip
    path = directory / "cluster.yaml"
    path.write_text(text)
    return path


def _invoke(tmp_path: Path, asset: str, member: str) -> None:
    created = consortium(
        tmp_path, "invoke", "basic", "CreateAsset", asset, "red", "1", member, "1",
        "--member", member, "-o", "json",
    )  # fmt: skip
    assert json.loads(created.stdout)["status"] == "VALID"


def _kill(tmp_path: Path, node: str) -> None:
    os.kill(int((tmp_path / HOME / "pids" / f"{node}.pid").read_text()), signal.SIGKILL)


def _status(tmp_path: Path) -> dict:
    return json.loads(consortium(tmp_path, "status", "-o", "json").stdout)


def _digests(tmp_path: Path) -> set[str]:
    return {
        json.loads(
            consortium(tmp_path, "ledger", "digest", "--node", f"orderer{n}", "-o", "json").stdout
        )["digest"]
        for n in range(3)
    }


@pytest.mark.slow
def test_three_orderers_survive_the_loss_of_the_cutter_and_of_a_nats_server(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "--no-reconcile", "-o", "json")
        _invoke(tmp_path, "c1", "org1")
        first = _status(tmp_path)
        cutter = first["cutters"]["mychannel"]["orderer"]
        roles = first["roles"]["mychannel"]  # as each orderer reports its own role
        assert roles[cutter].startswith("cutter (lease term ")
        assert sorted(r for n, r in roles.items() if n != cutter) == ["follower", "follower"]

        _kill(tmp_path, cutter)
        _invoke(tmp_path, "c2", "org2")  # another orderer takes the lease
        now = _status(tmp_path)
        assert now["cutters"]["mychannel"]["orderer"] != cutter
        assert now["nodes"][cutter]["state"] == "FAILED"

        _kill(tmp_path, "nats-nats1")  # JetStream keeps the streams on the other two
        _invoke(tmp_path, "c3", "org1")

        consortium(tmp_path, "reconcile")  # the dead orderer and server come back
        _invoke(tmp_path, "c4", "org2")
        deadline = time.monotonic() + 30
        while True:  # every orderer, the one that was down too, holds the same journal
            heights = _status(tmp_path)["channels"]["mychannel"]
            if len(set(heights.values())) == 1 and len(_digests(tmp_path)) == 1:
                break
            assert time.monotonic() < deadline, heights
            time.sleep(0.5)
        verified = consortium(tmp_path, "ledger", "verify", "--node", cutter)
        assert "verified" in verified.stdout.lower() or verified.returncode == 0
        read = consortium(tmp_path, "query", "basic", "ReadAsset", "c3", "--member", "org2")
        assert "org1" in read.stdout
    finally:
        consortium(tmp_path, "down", "--purge", check=False)
