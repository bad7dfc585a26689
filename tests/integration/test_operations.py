"""Fabric's operations service on a running network: every node's /metrics counts what
was sent, /healthz answers, and /logspec changes a running peer's level — real
processes started by `consortium up`, scraped over HTTP as Prometheus would."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from proto.metrics import parse_samples
from tests.integration.test_up import spec_with_free_ports
from tests.support.processes import consortium

SENT = 3
CHANNEL = "mychannel"


def _get(address: str, path: str) -> bytes:
    with urllib.request.urlopen(f"http://{address}{path}", timeout=10) as answer:
        return answer.read()


def _put(address: str, path: str, body: dict) -> int:
    request = urllib.request.Request(
        f"http://{address}{path}", data=json.dumps(body).encode(), method="PUT"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status


def _scrape(operations: dict[str, str]) -> dict[str, dict[str, float]]:
    return {
        node: parse_samples(_get(address, "/metrics").decode())
        for node, address in operations.items()
    }


def _status(tmp_path: Path) -> dict:
    return json.loads(consortium(tmp_path, "status", "-o", "json").stdout)


def _invoke(tmp_path: Path, asset: str) -> None:
    created = consortium(
        tmp_path,
        "invoke",
        "basic",
        "CreateAsset",
        asset,
        "red",
        "3",
        "Ann",
        "9",
        "--member",
        "org1",
        "-o",
        "json",
    )
    assert json.loads(created.stdout)["status"] == "VALID"


def _grew(before: dict[str, float], after: dict[str, float], name: str) -> float:
    return after.get(name, 0) - before.get(name, 0)


def _committed(node: str) -> str:
    return (
        f'ledger_transaction_count{{channel="{CHANNEL}",transaction_type="ENDORSER_TRANSACTION",'
        f'chaincode="basic",validation_code="VALID"}}'
    )


def _until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


@pytest.mark.slow
def test_every_node_serves_metrics_health_and_logspec(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        up = json.loads(consortium(tmp_path, "up", str(spec), "-o", "json").stdout)
        operations = up["operations"]
        assert set(operations) >= {
            "control-plane",
            "ca-org1",
            "ca-org2",
            "orderer-orderer0",
            "peer-org1-peer0",
            "peer-org2-peer0",
            "mqtt-bridge",
        }
        for node, address in operations.items():
            health = json.loads(_get(address, "/healthz"))
            assert health["status"] == "OK", (node, health)

        peers = ("peer-org1-peer0", "peer-org2-peer0")
        before = _scrape(operations)
        for n in range(SENT):
            _invoke(tmp_path, f"m{n}")
        _until(
            lambda: all(
                _grew(before[p], _scrape({p: operations[p]})[p], _committed(p)) == SENT
                for p in peers
            )
        )
        _until(
            lambda: (
                _grew(
                    before["mqtt-bridge"],
                    _scrape({"mqtt-bridge": operations["mqtt-bridge"]})["mqtt-bridge"],
                    "mqtt_bridge_messages_published",
                )
                >= SENT
            )
        )
        after = _scrape(operations)

        # Each peer committed exactly the transactions sent, and says how high it is.
        status = _status(tmp_path)
        for peer in peers:
            assert _grew(before[peer], after[peer], _committed(peer)) == SENT
            height = after[peer][f'ledger_blockchain_height{{channel="{CHANNEL}"}}']
            assert height == status["channels"][CHANNEL][peer]
            assert _grew(before[peer], after[peer], "endorser_proposals_received") >= SENT
            assert _grew(before[peer], after[peer], "endorser_successful_proposals") >= SENT
        # The gateway that took the submissions counted them as Fabric's gateway does.
        gateway = after["peer-org1-peer0"]
        assert (
            _grew(
                before["peer-org1-peer0"],
                gateway,
                'gateway_requests_completed{method="Submit",success="true"}',
            )
            == SENT
        )
        # The orderer accepted exactly as many envelopes on the channel.
        processed = (
            f'broadcast_processed_count{{channel="{CHANNEL}",type="ENDORSER_TRANSACTION",'
            'status="SUCCESS"}'
        )
        assert _grew(before["orderer-orderer0"], after["orderer-orderer0"], processed) == SENT
        assert (
            after["orderer-orderer0"][f'ledger_blockchain_height{{channel="{CHANNEL}"}}']
            == (status["channels"][CHANNEL]["orderer-orderer0"])
        )
        # The CAs enrolled everyone at `up`; the control plane took the votes.
        for ca in ("ca-org1", "ca-org2"):
            enrolls = [
                v
                for k, v in after[ca].items()
                if k.startswith("api_request_count{")
                and 'api_name="enroll"' in k
                and 'status_code="201"' in k
            ]
            assert sum(enrolls) >= 3, after[ca]
        assert any(k.startswith("controlplane_api_request_count{") for k in after["control-plane"])
        # `status` shows the same health and figures.
        node = status["nodes"]["peer-org1-peer0"]
        assert node["health"] == "OK" and "tx committed" in node["figures"]
        # … and how fast it works now: the rate over the last 10 s, read when scraped.
        assert after["peer-org1-peer0"]["ledger_transactions_per_second"] >= 0
        assert "tx/s committed" in node["figures"]
        assert "tx/s ordered" in status["nodes"]["orderer-orderer0"]["figures"]

        # /logspec: a running peer's level changes live.
        peer = operations["peer-org1-peer0"]
        log = tmp_path / ".consortium" / "two-members" / "logs" / "peer-org1-peer0.log"
        assert json.loads(_get(peer, "/logspec")) == {"spec": "info"}
        assert "Committed block" not in log.read_text()
        assert _put(peer, "/logspec", {"spec": "peers.node=debug:info"}) == 204
        assert json.loads(_get(peer, "/logspec")) == {"spec": "peers.node=debug:info"}
        _invoke(tmp_path, "debug-on")
        _until(lambda: "Committed block" in log.read_text())
        assert _put(peer, "/logspec", {"spec": "info"}) == 204
        lines = log.read_text().count("Committed block")
        _invoke(tmp_path, "debug-off")
        time.sleep(1)
        assert log.read_text().count("Committed block") == lines
        with pytest.raises(urllib.error.HTTPError) as refused:
            _put(peer, "/logspec", {"spec": "loud"})
        assert refused.value.code == 400
        assert "bad level 'loud'" in json.loads(refused.value.read())["error"]

        # The reconciler logs a killed orderer once, and only what it restarted.
        reconciler_log = log.with_name("reconciler.log")
        logged = len(reconciler_log.read_text())
        orderer = status["nodes"]["orderer-orderer0"]["pid"]
        os.kill(orderer, signal.SIGKILL)
        _until(lambda: _status(tmp_path)["nodes"]["orderer-orderer0"]["pid"] not in (None, orderer))
        _until(lambda: _status(tmp_path)["nodes"]["orderer-orderer0"]["listening"])
        time.sleep(3)  # another pass or so: it must add nothing
        written = reconciler_log.read_text()[logged:]
        assert written.count("orderer-orderer0 is not running: restarting it") == 1, written
        assert written.count("listening on") == 1, written
        assert "peer-org1-peer0 listening" not in written
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)
