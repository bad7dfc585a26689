"""Governance from the CLI on a network `consortium up` runs: no endpoint, no network id,
member names instead of ids, ids printed whole, and proposal expiry rehearsed with
`consortium clock advance` — real processes, the CLI as a user types it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.integration.test_up import spec_with_free_ports
from tests.support.processes import consortium


def _manual_clock_spec(tmp_path: Path) -> Path:
    spec = spec_with_free_ports(tmp_path)
    text = re.sub(r"(control_plane:\n  port: \d+\n)", r"\1  clock: manual\n", spec.read_text())
    assert "clock: manual" in text
    spec.write_text(text)
    return spec


@pytest.mark.slow
def test_governance_commands_know_the_local_network(tmp_path: Path) -> None:
    spec = _manual_clock_spec(tmp_path)
    try:
        consortium(tmp_path, "up", str(spec), "-o", "json")
        members = json.loads(consortium(tmp_path, "member", "list", "-o", "json").stdout)
        ids = {m["Name"]: m["Id"] for m in members}
        assert set(ids) == {"org1", "org2"}

        # Names where AMB wants ids; the proposer acts as org1's account from the spec.
        created = consortium(
            tmp_path, "proposal", "create", "--member", "org1", "--invite", "333333333333",
            "--network", "two-members", "-o", "json",
        )  # fmt: skip
        proposal = json.loads(created.stdout)["ProposalId"]
        shown = json.loads(consortium(tmp_path, "member", "show", "org2", "-o", "json").stdout)
        assert shown["Id"] == ids["org2"]

        # The table prints ids whole (piped output is as wide as its rows).
        table = consortium(tmp_path, "proposal", "list").stdout
        assert proposal in table
        assert ids["org1"] in consortium(tmp_path, "member", "list").stdout

        # Unknown names are one line naming what exists.
        wrong = consortium(tmp_path, "member", "show", "org9", check=False)
        assert wrong.returncode == 2
        assert "no member named 'org9' (known: org1, org2)" in wrong.stderr

        # Expiry rehearsed: 23 h is not enough, 25 h is.
        early = consortium(tmp_path, "clock", "advance", "23h").stdout
        assert "nothing expired" in early
        consortium(tmp_path, "clock", "advance", "2h")
        after = json.loads(consortium(tmp_path, "proposal", "show", proposal, "-o", "json").stdout)
        assert after["Status"] == "EXPIRED"
        bad = consortium(tmp_path, "clock", "advance", "soon", check=False)
        assert bad.returncode == 2 and "DURATION" in bad.stderr
    finally:
        consortium(tmp_path, "down", str(spec), "--purge", check=False)
