"""The explorer as a node of the network: ``up --no-explorer`` runs none, ``up`` starts
it and prints it in its table, ``status`` shows it, the reconciler restarts it when it
dies, ``down`` stops it — real processes, the CLI as a user types it."""

from __future__ import annotations

import json
import os
import re
import signal
import time
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


def _height(url: str, at_least: int = 0) -> int:
    """The height the blocks page shows (the explorer's stored height), once it is at
    least ``at_least`` (within 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        status, page = _get(url)
        found = re.search(r'data-height="mychannel">(\d+)<', page)
        assert status == 200 and found, page
        if int(found.group(1)) >= at_least or time.monotonic() > deadline:
            return int(found.group(1))
        time.sleep(0.2)


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
        height = _height(f"{url}channels/mychannel/blocks", at_least=1)  # once it has read some
        killed = int(pid_file.read_text())
        os.kill(killed, signal.SIGKILL)
        consortium(tmp_path, "reconcile")
        assert int(pid_file.read_text()) != killed
        assert _get(url)[0] == 200
        # the restarted explorer serves at least the height it had (its store, checked
        # against the peer: the chain was not taken for another)
        assert height > 0 and _height(f"{url}channels/mychannel/blocks") >= height
        log = (tmp_path / ".consortium" / "two-members" / "logs" / "explorer.log").read_text()
        assert "differs from the stored one" not in log

        bad = _get(f"{url}channels/nochannel/blocks")
        assert bad[0] == 404 and "nochannel" in bad[1]
    finally:
        consortium(tmp_path, "down")
    assert not pid_file.exists()
