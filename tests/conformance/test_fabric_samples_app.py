"""fabric-samples' asset-transfer-basic application (``application-gateway-typescript``,
unmodified: its ``src/app.ts`` as fabric-samples holds it, transpiled as its own build
does) against ``consortium up deploy/two-members.yaml``, pointed at org1's files by its
own environment variables. It prints what it prints against Fabric, ids aside.

fabric-samples is read from the git directory ``SAMPLES_GIT`` names (as the real-Fabric
anchor's build does); without it the test is skipped, since nothing may be downloaded
while the tests run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_up import spec_with_free_ports
from tests.support.mtls import without_client_auth
from tests.support.processes import consortium

HERE = Path(__file__).resolve().parent
APP = "asset-transfer-basic/application-gateway-typescript/src/app.ts"


def _app_source(directory: Path) -> Path:
    samples = os.environ.get("SAMPLES_GIT", "")
    if not samples or not Path(samples).is_dir():
        pytest.skip("SAMPLES_GIT (a git directory of hyperledger/fabric-samples) is not set")
    source = directory / "app.ts"
    shown = subprocess.run(
        ["git", "--git-dir", samples, "show", f"HEAD:{APP}"], capture_output=True, check=True
    )
    source.write_bytes(shown.stdout)
    return source


def _environment(connection: dict) -> dict[str, str]:
    """The application's own variables, set from the member's connection file."""
    gateway, user = connection["gateway"], connection["identities"]["user1"]
    return {
        **os.environ,
        "NODE_PATH": str(HERE / "node_modules"),
        "MSP_ID": connection["mspId"],
        "KEY_DIRECTORY_PATH": str(Path(user["key"]).parent),
        "CERT_DIRECTORY_PATH": str(Path(user["cert"]).parent),
        "TLS_CERT_PATH": gateway["tlsRootCert"],
        "PEER_ENDPOINT": gateway["endpoint"],
        "PEER_HOST_ALIAS": gateway["hostnameOverride"],
    }


@pytest.mark.slow
def test_the_fabric_samples_application_runs_unmodified(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is not installed: run deploy/install-deps.sh"
    source = _app_source(tmp_path)
    app = tmp_path / "app.js"
    subprocess.run([node, HERE / "transpile.js", source, app], check=True, timeout=120)
    spec = without_client_auth(spec_with_free_ports(tmp_path))  # the app has no client cert
    try:
        consortium(tmp_path, "up", str(spec), "--no-reconcile", "-o", "json")
        connection = json.loads(consortium(tmp_path, "connection", "org1", "-o", "json").stdout)
        run = subprocess.run(
            [node, app], env=_environment(connection), capture_output=True, text=True, timeout=180
        )
    finally:
        consortium(tmp_path, "down", "--purge", check=False)
    output = run.stdout
    assert run.returncode == 0, output + run.stderr
    assert output.count("*** Transaction committed successfully") == 3, output
    assert "to transfer ownership from Tom to Saptha" in output
    assert "ID: 'asset1'" in output and "Owner: 'Tomoko'" in output  # GetAllAssets
    assert "Owner: 'Saptha'" in output  # ReadAsset after the transfer
    assert "*** Successfully caught the error" in output and "EndorseError" in output
    assert "The asset asset70 does not exist" in output
