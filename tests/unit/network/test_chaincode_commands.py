"""`chaincode deploy` and `chaincode dev` refuse bad input with one sentence naming the
option, before anything is touched (no network needed to see it)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from network.cli import cli

SAMPLE = Path(__file__).resolve().parents[3] / "chaincode" / "samples" / "asset_transfer"


def _run(tmp_path: Path, *args: str):
    return CliRunner().invoke(cli, [*args, "--home", str(tmp_path / ".consortium")])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--name", "bad name"], "--name 'bad name': letters and digits"),
        (["--name", "ok", "--version", "1 0"], "--version '1 0'"),
        (["--name", "ok", "--policy", "AND("], "--policy: policy 'AND('"),
        (["--name", "ok"], "no network runs under"),
    ],
)
def test_deploy_names_the_bad_option(tmp_path: Path, options: list[str], message: str) -> None:
    result = _run(tmp_path, "chaincode", "deploy", str(SAMPLE), *options)
    assert result.exit_code == 2
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_deploy_wants_a_contract_folder(tmp_path: Path) -> None:
    result = _run(tmp_path, "chaincode", "deploy", str(tmp_path), "--name", "x")
    assert result.exit_code == 2 and "not a contract folder" in result.output


def test_deploy_names_the_bad_collections_field(tmp_path: Path) -> None:
    bad = tmp_path / "collections.json"
    bad.write_text('[{"name": "c", "policy": "OR(\'A.member\')", "maxPeerCount": "3"}]')
    result = _run(tmp_path, "chaincode", "deploy", str(SAMPLE), "--name", "x",
                  "--collections", str(bad))  # fmt: skip
    assert result.exit_code == 2
    assert "--collections: collections file" in result.output and "maxPeerCount" in result.output


def test_dev_refuses_an_address_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        result = _run(tmp_path, "chaincode", "dev", str(SAMPLE), "--address", address)
    assert result.exit_code == 2
    assert f"--address {address}: in use" in result.output
