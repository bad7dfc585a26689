"""A real Node ``fabric-shim`` chaincode, served as CCaaS, driven by the harness.

This is the proof that the peer-side handler speaks the protocol as Fabric does for the
messages our Python contracts never send. The contract lives in
``chaincode/conformance/node_contract``; its npm packages are installed on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import pytest_asyncio

from chaincode.errors import ShimError
from chaincode.samples.asset_transfer import AssetTransfer
from chaincode.testing import Collection, ContractHarness, IdentityFactory
from chaincode.transport import ClientTLS
from proto.ports import free_port as _free_port
from tests.support.pki import make_org, write_tls

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "chaincode" / "conformance" / "node_contract"

pytestmark = [
    pytest.mark.skipif(
        shutil.which("node") is None or shutil.which("npm") is None, reason="needs node and npm"
    ),
    pytest.mark.slow,  # one Node process for the module, plus an npm install on first use
]


@dataclass(frozen=True)
class NodeContract:
    """The Node contract's address and the TLS a peer dials it with (mutual TLS)."""

    address: str
    tls: ClientTLS


@pytest.fixture(scope="module")
def node_contract(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeContract]:
    """The Node contract served with mutual TLS, as `up` serves contracts: its server key
    pair and the peer's client key pair from one member TLS CA, clients required."""
    if not (CONTRACT / "node_modules" / "fabric-shim").is_dir():
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent"],
            cwd=CONTRACT,
            check=True,
            timeout=300,
        )
    folder = tmp_path_factory.mktemp("node-tls")
    org = make_org("Org1MSP")
    server = write_tls(org, folder / "server", "chaincode", ("localhost", "127.0.0.1"))
    peer = write_tls(org, folder / "peer", "peer0", ("localhost",))
    address = f"127.0.0.1:{_free_port()}"
    env = {
        **os.environ,
        "CHAINCODE_ID": "probe_1.0:abc",
        "CHAINCODE_SERVER_ADDRESS": address,
        "CHAINCODE_TLS_KEY": str(server["key"]),
        "CHAINCODE_TLS_CERT": str(server["cert"]),
        "CHAINCODE_CLIENT_CA_CERT": str(server["ca"]),
    }
    process = subprocess.Popen(
        ["node", "index.js"], cwd=CONTRACT, env=env, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if "serving chaincode" in line:
            break
        if not line and process.poll() is not None:
            raise AssertionError("node contract exited before serving")
    tls = ClientTLS(server["ca"].read_bytes(), peer["key"].read_bytes(), peer["cert"].read_bytes())
    try:
        yield NodeContract(address, tls)
    finally:
        process.terminate()
        process.wait(10)


@pytest_asyncio.fixture
async def harness(node_contract: NodeContract) -> AsyncIterator[ContractHarness]:
    async with ContractHarness(identities=IDENTITIES) as harness:
        collections = [Collection("secrets", members=("Org1MSP",))]
        await harness.connect(
            node_contract.address, "probe", collections=collections, tls=node_contract.tls
        )
        await harness.deploy(AssetTransfer(), name="basic")
        yield harness


IDENTITIES = IdentityFactory()


async def call(harness: ContractHarness, *args: str, **options) -> dict:
    result = await harness.invoke(*args, chaincode="probe", **options)
    assert result.ok, result.failure()
    return result.json()


async def evaluate(harness: ContractHarness, *args: str) -> dict:
    result = await harness.query(*args, chaincode="probe")
    assert result.ok, result.failure()
    return result.json()


async def test_state_and_event(harness):
    await call(harness, "put", "k", "v")
    assert (await call(harness, "get", "k")) == {"value": "v"}
    emitted = await harness.invoke("emit", "Done", "x", chaincode="probe")
    assert (emitted.event.name, emitted.event.payload) == ("Done", b"x")


async def test_paginated_range_with_bookmarks(harness):
    for i in range(7):
        harness.seed(f"p{i}", str(i), chaincode="probe")
    first = await evaluate(harness, "page", "p0", "p9", "3", "")
    assert first == {"keys": ["p0", "p1", "p2"], "bookmark": "p3", "count": 3}
    last = await evaluate(harness, "page", "p0", "p9", "3", "p6")
    assert last == {"keys": ["p6"], "bookmark": "", "count": 1}


async def test_range_past_one_batch_and_rich_query(harness):
    for i in range(150):
        harness.seed(f"r{i:03d}", json.dumps({"n": i}), chaincode="probe")
    keys = (await call(harness, "range", "r000", "r999"))["keys"]
    assert len(keys) == 150
    query = json.dumps({"selector": {"n": {"$gte": 147}}, "sort": [{"n": "desc"}]})
    assert (await call(harness, "query", query))["keys"] == ["r149", "r148", "r147"]


async def test_history(harness):
    await call(harness, "put", "h", "1")
    await call(harness, "put", "h", "2")
    entries = (await call(harness, "history", "h"))["entries"]
    assert [e["value"] for e in entries] == ["2", "1"]


async def test_private_data_and_its_hash(harness):
    await call(harness, "putPrivate", "secrets", "s", transient={"value": "hush"})
    assert (await call(harness, "getPrivate", "secrets", "s")) == {"value": "hush"}
    digest = (await call(harness, "privateHash", "secrets", "s"))["hash"]
    assert digest == hashlib.sha256(b"hush").hexdigest()
    outsider = IDENTITIES("Org2MSP", "eve")
    refused = await harness.invoke(
        "getPrivate", "secrets", "s", chaincode="probe", identity=outsider
    )
    assert "does not have read access" in refused.message


async def test_key_level_endorsement_policy_is_state_metadata(harness):
    harness.seed("asset", "1", chaincode="probe")
    await call(harness, "setPolicy", "asset", "policy-bytes")
    assert (await call(harness, "getPolicy", "asset")) == {"policy": "policy-bytes"}


async def test_client_identity_reads_our_certificates(harness):
    who = IDENTITIES("Org1MSP", "ann", attributes={"role": "auditor"})
    answer = await call(harness, "whoami", identity=who)
    assert answer["mspid"] == "Org1MSP" and answer["role"] == "auditor"
    # Node renders DNs its own way ("/"-separated, certificate order); Go, and our
    # client_identity, use pkix.Name.String() and base64 (see test_client_identity).
    assert answer["id"] == "x509::/C=US/OU=client/CN=ann::/C=US/O=org1/CN=ca.org1"


async def test_chaincode_to_chaincode_call(harness):
    answer = await call(harness, "call", "basic", "CreateAsset", "n1", "red", "1", "Al", "5")
    assert answer["status"] == 200
    assert harness.get("n1", chaincode="basic") is not None


async def test_contract_error_is_a_500(harness):
    result = await harness.invoke("fail", chaincode="probe")
    assert result.status == 500 and result.message == "deliberate failure"


async def test_a_peer_without_the_client_certificate_is_refused(node_contract: NodeContract):
    """fabric-shim's server requires the client certificate: no certificate, or plain
    TCP, does not get to register a handler."""
    async with ContractHarness(identities=IDENTITIES) as harness:
        for tls in (replace(node_contract.tls, private_key=None, certificate_chain=None), None):
            with pytest.raises(ShimError):
                await harness.connect(node_contract.address, "probe", tls=tls, dial_timeout=1)
