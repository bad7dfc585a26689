"""The spec's ``events`` section: a local or remote broker, the reading member, ingress;
mistakes named by line and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from network.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[4]
SHIPPED = (ROOT / "deploy" / "two-members.yaml").read_text()
BASE = re.split(r"\n(?:#[^\n]*\n)*events:", SHIPPED)[0]  # the spec without its events


def _load(tmp_path: Path, events: str):
    path = tmp_path / "spec.yaml"
    path.write_text(BASE + "\n" + events)
    return load_spec(path)


def test_a_local_broker_with_ingress(tmp_path: Path) -> None:
    spec = _load(
        tmp_path,
        "events:\n  broker: local\n  port: 1884\n  member: org2\n"
        "  ingress: {member: org1, identity: orgadmin}\n",
    )
    events = spec.events
    assert events is not None
    assert (events.local, events.broker_host, events.broker_port) == (True, "127.0.0.1", 1884)
    assert (events.member, events.ingress_member, events.ingress_identity) == (
        "org2",
        "org1",
        "orgadmin",
    )
    assert ("events broker", "127.0.0.1", 1884, events.line) in spec.ports()


def test_a_remote_broker_defaults_to_the_first_member_and_no_ingress(tmp_path: Path) -> None:
    events = _load(tmp_path, "events: {broker: 'mq.example:8883'}\n").events
    assert events is not None
    assert (events.local, events.broker_host, events.broker_port) == (False, "mq.example", 8883)
    assert (events.member, events.ingress_member) == ("org1", "")


def test_the_shipped_spec_runs_a_local_broker_with_ingress() -> None:
    events = load_spec(ROOT / "deploy" / "two-members.yaml").events
    assert events is not None and events.local and events.ingress_member == "org1"


def test_no_events_section_means_no_bridge(tmp_path: Path) -> None:
    assert _load(tmp_path, "").events is None


@pytest.mark.parametrize(
    ("events", "field", "message"),
    [
        ("events: {broker: nowhere}", "events.broker", "is not host:port (or local)"),
        ("events: {broker: 'h:1', port: 3}", "events.port", "only a local broker"),
        ("events: {broker: local, member: org9}", "events.member", "no member named 'org9'"),
        ("events: {broker: local, ingress: {member: org7}}", "events.ingress.member", "org7"),
        (
            "events: {broker: local, ingress: {member: org1, identity: root}}",
            "events.ingress.identity",
            "must be user1 or orgadmin",
        ),
        ("events: {broker: local, port: 7051}", "events broker", "also used by"),
        ("events: {port: 1883}", "events", "broker is required"),
    ],
)
def test_a_bad_events_section_is_named(tmp_path: Path, events: str, field: str, message: str):
    with pytest.raises(SpecError) as caught:
        _load(tmp_path, events + "\n")
    error = caught.value
    assert field in error.field or field in str(error)
    assert message in str(error)
    assert error.line == len(BASE.splitlines()) + 2  # the events line
