"""`up` on a running network plans from the spec it last applied: what it can apply is
listed, what it cannot is refused before anything is touched."""

from __future__ import annotations

from pathlib import Path

import pytest

from network.spec import load_spec
from network.supervisor.plan import plan_changes

ROOT = Path(__file__).resolve().parents[3]
TWO = (ROOT / "deploy" / "two-members.yaml").read_text()


def _plan(tmp_path: Path, old: str, new: str):
    (tmp_path / "a.yaml").write_text(TWO)
    (tmp_path / "b.yaml").write_text(TWO.replace(old, new, 1))
    return plan_changes(load_spec(tmp_path / "a.yaml"), load_spec(tmp_path / "b.yaml"))


def test_an_unchanged_spec_plans_nothing(tmp_path: Path) -> None:
    plan = _plan(tmp_path, "", "")
    assert plan.changes == [] and plan.refusals == []


@pytest.mark.parametrize(
    ("old", "new", "change"),
    [
        ("timeout: 250ms", "timeout: 1s", "batch settings"),
        (
            "      - name: peer0\n        port: 8051",
            "      - name: peer0\n        port: 8051\n      - name: peer1\n        port: 8151",
            "add peer org2/peer1",
        ),
        (
            "\nchaincodes:",
            "\n  - name: other\n    members: [org1]\n\nchaincodes:",
            "create channel other",
        ),
        (
            "\"AND('Org1MSP.peer', 'Org2MSP.peer')\"",
            "MAJORITY",
            "upgrade chaincode basic (endorsement_policy AND('Org1MSP.peer', 'Org2MSP.peer') "
            "→ MAJORITY)",
        ),
        (
            "port: 9999",
            "port: 9998\n    version: '2.0'",
            "basic (version 1.0 → 2.0, port 9999 → 9998)",
        ),
        (
            "max_message_count: 100\n",
            "max_message_count: 100\n    anchor_peers: {org2: [peer0]}\n",
            "channel mychannel: anchor peers org2: peer0 by config update",
        ),
        (
            "max_message_count: 100\n",
            "max_message_count: 100\n    policies: {Endorsement: ANY Endorsement}\n",
            "channel mychannel: policy Endorsement = ANY Endorsement by config update",
        ),
    ],
)
def test_what_can_be_applied_is_planned(tmp_path: Path, old: str, new: str, change: str) -> None:
    plan = _plan(tmp_path, old, new)
    assert plan.refusals == []
    assert any(change in line for line in plan.changes), plan.changes


@pytest.mark.parametrize(
    ("old", "new", "refusal"),
    [
        ("members: [org1, org2]", "members: [org1]", "channel add-member"),
        ("port: 7050", "port: 7059", "ordering"),
        ("port: 8051", "port: 8059", "a running peer cannot move"),
        ("threshold_percentage: 50", "threshold_percentage: 60", "voting policy"),
    ],
)
def test_what_cannot_be_applied_is_refused(
    tmp_path: Path, old: str, new: str, refusal: str
) -> None:
    assert old in TWO
    plan = _plan(tmp_path, old, new)
    assert any(refusal in line for line in plan.refusals), plan.refusals


def test_a_chaincode_cannot_move_to_another_channel(tmp_path: Path) -> None:
    old = "channel: mychannel\n    port: 9999"
    new = "channel: other\n    port: 9999"
    plan = _plan(tmp_path, "\nchaincodes:", "\n  - name: other\n    members: [org1]\n\nchaincodes:")
    assert plan.refusals == []
    (tmp_path / "c.yaml").write_text((tmp_path / "b.yaml").read_text().replace(old, new))
    moved = plan_changes(load_spec(tmp_path / "b.yaml"), load_spec(tmp_path / "c.yaml"))
    assert moved.refusals == [
        "chaincodes.basic.channel: a committed chaincode cannot move to another channel "
        "(deploy it there under another name)"
    ]


def test_a_policy_or_anchor_removed_from_the_spec_is_refused(tmp_path: Path) -> None:
    settings = "    anchor_peers: {org2: [peer0]}\n    policies: {Endorsement: ANY Endorsement}\n"
    set_both = TWO.replace("max_message_count: 100\n", "max_message_count: 100\n" + settings)
    (tmp_path / "a.yaml").write_text(set_both)
    (tmp_path / "b.yaml").write_text(TWO)
    (tmp_path / "c.yaml").write_text(set_both.replace("ANY Endorsement", "ALL Endorsement"))
    removed = plan_changes(load_spec(tmp_path / "a.yaml"), load_spec(tmp_path / "b.yaml"))
    assert [r.split(":")[0] for r in removed.refusals] == [
        "channels.mychannel.anchor_peers.org2",
        "channels.mychannel.policies.Endorsement",
    ]
    edited = plan_changes(load_spec(tmp_path / "a.yaml"), load_spec(tmp_path / "c.yaml"))
    assert edited.changes == [
        "channel mychannel: policy Endorsement ANY Endorsement → ALL Endorsement by config update"
    ]


def test_analytics_can_be_added_but_not_changed_while_running(tmp_path: Path) -> None:
    section = TWO[TWO.index("\nanalytics:") :]
    (tmp_path / "a.yaml").write_text(TWO.replace(section, "\n"))
    (tmp_path / "b.yaml").write_text(TWO)
    added = plan_changes(load_spec(tmp_path / "a.yaml"), load_spec(tmp_path / "b.yaml"))
    assert added.refusals == []
    assert added.changes == ["start the analytics node: org1's peer0 on mychannel"]
    moved = _plan(tmp_path, "  port: 7400", "  port: 7420")
    assert moved.changes == [] and "analytics" in moved.refusals[0]
