"""The _lifecycle chaincode's sequence rules, run in-process on a simulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from fabric_protos.peer.lifecycle import lifecycle_pb2

from ca.channelconfig import ChannelConfig
from ca.msp import Msp
from chaincode.memory import MemoryState
from chaincode.simulation import TxSimulator
from chaincode.state import Version
from peers.lifecycle_chaincode import LifecycleChaincode
from peers.packages import PackageStore
from tests.support.channel import ChannelFixture


@pytest.fixture
def setup(tmp_path: Path):
    channel = ChannelFixture(tmp_path / "channel")
    config = ChannelConfig.from_block(channel.genesis)
    chaincodes = {
        m: LifecycleChaincode(Msp(channel.orgs[m].config()), PackageStore(tmp_path / m))
        for m in ("Org1MSP", "Org2MSP")
    }
    admins = {m: channel.orgs[m].identity(f"admin-{m}", "admin") for m in chaincodes}
    return config, MemoryState(), chaincodes, admins


def run(setup, mspid: str, function: str, args, block: int) -> tuple[int, str]:
    """Simulate one _lifecycle call and, if it succeeds, commit its writes."""
    config, state, chaincodes, admins = setup
    simulator = TxSimulator(state, f"tx{block}")
    response = chaincodes[mspid].execute(
        "mychannel",
        config,
        simulator,
        admins[mspid].creator,
        [function.encode(), args.SerializeToString()],
    )
    if response.status == 200:
        state.commit(Version(block, 0), f"tx{block}", 0.0, simulator.rwset)
    return response.status, response.message


def approve(sequence: int, version: str = "1.0"):
    return lifecycle_pb2.ApproveChaincodeDefinitionForMyOrgArgs(
        name="basic", version=version, sequence=sequence
    )


def test_sequences(setup) -> None:
    assert run(setup, "Org1MSP", "ApproveChaincodeDefinitionForMyOrg", approve(1), 1)[0] == 200
    status, message = run(
        setup,
        "Org1MSP",
        "CommitChaincodeDefinition",
        lifecycle_pb2.CommitChaincodeDefinitionArgs(name="basic", version="1.0", sequence=1),
        2,
    )
    assert status == 500 and "not agreed to by enough orgs" in message
    assert run(setup, "Org2MSP", "ApproveChaincodeDefinitionForMyOrg", approve(1), 3)[0] == 200
    commit = lifecycle_pb2.CommitChaincodeDefinitionArgs(name="basic", version="1.0", sequence=1)
    assert run(setup, "Org1MSP", "CommitChaincodeDefinition", commit, 4)[0] == 200

    # An org may approve the committed sequence again, unchanged (an org that joins later
    # does this to run the chaincode) — but not redefine it.
    assert run(setup, "Org2MSP", "ApproveChaincodeDefinitionForMyOrg", approve(1), 5)[0] == 200
    status, message = run(
        setup, "Org2MSP", "ApproveChaincodeDefinitionForMyOrg", approve(1, "2.0"), 6
    )
    assert status == 500 and "attempted to redefine the current committed sequence (1)" in message
    status, message = run(setup, "Org1MSP", "ApproveChaincodeDefinitionForMyOrg", approve(3), 7)
    assert status == 500 and "must be sequence 2" in message
    status, _ = run(setup, "Org1MSP", "CommitChaincodeDefinition", commit, 8)
    assert status == 500  # the committed sequence cannot be committed again
