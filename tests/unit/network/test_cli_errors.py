"""The CLI's one error handler: each part's root ends a command with one line on stderr
and its exit status from ``network.cli.EXIT_CODES``, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fabric_protos.gateway import gateway_pb2

from ledgerdb.partiql.errors import PartiQLSyntaxError
from network.cli import EXIT_CODES, cli, exit_code, one_line
from network.controlplane.errors import ResourceNotFoundException
from network.gateway_client import CommitError, GatewayClientError
from network.locate import MemberNotFound
from network.output import EXIT_BAD_INPUT, EXIT_REFUSED
from tests.unit.test_errors import ROOTS


def test_every_parts_root_has_an_exit_status() -> None:
    assert set(ROOTS.values()) <= set(EXIT_CODES)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (PartiQLSyntaxError(1, 1, "x"), EXIT_BAD_INPUT),
        (MemberNotFound("no member"), EXIT_BAD_INPUT),
        (ResourceNotFoundException("no network"), EXIT_BAD_INPUT),
        (GatewayClientError("not endorsed"), EXIT_REFUSED),
        (CommitError("t1", 11, 5), EXIT_REFUSED),
    ],
)
def test_the_nearest_class_listed_decides_the_status(error: Exception, status: int) -> None:
    assert exit_code(error) == status


def test_one_line_names_the_amb_error_type_and_the_refusing_peers() -> None:
    assert one_line(ResourceNotFoundException("no network n-1")) == (
        "ResourceNotFoundException: no network n-1"
    )
    detail = gateway_pb2.ErrorDetail(msp_id="Org2MSP", message="chaincode failed")
    refused = GatewayClientError("endorse failed", details=[detail])
    assert one_line(refused) == "endorse failed (Org2MSP: chaincode failed)"


def test_a_root_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["ledger", "digest", "--ledger", str(tmp_path / "none")])
    assert result.exit_code == EXIT_BAD_INPUT
    assert result.output.startswith("error: ") and len(result.output.splitlines()) == 1
