"""The _lifecycle chaincode's sequence rules, run in-process on a simulator."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from fabric_protos.peer.lifecycle import lifecycle_pb2

from ca.channelconfig import ChannelConfig
from ca.msp import Msp
from chaincode.memory import MemoryState
from chaincode.packaging import Connection, _tar, build_package
from chaincode.simulation import TxSimulator
from chaincode.state import Version
from peers.lifecycle_chaincode import LifecycleChaincode
from peers.packages import PackageError, PackageStore
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


def test_install_reads_connection_json_as_fabric_and_refuses_a_bad_one(tmp_path: Path) -> None:
    """The TLS a package's connection.json asks for is what the peer dials with; one
    Fabric's peer would refuse (TLS without root_cert) is refused at install, naming it."""
    contract = tmp_path / "cc"
    contract.mkdir()
    (contract / "__init__.py").write_text("")
    store = PackageStore(tmp_path / "packages")
    tls = Connection(
        "127.0.0.1:7", tls_required=True, client_auth_required=True, root_cert="R",
        client_key="K", client_cert="C",
    )  # fmt: skip
    installed = store.install(build_package(contract, "cc_1", tls))
    server = store.get(installed.package_id).server
    assert server.address == "127.0.0.1:7" and server.tls is not None
    assert (server.tls.root_certificates, server.tls.certificate_chain) == (b"R", b"C")
    # a connection.json Fabric's peer refuses (TLS without root_cert), built by hand
    unchecked = dataclasses.replace(tls, root_cert="", client_auth_required=False)
    with pytest.raises(PackageError, match="root_cert"):
        store.install(_package_with(unchecked))


def _package_with(connection) -> bytes:
    """A package around ``connection`` without the packager's own checks."""
    code = _tar([("connection.json", connection.to_json())])
    metadata = json.dumps({"type": "ccaas", "label": "bad_1"}).encode()
    return _tar([("metadata.json", metadata), ("code.tar.gz", code)])
