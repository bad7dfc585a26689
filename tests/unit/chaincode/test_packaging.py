"""CCaaS packages: Fabric's layout, and package IDs checked against hashlib directly."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from chaincode.errors import PackagingError
from chaincode.packaging import Connection, build_package, read_package, write_package
from network.cli import cli

SAMPLE = Path(__file__).resolve().parents[3] / "chaincode" / "samples" / "asset_transfer"


def test_package_id_is_label_and_sha256_of_the_file(tmp_path):
    built = write_package(SAMPLE, "basic_1.0", Connection("peer0:9999"), tmp_path / "p.tar.gz")
    digest = hashlib.sha256((tmp_path / "p.tar.gz").read_bytes()).hexdigest()
    assert built.package_id == f"basic_1.0:{digest}"


def test_same_inputs_give_the_same_id_and_different_inputs_do_not(tmp_path):
    a = write_package(SAMPLE, "basic_1.0", Connection("peer0:9999"), tmp_path / "a.tar.gz")
    b = write_package(SAMPLE, "basic_1.0", Connection("peer0:9999"), tmp_path / "b.tar.gz")
    c = write_package(SAMPLE, "basic_1.0", Connection("peer1:9999"), tmp_path / "c.tar.gz")
    assert a.package_id == b.package_id != c.package_id


def test_layout_is_what_the_ccaas_builder_reads(tmp_path):
    (tmp_path / "cc").mkdir()
    (tmp_path / "cc" / "__init__.py").write_text("")
    index = tmp_path / "cc" / "META-INF" / "statedb" / "couchdb" / "indexes" / "owner.json"
    index.parent.mkdir(parents=True)
    index.write_text('{"index":{"fields":["owner"]},"name":"owner","type":"json"}')
    data = build_package(tmp_path / "cc", "cc_2", Connection("cc.example.com:7052"))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as outer:
        assert outer.getnames() == ["metadata.json", "code.tar.gz"]
        metadata = json.load(outer.extractfile("metadata.json"))
        with tarfile.open(fileobj=outer.extractfile("code.tar.gz"), mode="r:gz") as code:
            names = code.getnames()
            connection = json.load(code.extractfile("connection.json"))
    assert metadata == {"type": "ccaas", "label": "cc_2"}
    assert names == ["connection.json", "META-INF/statedb/couchdb/indexes/owner.json"]
    assert connection == {
        "address": "cc.example.com:7052",
        "dial_timeout": "10s",
        "tls_required": False,
    }
    assert read_package(data)[0]["type"] == "ccaas"


@pytest.mark.parametrize(
    ("label", "address", "message"),
    [
        ("-bad", "h:1", "label"),
        ("has space", "h:1", "label"),
        ("", "h:1", "label"),
        ("ok", "nohost", "address"),
        ("ok", "h:99999", "address"),
    ],
)
def test_bad_label_or_address_is_refused_and_nothing_is_written(tmp_path, label, address, message):
    with pytest.raises(PackagingError, match=message):
        write_package(SAMPLE, label, Connection(address), tmp_path / "x.tar.gz")
    assert not list(tmp_path.iterdir())


def test_cli_package_prints_the_id(tmp_path):
    out = tmp_path / "basic.tar.gz"
    result = CliRunner().invoke(
        cli,
        [
            "chaincode",
            "package",
            str(SAMPLE),
            "--label",
            "basic_1.0",
            "--file",
            str(out),
            "-o",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["package_id"] == "basic_1.0:" + hashlib.sha256(out.read_bytes()).hexdigest()


def test_cli_bad_directory_is_one_line_and_exit_2(tmp_path):
    result = CliRunner().invoke(
        cli, ["chaincode", "package", str(tmp_path / "missing"), "--label", "x"]
    )
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_tls_connection_json_carries_the_pems(tmp_path):
    connection = Connection(
        "cc:9999",
        tls_required=True,
        client_auth_required=True,
        root_cert="ROOT",
        client_cert="CERT",
        client_key="KEY",
    )
    _metadata, code = read_package(build_package(SAMPLE, "tls_1", connection))
    assert json.loads(code["connection.json"]) == {
        "address": "cc:9999",
        "dial_timeout": "10s",
        "tls_required": True,
        "client_auth_required": True,
        "root_cert": "ROOT",
        "client_key": "KEY",
        "client_cert": "CERT",
    }


@pytest.mark.parametrize(
    ("connection", "message"),
    [
        (Connection("cc:1", dial_timeout="ten"), "dial_timeout"),
        (Connection("cc:1", root_cert="R"), "tls_required"),
        (Connection("cc:1", tls_required=True, client_auth_required=True), "mutual TLS"),
    ],
)
def test_inconsistent_connection_is_refused(connection, message):
    with pytest.raises(PackagingError, match=message):
        build_package(SAMPLE, "x", connection)


def test_cli_tls_options(tmp_path):
    (tmp_path / "root.pem").write_text("ROOT")
    out = tmp_path / "t.tar.gz"
    result = CliRunner().invoke(
        cli,
        [
            "chaincode",
            "package",
            str(SAMPLE),
            "--label",
            "t_1",
            "--tls",
            "--root-cert",
            str(tmp_path / "root.pem"),
            "--file",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    _metadata, code = read_package(out.read_bytes())
    assert json.loads(code["connection.json"])["root_cert"] == "ROOT"
    missing = CliRunner().invoke(
        cli,
        [
            "chaincode",
            "package",
            str(SAMPLE),
            "--label",
            "t_1",
            "--tls",
            "--root-cert",
            str(tmp_path / "nope.pem"),
        ],
    )
    assert missing.exit_code == 2 and "--root-cert" in missing.output
