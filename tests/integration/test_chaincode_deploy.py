"""From a contract folder to the live network, as a chaincode developer types it: deploy a
contract that is not a sample, use it from both members, upgrade it twice (the second
time with a new policy), hand it to dev mode and back with an edit between, sign with an
identity whose attribute the contract checks, and upgrade the spec's own chaincode by
editing the spec — real processes, the CLI only."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.test_up import spec_with_free_ports
from tests.support.fabric_network import free_port
from tests.support.processes import CONSORTIUM, consortium

CONTRACT = Path(__file__).parent / "contracts" / "notice_board"


def _json(tmp_path: Path, *args: str) -> dict:
    return json.loads(consortium(tmp_path, *args, "-o", "json").stdout)


def _edition(tmp_path: Path, member: str) -> str:
    return _json(tmp_path, "query", "board", "Edition", "--member", member)["result"]


def _nodes(tmp_path: Path) -> dict:
    return _json(tmp_path, "status")["nodes"]


def _edit(folder: Path, edition: str) -> None:
    source = folder / "contract.py"
    text = re.sub(r'EDITION = "[^"]*"', f'EDITION = "{edition}"', source.read_text())
    source.write_text(text)


def _deploy(tmp_path: Path, folder: Path, *options: str) -> dict:
    return _json(tmp_path, "chaincode", "deploy", str(folder), "--name", "board", *options)


def _wait_for(process: subprocess.Popen, text: str, timeout: float = 30) -> list[str]:
    """Lines of ``process`` until one holds ``text``."""
    assert process.stdout is not None
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        seen.append(line)
        if text in line:
            return seen
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"no {text!r} in: {''.join(seen)}")


def _dev(tmp_path: Path, folder: Path, *options: str) -> subprocess.Popen:
    command = [*CONSORTIUM, "chaincode", "dev", str(folder), "--name", "board"]
    return subprocess.Popen(
        [*command, "--interval", "0.2", *options],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    return output


def _until_edition(tmp_path: Path, wanted: str, timeout: float = 15) -> str:
    """Dev mode restarts the contract on a change; the peers dial it again."""
    deadline = time.monotonic() + timeout
    while True:
        answer = consortium(
            tmp_path, "query", "board", "Edition", "--member", "org1", "-o", "json", check=False
        )
        if answer.returncode == 0 and json.loads(answer.stdout)["result"] == wanted:
            return wanted
        if time.monotonic() > deadline:
            raise AssertionError(answer.stdout + answer.stderr)
        time.sleep(0.3)


@pytest.mark.slow
def test_deploy_upgrade_dev_takeover_and_identities(tmp_path: Path) -> None:
    spec = spec_with_free_ports(tmp_path)
    folder = tmp_path / "notice_board"
    shutil.copytree(CONTRACT, folder, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")

        # Deploy: one command; both members use it; the event comes back with invoke.
        first = _deploy(tmp_path, folder)
        assert (first["action"], first["sequence"], first["version"]) == ("created", 1, "1.0")
        posted = _json(tmp_path, "invoke", "board", "Post", "n1", "hello", "--member", "org1")
        assert posted["status"] == "VALID" and posted["result"]["author"] == "Org1MSP"
        assert posted["event"] == {"name": "Posted", "payload": {"id": "n1", "author": "Org1MSP"}}
        twice = consortium(tmp_path, "invoke", "board", "Post", "n1", "again", "--member", "org2",
                           "-o", "json", check=False)  # fmt: skip
        refused = json.loads(twice.stdout)  # a failure in JSON mode is JSON too
        assert twice.returncode == 1 and len(refused["txid"]) == 64
        assert "notice n1 exists" in refused["error"]
        read = _json(tmp_path, "query", "board", "Read", "n1", "--member", "org2")
        assert read["result"]["text"] == "hello"  # parsed, not a string holding JSON
        again = _deploy(tmp_path, folder)
        assert again["action"] == "unchanged" and again["address"] == first["address"]

        # Upgrade 1: changed code → new package, sequence 2, a new address; the old
        # runner is gone and the peers dial the new one.
        runner = _nodes(tmp_path)["chaincode-board"]["pid"]
        _edit(folder, "second")
        second = _deploy(tmp_path, folder)
        assert (second["action"], second["sequence"]) == ("upgraded", 2)
        assert second["address"] != first["address"]
        assert second["package_id"] != first["package_id"]
        assert _edition(tmp_path, "org2") == "second"
        nodes = _nodes(tmp_path)
        assert nodes["chaincode-board"]["pid"] != runner
        assert nodes["chaincode-board"]["address"] == second["address"]

        # Upgrade 2: a new policy (org1 alone endorses), a version and a collection.
        collections = tmp_path / "collections.json"
        drafts = {"name": "drafts", "policy": "OR('Org1MSP.member')", "maxPeerCount": 1}
        collections.write_text(json.dumps([drafts]))
        third = _deploy(tmp_path, folder, "--policy", "OR('Org1MSP.peer')", "--version", "3",
                        "--collections", str(collections))  # fmt: skip
        assert (third["sequence"], third["version"]) == (3, "3")
        collections.unlink()  # the definition keeps what was approved
        committed = _json(tmp_path, "chaincode", "querycommitted", "--member", "org2",
                          "--name", "board")  # fmt: skip
        assert committed["definitions"][0]["endorsement_policy"] == "OR('Org1MSP.peer')"
        assert committed["definitions"][0]["sequence"] == 3
        assert committed["definitions"][0]["collections"] == ["drafts"]
        bad = consortium(tmp_path, "chaincode", "deploy", str(folder), "--name", "board",
                         "--policy", "AND(", check=False)  # fmt: skip
        assert bad.returncode == 2 and bad.stderr.startswith("error: --policy:")
        busy_port = _nodes(tmp_path)["peer-org1-peer0"]["address"].rsplit(":", 1)[1]
        taken_port = consortium(tmp_path, "chaincode", "deploy", str(folder), "--name", "board",
                                "--port", busy_port, check=False)  # fmt: skip
        assert taken_port.returncode == 2
        assert taken_port.stderr.startswith(f"error: --port {busy_port}: in use")

        # The reconciler keeps a chaincode deployed after `up` alive.
        pid_file = tmp_path / ".consortium" / "two-members" / "pids" / "chaincode-board.pid"
        dead = int(pid_file.read_text())
        subprocess.run(["kill", "-9", str(dead)], check=True)
        deadline = time.monotonic() + 20
        while (_nodes(tmp_path).get("chaincode-board") or {}).get("pid") in (None, dead):
            assert time.monotonic() < deadline, "the reconciler did not restart the runner"
            time.sleep(0.5)
        assert _edition(tmp_path, "org1") == "second"

        # Dev mode takes it over (the runner stops, the reconciler leaves it), reloads on
        # an edit, and hands it back on exit.
        dev = _dev(tmp_path, folder)
        try:
            _wait_for(dev, "serving chaincode board_3:")
            _edit(folder, "in dev mode")
            assert _until_edition(tmp_path, "in dev mode") == "in dev mode"
            time.sleep(2.5)  # a reconciler pass: it must not start the runner beside dev
            held = _nodes(tmp_path)["chaincode-board"]
            assert (held["state"], held["pid"]) == ("DEV", dev.pid)
            busy = consortium(tmp_path, "chaincode", "deploy", str(folder), "--name", "board",
                              check=False)  # fmt: skip
            assert busy.returncode == 2
            assert f"held by `chaincode dev` (pid {dev.pid})" in busy.stderr
            second = consortium(tmp_path, "chaincode", "dev", str(folder), "--name", "board",
                                check=False)  # fmt: skip
            assert second.returncode == 2 and "already in dev mode" in second.stderr
        finally:
            output = _stop(dev)
        assert "handed back" in output
        assert _nodes(tmp_path)["chaincode-board"]["listening"] is True
        assert _edition(tmp_path, "org1") == "in dev mode"  # the folder's code runs

        # A contract registering under another name at the address is refused by the peer.
        impostor = _dev(tmp_path, folder, "--id", "auction_1.0")
        try:
            _wait_for(impostor, "serving chaincode auction_1.0")
            refused = consortium(tmp_path, "query", "board", "Edition", "--member", "org1",
                                 check=False)  # fmt: skip
            assert "registered as 'auction_1.0'" in refused.stderr
        finally:
            _stop(impostor)
        address = _nodes(tmp_path)["chaincode-board"]["address"]
        taken = consortium(tmp_path, "chaincode", "dev", str(folder), "--address", address,
                           check=False)  # fmt: skip
        assert taken.returncode == 2 and "in use" in taken.stderr

        # An identity with an attribute may pin; user1 may not.
        consortium(tmp_path, "ca", "adduser", "mod1", "--member", "org1",
                   "--attrs", "board.role=moderator:ecert")  # fmt: skip
        user1 = consortium(tmp_path, "invoke", "board", "Pin", "n1", "--member", "org1",
                           check=False)  # fmt: skip
        assert user1.returncode == 1 and "moderator" in user1.stderr
        pinned = _json(tmp_path, "invoke", "board", "Pin", "n1", "--member", "org1",
                       "--identity", "mod1")  # fmt: skip
        assert pinned["result"]["pinned"] is True

        # `up` with the spec's chaincode changed (port and version) upgrades it.
        port = free_port()
        text = re.sub(r"(  - name: basic\n(?:    .*\n)*?    port: )\d+", rf"\g<1>{port}",
                      spec.read_text())  # fmt: skip
        edited = "    channel: mychannel\n    version: '2.0'\n"
        spec.write_text(text.replace("    channel: mychannel\n", edited, 1))
        upgraded = consortium(tmp_path, "up", str(spec))
        assert "upgrade chaincode basic (version 1.0 → 2.0" in upgraded.stderr
        assert "chaincode basic 2.0 upgraded on mychannel (sequence 2)" in upgraded.stderr
        assert _nodes(tmp_path)["chaincode-basic"]["address"] == f"127.0.0.1:{port}"
        created = _json(tmp_path, "invoke", "basic", "CreateAsset", "u1", "red", "1", "U", "1",
                        "--member", "org2")  # fmt: skip
        assert created["status"] == "VALID"

        # The reconciler follows that `up`: the upgraded runner is restarted at its new port.
        basic = tmp_path / ".consortium" / "two-members" / "pids" / "chaincode-basic.pid"
        dead = int(basic.read_text())
        subprocess.run(["kill", "-9", str(dead)], check=True)
        deadline = time.monotonic() + 20
        while not (
            (node := _nodes(tmp_path).get("chaincode-basic") or {}).get("pid") not in (None, dead)
            and node["listening"]
        ):
            assert time.monotonic() < deadline, "the reconciler did not restart basic"
            time.sleep(0.5)
        assert node["address"] == f"127.0.0.1:{port}"

        # A contract that no longer loads is reported with its exit code and the end of
        # its log, and does not keep the reconciler from restarting a peer that died.
        (folder / "__init__.py").write_text("raise RuntimeError('broken on purpose')\n")
        home = tmp_path / ".consortium" / "two-members"
        peer = int((home / "pids" / "peer-org2-peer0.pid").read_text())
        for node_name in ("chaincode-board", "peer-org2-peer0"):
            os.kill(int((home / "pids" / f"{node_name}.pid").read_text()), signal.SIGKILL)
        log = home / "logs" / "reconciler.log"
        deadline = time.monotonic() + 20
        while "chaincode-board exited while starting (exit code 2)" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.5)
        assert "broken on purpose" in log.read_text()
        while (_nodes(tmp_path)["peer-org2-peer0"]).get("pid") in (None, peer):
            assert time.monotonic() < deadline, "the peer was not restarted"
            time.sleep(0.5)
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)
