"""Snapshots of a three-orderer network on NATS JetStream (deploy/three-orderers.yaml),
as a user types them: taken under load, restored over the stopped network (whose
JetStream starts empty and is re-seeded by `up`), the network continues with the same
heights and digests; `reset` goes back to `up`'s bootstrap.

A whole three-orderer `up` takes about 25 s and this test does three (2.5 min in all),
so it runs under `make snapshots` (``SNAPSHOTS_LONG=1``); the default suite
runs the re-seeding itself against real NATS servers (test_snapshot_streams.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from pathlib import Path

import pytest

from tests.integration.test_snapshot import _existing, snapshot_under_load
from tests.integration.test_up_cluster import _spec
from tests.support.processes import consortium

NETWORK = "three-orderers"
CHANNEL = "mychannel"
NODES = ("orderer0", "orderer1", "orderer2", "peer-org1-peer0", "peer-org2-peer0")

pytestmark = pytest.mark.skipif(
    not os.environ.get("SNAPSHOTS_LONG"),
    reason="three whole three-orderer networks (~2.5 min): `make snapshots`",
)


def _heights(tmp_path: Path) -> dict[str, int]:
    status = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)
    return status["channels"][CHANNEL]


def _verified_tips(tmp_path: Path) -> dict[str, tuple[int, str]]:
    """Each node's block journal, verified from its own files: (tip, digest)."""
    tips = {}
    for node in NODES:
        verified = json.loads(
            consortium(tmp_path, "ledger", "verify", "--node", node, "-o", "json").stdout
        )
        tips[node] = (verified["digestTipAddress"]["sequenceNo"], verified["digest"])
    return tips


def _orderer_digests(tips: dict[str, tuple[int, str]]) -> set[str]:
    """The orderers' digests (one journal, one digest; each peer's is its own journal)."""
    return {digest for node, (_, digest) in tips.items() if node.startswith("orderer")}


@pytest.mark.slow
def test_a_cluster_snapshot_taken_under_load_restores_and_continues(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    try:
        bootstrap_height, load, manifest = snapshot_under_load(tmp_path, spec, NETWORK)
        height = manifest["heights"][CHANNEL]
        seed = manifest["streams"][CHANNEL]
        assert seed["blocks"] == height and seed["ingress_next"] > 1, seed
        before = {a for a, block in load.blocks.items() if block < height}
        assert before and set(load.blocks) - before, (height, load.blocks)

        # Restored over the stopped network: JetStream starts empty, `up` re-seeds it;
        # every orderer and peer is at the snapshot's height with one digest.
        consortium(tmp_path, "down", str(spec))
        consortium(tmp_path, "snapshot", "restore", "busy")
        assert not (tmp_path / ".consortium" / NETWORK / "ordering" / "nats").exists()
        consortium(tmp_path, "up", str(spec), "-o", "json")
        assert set(_heights(tmp_path).values()) == {height}
        tips = _verified_tips(tmp_path)
        assert {tip for tip, _ in tips.values()} == {height - 1}, tips
        assert _orderer_digests(tips) == {base64.b64encode(bytes.fromhex(seed["digest"])).decode()}
        assert asyncio.run(_existing(tmp_path, sorted(load.blocks), NETWORK)) == before

        # It continues: the cutter reads the ingress from the recorded position on.
        for n, member in enumerate(("org1", "org2")):
            created = consortium(
                tmp_path, "invoke", "basic", "CreateAsset", f"fresh{n}", "blue", "1", member,
                "1", "--member", member, "-o", "json",
            )  # fmt: skip
            assert json.loads(created.stdout)["status"] == "VALID"
        deadline = time.monotonic() + 30
        grown = _verified_tips(tmp_path)
        while len({tip for tip, _ in grown.values()}) != 1:
            assert time.monotonic() < deadline, grown  # every node, the same new tip
            time.sleep(0.5)
            grown = _verified_tips(tmp_path)
        assert grown["orderer0"][0] > height - 1 and len(_orderer_digests(grown)) == 1, grown

        # reset: back to what `up` first made, on an empty JetStream again.
        consortium(tmp_path, "reset")
        assert set(_heights(tmp_path).values()) == {bootstrap_height}
        assert asyncio.run(_existing(tmp_path, ["fresh0", *sorted(before)[:3]], NETWORK)) == set()
        created = consortium(
            tmp_path, "invoke", "basic", "CreateAsset", "again", "blue", "1", "org1", "1",
            "--member", "org1", "-o", "json",
        )  # fmt: skip
        assert json.loads(created.stdout)["status"] == "VALID"
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)
