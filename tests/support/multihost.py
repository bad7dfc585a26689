"""A consortium network on three hosts (network namespaces, ``tests.support.netns``)
and continuous load from both of its members: what the multi-host test and the partition
bench share.

Host n runs NATS server ``nats<n>``, orderer ``orderer<n>`` and the peer ``PEERS[n]``;
the control plane, the CAs and the chaincode run on the operator's host. The endorsement
policy is OR(org1, org2), so any member with a reachable peer can still transact while
another host is cut off.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from network.gateway_client import GatewayClient, GatewayClientError
from proto.ports import free_port
from tests.support.invariants import check_ledgers, check_orderer_journals, read_ledger
from tests.support.processes import consortium

if TYPE_CHECKING:  # tests load the netns module as a pytest plugin: not imported here
    from tests.support.netns import Hosts

NAME = "orderha-hosts"
CHANNEL = "mychannel"
SUBMIT_TIMEOUT = 20.0
PEERS = (("org1", "peer0"), ("org2", "peer0"), ("org1", "peer1"))


def write_spec(directory: Path, hosts: Hosts) -> Path:
    """Every host listens on the same ports, as separate machines would; the control
    plane, the CAs and the chaincode run on the operator's host (the test's namespace)."""
    on = hosts.addresses
    peers: dict[str, list] = {"org1": [], "org2": []}
    for index, (member, peer) in enumerate(PEERS):
        peers[member].append({"name": peer, "host": on[index], "port": 7051})
    spec = {
        "host": hosts.operator,
        "hosts": [{"address": a, "netns": hosts.namespace(n)} for n, a in enumerate(on)],
        "network": {"name": NAME},
        # for the operator only, on loopback: a free port (other networks may run here)
        "control_plane": {"port": free_port(), "host": "127.0.0.1"},
        "ordering": {
            "nats": [
                {"name": f"nats{n}", "host": a, "port": 4222, "cluster_port": 6222,
                 "monitor_port": 8222}
                for n, a in enumerate(on)
            ],
            "orderers": [
                {"name": f"orderer{n}", "host": a, "port": 7050, "admin_port": 7053}
                for n, a in enumerate(on)
            ],
        },
        "members": [
            {"name": "org1", "account": "111111111111", "mspid": "Org1MSP",
             "ca": {"port": 7354}, "peers": peers["org1"]},
            {"name": "org2", "account": "222222222222", "mspid": "Org2MSP",
             "ca": {"port": 7364}, "peers": peers["org2"]},
        ],
        "channels": [
            {"name": CHANNEL, "members": ["org1", "org2"],
             "batch": {"timeout": "250ms", "max_message_count": 50}}
        ],
        "chaincodes": [
            {"name": "basic", "sample": "asset_transfer", "channel": CHANNEL, "port": 9399,
             "endorsement_policy": "OR('Org1MSP.peer', 'Org2MSP.peer')"}
        ],
    }  # fmt: skip
    path = directory / "hosts.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


class Load:
    """Both members create assets without pause, each through its own peers' gateways,
    moving to the member's next peer when one fails; ``valid`` holds (txid, block) of
    every transaction whose commit status was VALID, ``times`` when each was known."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.valid: list[tuple[str, int]] = []
        self.times: list[float] = []  # time.monotonic() of each VALID commit status
        self.by_member: dict[str, int] = {"org1": 0, "org2": 0}
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(SUBMIT_TIMEOUT + 10)

    async def _run(self) -> None:
        await asyncio.gather(self._member("org1"), self._member("org2"))

    async def _member(self, member: str) -> None:
        connection = json.loads((self.home / "connection" / f"{member}.json").read_text())
        gateways = connection["gateways"]
        attempt = number = 0
        while not self._stop.is_set():
            gateway = gateways[attempt % len(gateways)]
            client = GatewayClient.from_connection({**connection, "gateway": gateway}, "user1")
            try:
                while not self._stop.is_set():
                    number += 1
                    submitted = await asyncio.wait_for(
                        client.submit(CHANNEL, "basic", "CreateAsset", f"{member}-{number}",
                                      "red", "1", member, "1"),
                        SUBMIT_TIMEOUT,
                    )  # fmt: skip
                    self.valid.append((submitted.tx_id, submitted.block))
                    self.times.append(time.monotonic())
                    self.by_member[member] += 1
            except (GatewayClientError, TimeoutError) as exc:
                self.failures.append(f"{member} via {gateway['endpoint']}: {exc}"[:300])
                attempt += 1
                await asyncio.sleep(0.3)
            finally:
                await client.close()

    def wait_progress(
        self, count: int, timeout: float, members: tuple[str, ...] = ("org1", "org2")
    ) -> None:
        """Until each of ``members`` got ``count`` more VALID commits."""
        start = dict(self.by_member)
        deadline = time.monotonic() + timeout
        while any(self.by_member[m] < start[m] + count for m in members):
            assert self._thread.is_alive(), "the load stopped"
            assert time.monotonic() < deadline, (
                f"no progress for {members} in {timeout:g}s: {self.failures[-3:]}"
            )
            time.sleep(0.2)


def nodes() -> list[str]:
    """Every node that holds the channel's blocks."""
    return [f"orderer-orderer{n}" for n in range(3)] + [f"peer-{m}-{p}" for m, p in PEERS]


def status(cwd: Path) -> dict:
    return json.loads(consortium(cwd, "status", "-o", "json").stdout)


def cutter_host(cwd: Path) -> int:
    """The host whose orderer holds the channel's cutting lease, as ``status`` says."""
    deadline = time.monotonic() + 30
    while not (cutter := status(cwd)["cutters"].get(CHANNEL)):
        assert time.monotonic() < deadline, "no orderer holds the cutting lease"
        time.sleep(0.5)
    return int(cutter["orderer"].removeprefix("orderer-orderer"))


def check_after_fault(
    cwd: Path, home: Path, valid: list[tuple[str, int]], timeout: float, settled: bool = False
) -> None:
    """Once every node holds the block of the last VALID transaction (``settled``: and
    all hold the same number of blocks): the promises."""
    needed = max(block for _, block in valid) + 1
    deadline = time.monotonic() + timeout
    while True:
        ledgers = [read_ledger(home, node, CHANNEL) for node in nodes()]
        short = {ledger.node: ledger.height for ledger in ledgers}
        if min(short.values()) >= needed and (not settled or len(set(short.values())) == 1):
            break
        assert time.monotonic() < deadline, f"not caught up to height {needed}: {short}"
        time.sleep(1)
    check_ledgers(ledgers, [txid for txid, _ in valid])
    check_orderer_journals(cwd, [f"orderer{n}" for n in range(3)])
