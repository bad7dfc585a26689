"""Contracts as real chaincode-as-a-service processes: the runner, and dev mode's restarts."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaincode.errors import ShimError
from chaincode.testing import ContractHarness, IdentityFactory
from proto.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "chaincode" / "samples" / "asset_transfer"


@pytest.fixture(scope="module")
def identities() -> IdentityFactory:
    return IdentityFactory()


def wait_for_line(process: subprocess.Popen, needle: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if needle in line:
            return
        if not line and process.poll() is not None:
            break
    raise AssertionError(f"process never printed {needle!r}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()


async def message_after_restart(harness: ContractHarness, expected: str, timeout: float = 20.0):
    """Query until the restarted contract answers; the harness re-dials by itself."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = await harness.query("ReadAsset", "x")
            if expected in result.message or time.monotonic() > deadline:
                return result.message
        except ShimError:
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(0.2)


async def test_harness_drives_an_external_ccaas_process(identities):
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaincode.runner",
            str(SAMPLE),
            "--id",
            "basic_1.0:x",
            "--address",
            f"127.0.0.1:{port}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(process, "serving chaincode basic_1.0:x")
        async with ContractHarness(identities=identities) as harness:
            await harness.connect(f"127.0.0.1:{port}", "basic")
            assert (await harness.invoke("InitLedger")).ok
            asset = await harness.query("ReadAsset", "asset3")
            assert asset.json()["Owner"] == "Jin Soo"
    finally:
        stop(process)


async def test_nothing_listening_is_a_clear_error(identities):
    async with ContractHarness(identities=identities) as harness:
        with pytest.raises(ShimError, match="no chaincode server answered"):
            await harness.connect(f"127.0.0.1:{free_port()}", "basic")


@pytest.mark.slow
async def test_dev_mode_restarts_on_change_and_peers_reconnect(tmp_path, identities):
    contract_dir = tmp_path / "asset_transfer"
    shutil.copytree(SAMPLE, contract_dir, ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    address = f"127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "consortium"),
            "chaincode",
            "dev",
            str(contract_dir),
            "--address",
            address,
            "--id",
            "basic",
            "--interval",
            "0.2",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_line(process, "serving chaincode basic")
        async with ContractHarness(identities=identities) as harness:
            await harness.connect(address, "basic")
            before = await harness.query("ReadAsset", "x")
            assert "The asset x does not exist" in before.message
            source = contract_dir / "contract.py"
            source.write_text(source.read_text().replace("does not exist", "is unknown"))
            wait_for_line(process, "serving chaincode basic")
            after = await message_after_restart(harness, "is unknown")
            assert "The asset x is unknown" in after
    finally:
        stop(process)


async def test_sample_runs_on_the_official_shim_alone(identities):
    """``python -m chaincode.samples.asset_transfer`` uses only fabric-chaincode-python's
    own server, as it would on a real Fabric CCaaS deployment."""
    port = free_port()
    env = {
        **os.environ,
        "CHAINCODE_ID": "basic_1.0:y",
        "CHAINCODE_SERVER_ADDRESS": f"127.0.0.1:{port}",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "chaincode.samples.asset_transfer"], cwd=ROOT, env=env
    )
    try:
        async with ContractHarness(identities=identities) as harness:
            deadline = time.monotonic() + 20
            while True:
                try:
                    await harness.connect(f"127.0.0.1:{port}", "basic", dial_timeout=1.0)
                    break
                except ShimError:
                    if time.monotonic() > deadline or process.poll() is not None:
                        raise
            assert (await harness.invoke("InitLedger")).ok
            asset = await harness.query("ReadAsset", "asset2")
            assert asset.json()["Owner"] == "Brad"
    finally:
        stop(process)
