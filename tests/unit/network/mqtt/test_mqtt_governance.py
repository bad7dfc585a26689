"""Governance feed events get their (sequence, index) position."""

from __future__ import annotations

from network.mqtt.checkpoint import Position
from network.mqtt.governance import number_events


def test_events_are_numbered_within_their_journal_block() -> None:
    events = [
        {"SequenceNo": 4, "Kind": "ProposalCreated"},
        {"SequenceNo": 6, "Kind": "VoteCast"},
        {"SequenceNo": 6, "Kind": "ProposalDecided"},
        {"SequenceNo": 6, "Kind": "InvitationIssued"},
        {"SequenceNo": 9, "Kind": "MemberJoined"},
    ]
    positions = [p for p, _ in number_events(events)]
    assert positions == [
        Position(4, 0),
        Position(6, 0),
        Position(6, 1),
        Position(6, 2),
        Position(9, 0),
    ]
