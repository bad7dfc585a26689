"""The explorer as a node of the network: ``up --no-explorer`` runs none, ``up`` starts
it and prints it in its table, ``status`` shows it, the reconciler restarts it when it
dies, ``down`` stops it — real processes, the CLI as a user types it."""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from pathlib import Path

from tests.integration.test_up import spec_with_free_ports
from tests.support.processes import consortium


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as failure:
        return failure.code, failure.read().decode()


def test_explorer_is_started_shown_restarted_and_stopped(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    try:
        up = json.loads(consortium(tmp_path, "up", str(spec), "--no-explorer", "-o", "json").stdout)
        assert "explorer" not in up["nodes"]
        refused = consortium(tmp_path, "explorer", check=False)
        assert refused.returncode != 0 and "not running" in refused.stderr

        up = json.loads(consortium(tmp_path, "up", str(spec), "-o", "json").stdout)
        url = json.loads(consortium(tmp_path, "explorer", "-o", "json").stdout)["url"]
        assert url == f"http://{up['nodes']['explorer']}/"
        status, page = _get(url)
        assert status == 200 and "peer-org2-peer0" in page
        nodes = json.loads(consortium(tmp_path, "status", "-o", "json").stdout)["nodes"]
        assert nodes["explorer"]["state"] == "RUNNING" and nodes["explorer"]["listening"]

        pid_file = tmp_path / ".consortium" / "two-members" / "pids" / "explorer.pid"
        killed = int(pid_file.read_text())
        os.kill(killed, signal.SIGKILL)
        consortium(tmp_path, "reconcile")
        assert int(pid_file.read_text()) != killed
        assert _get(url)[0] == 200

        bad = _get(f"{url}channels/nochannel/blocks")
        assert bad[0] == 404 and "nochannel" in bad[1]
    finally:
        consortium(tmp_path, "down")
    assert not pid_file.exists()
