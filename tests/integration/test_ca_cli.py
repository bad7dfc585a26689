"""``consortium ca`` client commands against a real CA process, fabric-ca-client style."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ca import certificates
from ca.authority import CertificateAuthority
from ca.errors import IdentityError
from ca.msp import Role, load_msp, load_signing_identity
from network.cli import cli
from tests.conformance.ca_process import start_ca, stop


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    home = tmp_path_factory.mktemp("cli") / "home"
    process, url = start_ca(home)
    try:
        yield url, home
    finally:
        stop(process)


def run(*args: str) -> dict:
    result = CliRunner().invoke(cli, [*args, "-o", "json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def with_credentials(url: str, user: str, secret: str) -> str:
    return url.replace("http://", f"http://{user}:{secret}@")


def test_enroll_register_revoke_msp(ca, tmp_path: Path) -> None:
    url, home = ca
    admin_msp = tmp_path / "admin-msp"
    run("ca", "enroll", "--url", with_credentials(url, "admin", "adminpw"), "--out", str(admin_msp))
    admin = load_signing_identity(admin_msp, "Org1MSP")
    assert (admin_msp / "config.yaml").exists()

    secret = run(
        "ca",
        "register",
        "--url",
        url,
        "--msp",
        str(admin_msp),
        "--id",
        "peer0",
        "--type",
        "peer",
        "--affiliation",
        "org1",
        "--attrs",
        "app.zone=eu:ecert,level=2",
    )["secret"]
    peer_msp = tmp_path / "peer0-msp"
    run(
        "ca",
        "enroll",
        "--url",
        with_credentials(url, "peer0", secret),
        "--out",
        str(peer_msp),
        "--attrs",
        "app.zone,missing:opt",
    )
    peer = load_signing_identity(peer_msp, "Org1MSP")
    cert = certificates.load_certificate(peer.certificate_pem)
    assert certificates.certificate_attributes(cert) == {"app.zone": "eu"}

    tls_dir = tmp_path / "peer0-tls"
    run(
        "ca",
        "enroll",
        "--url",
        with_credentials(url, "peer0", secret),
        "--out",
        str(tls_dir),
        "--profile",
        "tls",
        "--hosts",
        "peer0.org1,127.0.0.1",
    )
    assert oct((tls_dir / "server.key").stat().st_mode & 0o777) == "0o600"
    assert certificates.issued_by(
        certificates.load_certificate((tls_dir / "server.crt").read_bytes()),
        certificates.load_certificate((tls_dir / "ca.crt").read_bytes()),
    )

    member_msp = tmp_path / "org1-msp"
    run("ca", "msp", "--home", str(home), "--out", str(member_msp))
    msp = load_msp(member_msp, "Org1MSP")
    assert Role.PEER in msp.roles(msp.deserialize(peer.creator))
    assert Role.CLIENT in msp.roles(msp.deserialize(admin.creator))

    crl_file = tmp_path / "crl.pem"
    revoked = run(
        "ca",
        "revoke",
        "--url",
        url,
        "--msp",
        str(admin_msp),
        "--id",
        "peer0",
        "--reason",
        "keycompromise",
        "--crl-out",
        str(crl_file),
    )
    assert certificates.hex_id(cert.serial_number) in revoked["revoked"]
    run("ca", "gencrl", "--url", url, "--msp", str(admin_msp), "--out", str(tmp_path / "c2.pem"))
    run("ca", "msp", "--home", str(home), "--out", str(member_msp))
    msp = load_msp(member_msp, "Org1MSP")
    with pytest.raises(IdentityError, match="revoked"):
        msp.validate(msp.deserialize(peer.creator))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ca", "serve", "--home", "{tmp}/h", "--boot", "admin"], "--boot must be NAME:PASSWORD"),
        (["ca", "enroll", "--url", "ftp://x", "--out", "{tmp}/o"], "is not http(s)"),
        (["ca", "enroll", "--url", "{url}", "--out", "{tmp}/o"], "must carry the enrollment ID"),
        (["ca", "enroll", "--url", "{bad}", "--out", "{tmp}/o"], "401 (code 20)"),
        (
            ["ca", "register", "--url", "{url}", "--msp", "{tmp}", "--id", "x"],
            "no certificate in signcerts",
        ),
        (["ca", "serve", "--home", "{tmp}/h2", "--max-enrollments", "-5"], "max_enrollments"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(ca, tmp_path: Path, args, message) -> None:
    url, _ = ca
    values = {"tmp": str(tmp_path), "url": url, "bad": with_credentials(url, "admin", "nope")}
    result = CliRunner().invoke(cli, [a.format(**values) for a in args])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_wrong_master_key_is_one_clear_line(tmp_path: Path) -> None:
    CertificateAuthority.open(tmp_path / "home", master_key=b"the right master key").close()
    wrong = tmp_path / "wrong.key"
    wrong.write_text("a wrong master key, long enough\n")
    result = CliRunner().invoke(
        cli,
        [
            "ca",
            "msp",
            "--home",
            str(tmp_path / "home"),
            "--out",
            str(tmp_path / "m"),
            "--master-key-file",
            str(wrong),
        ],
    )
    assert result.exit_code == 2
    assert "cannot be decrypted with this master key" in result.output
    assert not (tmp_path / "m").exists()
