"""Harness features: contract directories, private data, transient data, identities."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cc_probe import Probe

from chaincode.errors import ChaincodeError, ContractLoadError
from chaincode.runner import load_contracts
from chaincode.testing import Collection, ContractHarness

SAMPLES = Path(__file__).resolve().parents[3] / "chaincode" / "samples"


async def test_deploy_a_contract_package_directory(identities):
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(SAMPLES / "token", name="token")
        result = await harness.invoke("Initialize", "Coin", "CN", 2)
        assert result.ok, result.failure()


def test_directory_without_a_contract_is_refused(tmp_path):
    with pytest.raises(ContractLoadError, match=r"no __init__\.py"):
        load_contracts(tmp_path)
    (tmp_path / "__init__.py").write_text("X = 1\n")
    with pytest.raises(ContractLoadError, match="defines no Contract"):
        load_contracts(tmp_path)
    (tmp_path / "__init__.py").write_text("import nonexistent_module_xyz\n")
    with pytest.raises(ContractLoadError, match="import failed"):
        load_contracts(tmp_path)


async def test_private_data_from_a_python_contract(identities):
    secrets = Collection("secrets", members=("Org1MSP",))
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(Probe(), name="probe", collections=[secrets])
        put = await harness.invoke("PutPrivate", "secrets", "k", transient={"value": "hush"})
        assert put.ok, put.failure()
        assert harness.get_private("secrets", "k") == b"hush"
        assert b"hush" not in put.rwset.to_proto().SerializeToString()
        read = await harness.query("GetPrivate", "secrets", "k")
        assert read.text == "hush"
        assert put.private_writes("secrets") == {"k": b"hush"}


async def test_private_write_to_an_undefined_collection_is_refused(identities):
    # The peer answers ERROR; fabric-chaincode-python 2.5.4 does not check the reply type,
    # so the contract carries on, but nothing reaches the read/write set or the state.
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(Probe(), name="probe")
        result = await harness.invoke("PutPrivate", "nope", "k", transient={"value": "v"})
        assert not result.rwset.has_writes()
        assert harness.get_private("nope", "k") is None


async def test_unknown_chaincode_and_bad_transport_are_clear_errors(identities):
    async with ContractHarness(identities=identities) as harness:
        with pytest.raises(ChaincodeError, match="not deployed"):
            await harness.invoke("Put", "k", "v")
        with pytest.raises(ChaincodeError, match="transport"):
            await harness.deploy(Probe(), name="probe", transport="carrier-pigeon")


async def test_failed_endorsement_cannot_be_committed(identities):
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(Probe(), name="probe")
        failed = await harness.simulate("Nope")
        with pytest.raises(ChaincodeError, match="not committed"):
            harness.commit(failed)


async def test_signed_proposal_carries_the_chosen_creator(identities):
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(Probe(), name="probe")
        who = harness.identity("Org9MSP", "zed", role="peer")
        result = await harness.invoke("Put", "k", "v", identity=who)
        assert result.ok
        assert who.creator.startswith(b"\n\x07Org9MSP")


class Crashing:
    """A low-level chaincode whose Invoke raises outside any contract function."""

    async def init(self, stub):
        raise RuntimeError("init exploded")

    async def invoke(self, stub):
        raise RuntimeError("invoke exploded")


async def test_crashing_chaincode_is_an_error_and_the_harness_keeps_working(identities):
    from fabric_chaincode_python.fabric_shim.interfaces import Chaincode

    class CrashingChaincode(Crashing, Chaincode):
        pass

    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(CrashingChaincode(), name="crash")
        await harness.deploy(Probe(), name="probe")
        crashed = await harness.invoke("anything", chaincode="crash")
        assert crashed.error == "transaction returned with failure: RuntimeError: invoke exploded"
        assert (await harness.invoke("Put", "k", "v", chaincode="probe")).ok
        again = await harness.invoke("anything", chaincode="crash")
        assert "invoke exploded" in again.error


async def test_per_call_timeout_overrides_the_harness_default(identities):
    async with ContractHarness(identities=identities, timeout=5.0) as harness:
        await harness.deploy(Probe(), name="probe")
        slow = await harness.query("Sleep", 1, timeout=0.1)
        assert "timeout expired" in slow.error and "(0.1s)" in slow.error


async def test_history_carries_the_proposal_timestamp(identities):
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(Probe(), name="probe")
        result = await harness.invoke("Put", "k", "v")
        (entry,) = harness.history("k")
        assert entry.timestamp == result.timestamp and entry.tx_id == result.tx_id


async def test_a_range_from_the_empty_key_holds_simple_keys_only(identities):
    """As on Fabric, whose Go, Node and Java shims send "\\x01" for an empty start:
    composite keys (which begin with "\\x00") are not in a simple-key range."""
    async with ContractHarness(identities=identities) as harness:
        await harness.deploy(Probe(), name="probe")
        for call in (("Put", "b", "2"), ("Put", "a", "1"), ("PutComposite", "owner", "tom")):
            result = await harness.invoke(*call)
            assert result.ok, result.failure()
        assert json.loads((await harness.query("Keys", "", "")).payload) == ["a", "b"]
