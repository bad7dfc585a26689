"""Names for ids on the local network, durations for the manual clock, tables that keep
ids whole, logs rotated by size."""

from __future__ import annotations

from pathlib import Path

import pytest

from network.commands.clock import parse_duration
from network.localnet import NameNotFound, is_id, pick_by_name
from network.output import _is_id_column
from network.processes import rotate_if_large

MEMBERS = [
    {"Name": "org1", "Id": "m-AAAAAAAAAAAAAAAAAAAAAAAAAA", "Status": "AVAILABLE"},
    {"Name": "org2", "Id": "m-BBBBBBBBBBBBBBBBBBBBBBBBBB", "Status": "DELETED"},
    {"Name": "org2", "Id": "m-CCCCCCCCCCCCCCCCCCCCCCCCCC", "Status": "AVAILABLE"},
]


def test_a_name_picks_the_live_member_of_that_name() -> None:
    assert pick_by_name(MEMBERS, "org1", "Id", "member") == MEMBERS[0]["Id"]
    assert pick_by_name(MEMBERS, "org2", "Id", "member") == MEMBERS[2]["Id"]
    with pytest.raises(NameNotFound, match=r"no member named 'org3' \(known: org1, org2\)"):
        pick_by_name(MEMBERS, "org3", "Id", "member")
    twins = [dict(MEMBERS[0]), dict(MEMBERS[0], Id="m-DDDDDDDDDDDDDDDDDDDDDDDDDD")]
    with pytest.raises(NameNotFound, match="2 members are named 'org1'"):
        pick_by_name(twins, "org1", "Id", "member")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("m-AAAAAAAAAAAAAAAAAAAAAAAAAA", True),
        ("n-ABCDEFGHIJKLMNOPQRSTUVWXYZ", True),
        ("org1", False),
        ("m-MISSING", True),  # id-shaped: the API answers ResourceNotFound
        ("m-short", False),
        ("m-aaaaaaaaaaaaaaaaaaaaaaaaaa", False),
    ],
)
def test_ids_are_told_from_names(value: str, expected: bool) -> None:
    assert is_id(value) is expected


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("25h", 90000), ("1h30m", 5400), ("7d", 604800), ("1.5s", 1.5)],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5", "1h 30m", "-1h", "h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_id_columns_are_recognised_by_name_or_content() -> None:
    assert _is_id_column("ProposalId", ["x"])
    assert _is_id_column("member id", ["x"])
    assert _is_id_column("open proposal", ["p-AAAAAAAAAAAAAAAAAAAAAAAAAA"])
    assert not _is_id_column("Status", ["AVAILABLE"])


def test_a_large_log_is_rotated_when_its_node_starts(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CONSORTIUM_LOG_MAX_BYTES", "10")
    log = tmp_path / "node.log"
    log.write_text("small")
    rotate_if_large(log)
    assert log.read_text() == "small"
    for generation in ("first run, long enough", "second run, long enough"):
        log.write_text(generation)
        rotate_if_large(log)
        assert not log.exists()
    assert (tmp_path / "node.log.1").read_text() == "second run, long enough"
    assert (tmp_path / "node.log.2").read_text() == "first run, long enough"


def test_status_names_certificates_that_expire_within_30_days(tmp_path) -> None:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from network.status import expiring_certificates

    def certificate(name: str, days: int) -> bytes:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime(2030, 1, 1, tzinfo=UTC)
        built = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=days))
            .sign(key, hashes.SHA256())
        )
        return built.public_bytes(serialization.Encoding.PEM)

    tls = tmp_path / "members" / "org1" / "peers" / "peer0" / "tls"
    tls.mkdir(parents=True)
    (tls / "server.crt").write_bytes(certificate("peer0", 10))
    signcerts = tmp_path / "members" / "org1" / "users" / "user1" / "msp" / "signcerts"
    signcerts.mkdir(parents=True)
    (signcerts / "cert.pem").write_bytes(certificate("user1", 365))
    old = tmp_path / "snapshots" / "s" / "network" / "tls"
    old.mkdir(parents=True)
    (old / "server.crt").write_bytes(certificate("old", 1))
    found = expiring_certificates(tmp_path, now=datetime(2030, 1, 1, tzinfo=UTC))
    assert found == [
        {"file": "members/org1/peers/peer0/tls/server.crt", "subject": "CN=peer0", "days_left": 10}
    ]


def test_an_invited_account_gets_its_own_secret_in_the_credentials_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`as_account 333333333333 consortium member create …` (the demo) on a network up
    runs in strict SigV4: the invited account signs with a secret the file now holds."""
    from network.controlplane.cli_support import _as_member
    from network.controlplane.client import Client
    from network.controlplane.keyfile import local_secret, secret_for
    from network.localnet import LocalNetwork

    keys = tmp_path / "credentials"
    org1 = secret_for(keys, "111111111111")
    local = LocalNetwork("n", "http://127.0.0.1:1", "n-1", {"org1": "111111111111"}, keys)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    assert _as_member(Client.from_environment(), local, "org1").secret == org1

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "333333333333")
    invited = _as_member(Client.from_environment(), local, None)
    assert invited.access_key_id == "333333333333"
    assert invited.secret == local_secret(keys, "333333333333") != org1
    assert _as_member(Client.from_environment(), local, None).secret == invited.secret
