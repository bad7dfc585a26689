"""The broker's password and ACL files follow the network's members: rewritten (and the
broker told to re-read them) only when a member came, went or changed channels, and
again after a crash between the two; a member voted out loses its password."""

from __future__ import annotations

import json
from pathlib import Path

from network.mqtt.access import BRIDGE_USER
from network.spec import load_spec
from network.supervisor import Home, Supervisor
from network.supervisor.base import MQTT_USERS

ROOT = Path(__file__).resolve().parents[3]


def _users(passwords: Path) -> set[str]:
    return {line.split(":", 1)[0] for line in passwords.read_text().splitlines()}


def test_files_change_with_the_members_and_only_then(tmp_path: Path) -> None:
    supervisor = Supervisor(
        load_spec(ROOT / "deploy" / "two-members.yaml"), Home(tmp_path / "net"), lambda _: None
    )
    events = supervisor.spec.events
    assert events is not None

    def apply() -> str | None:
        """One pass as the supervisor makes it: write, (signal,) record."""
        _, pending = supervisor._broker_files(events)
        if pending is not None:
            supervisor._broker_applied(pending)
        return pending

    assert apply() is not None
    files, _ = supervisor._broker_files(events)
    assert _users(files.passwords) == {BRIDGE_USER, "org1", "org2"}
    written = files.passwords.read_text(), files.acl.read_text()
    assert apply() is None  # a reconcile pass with nothing new: nothing rewritten
    assert (files.passwords.read_text(), files.acl.read_text()) == written

    joined = {"name": "org3", "account": "3" * 12, "mspid": "Org3MSP"}
    supervisor.state["joined"] = [joined | {"ca_port": 1, "peer_port": 2}]
    _, pending = supervisor._broker_files(events)  # voted in: a login, in no channel yet
    assert pending is not None and _users(files.passwords) == {BRIDGE_USER, "org1", "org2", "org3"}
    org3_rules = files.acl.read_text().split("user org3\n", 1)[1]
    assert "governance" in org3_rules and "mychannel" not in org3_rules
    # the supervisor died before the broker re-read the files: the next pass signals it
    assert supervisor._broker_files(events)[1] == pending
    supervisor._broker_applied(pending)
    old_password = json.loads((supervisor.home.root / MQTT_USERS).read_text())["org3"]

    supervisor.state["joined_channels"] = {"mychannel": ["org3"]}
    assert apply() is not None  # added to the channel: reads its events
    assert "mychannel/blocks" in files.acl.read_text().split("user org3\n", 1)[1]

    supervisor.state["removed"] = ["org3"]
    assert apply() is not None  # voted out: no login, no password kept
    assert _users(files.passwords) == {BRIDGE_USER, "org1", "org2"}
    assert "user org3" not in files.acl.read_text()
    assert "org3" not in json.loads((supervisor.home.root / MQTT_USERS).read_text())

    supervisor.state["removed"] = []  # invited back under its name: a new password
    apply()
    assert json.loads((supervisor.home.root / MQTT_USERS).read_text())["org3"] != old_password
