"""A network spread over three hosts — Linux network namespaces on this machine, each
with one NATS server, one orderer and one peer — started by `consortium up` from a spec
whose addresses name the hosts; under continuous load from both members one host is cut
off (its link down, or throttled until packets drop) and healed, and after each fault
the ordering cluster's promises are checked on every node's own files.

``ORDERHA_CHAOS_ROUNDS`` (default 1) sets how many faults one run makes; ``make chaos``
runs the long version.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from network.gateway_client import GatewayClient, GatewayClientError
from tests.support.invariants import check_ledgers, check_orderer_journals, read_ledger
from tests.support.processes import consortium

if TYPE_CHECKING:  # the fixture's module is a plugin: imported by pytest, not here
    from tests.support.netns import Hosts

pytest_plugins = ["tests.support.netns"]

NAME = "orderha-hosts"
CHANNEL = "mychannel"
ROUNDS = int(os.environ.get("ORDERHA_CHAOS_ROUNDS", "1"))
SUBMIT_TIMEOUT = 20.0
FAULT_SECONDS = 5.0  # a cut lasts this long once the rest of the network committed again
# After a partition heals, Debian's nats-server 2.9.10 may take a minute or more to settle
# (the rejoining server's higher Raft term deposes leaders; elections repeat): the long
# run waits longer, and its bounds are still bounds.
PATIENCE = 1 if ROUNDS == 1 else 3
PROGRESS_TIMEOUT = 60.0 * PATIENCE
CONVERGE_TIMEOUT = 90.0 * PATIENCE
# host n runs nats<n>, orderer<n> and this member's peer
PEERS = (("org1", "peer0"), ("org2", "peer0"), ("org1", "peer1"))


def _spec(directory: Path, hosts: Hosts) -> Path:
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
        "control_plane": {"port": 7300, "host": "127.0.0.1"},  # for the operator only
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
    every transaction whose commit status was VALID."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.valid: list[tuple[str, int]] = []
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
                    self.by_member[member] += 1
            except (GatewayClientError, TimeoutError) as exc:
                self.failures.append(f"{member} via {gateway['endpoint']}: {exc}"[:300])
                attempt += 1
                await asyncio.sleep(0.3)
            finally:
                await client.close()

    def wait_progress(self, count: int, members: tuple[str, ...] = ("org1", "org2")) -> None:
        """Until each of ``members`` got ``count`` more VALID commits."""
        start = dict(self.by_member)
        deadline = time.monotonic() + PROGRESS_TIMEOUT
        while any(self.by_member[m] < start[m] + count for m in members):
            assert self._thread.is_alive(), "the load stopped"
            assert time.monotonic() < deadline, (
                f"no progress for {members} in {PROGRESS_TIMEOUT:g}s: {self.failures[-3:]}"
            )
            time.sleep(0.2)


def _nodes() -> list[str]:
    return [f"orderer-orderer{n}" for n in range(3)] + [f"peer-{m}-{p}" for m, p in PEERS]


def _status(cwd: Path) -> dict:
    return json.loads(consortium(cwd, "status", "-o", "json").stdout)


def _assert_each_node_on_its_host(home: Path, hosts: Hosts) -> None:
    """The supervisor started every host's processes inside that host's namespace."""
    for index in range(3):
        member, peer = PEERS[index]
        for node in (f"nats-nats{index}", f"orderer-orderer{index}", f"peer-{member}-{peer}"):
            pid = (home / "pids" / f"{node}.pid").read_text().strip()
            found = subprocess.run(
                ["ip", "netns", "identify", pid], capture_output=True, text=True, check=True
            ).stdout.strip()
            assert found == hosts.namespace(index), f"{node} runs in {found!r}"


def _cutter_host(cwd: Path) -> int:
    deadline = time.monotonic() + 30
    while not (cutter := _status(cwd)["cutters"].get(CHANNEL)):
        assert time.monotonic() < deadline, "no orderer holds the cutting lease"
        time.sleep(0.5)
    return int(cutter["orderer"].removeprefix("orderer-orderer"))


def _check_after_fault(
    cwd: Path, home: Path, valid: list[tuple[str, int]], settled: bool = False
) -> None:
    """Once every node holds the block of the last VALID transaction (``settled``: and
    all hold the same number of blocks): the promises."""
    needed = max(block for _, block in valid) + 1
    deadline = time.monotonic() + CONVERGE_TIMEOUT
    while True:
        ledgers = [read_ledger(home, node, CHANNEL) for node in _nodes()]
        short = {ledger.node: ledger.height for ledger in ledgers}
        if min(short.values()) >= needed and (not settled or len(set(short.values())) == 1):
            break
        assert time.monotonic() < deadline, f"not caught up to height {needed}: {short}"
        time.sleep(1)
    check_ledgers(ledgers, [txid for txid, _ in valid])
    check_orderer_journals(cwd, [f"orderer{n}" for n in range(3)])


def _fault(hosts: Hosts, round_number: int, cutter: int) -> tuple[int, str]:
    """Round 0 cuts off the cutter's host; later rounds also cut another host and
    throttle one."""
    kind = ("cut", "cut", "throttle")[round_number % 3]
    victim = cutter if round_number % 2 == 0 else (cutter + 1) % 3
    if kind == "cut":
        hosts.cut(victim)
    else:
        hosts.throttle(victim)
    return victim, kind


def _say(what: str) -> None:
    """A timestamped line in the test's output (shown when it fails), to read beside
    the nodes' logs."""
    print(time.strftime("%H:%M:%S"), what, flush=True)


def _survivors(victim: int) -> tuple[str, ...]:
    """Members with a peer on a host other than ``victim``'s."""
    return tuple(sorted({m for n, (m, _) in enumerate(PEERS) if n != victim}))


async def _world_state(home: Path, member: str, gateway: dict) -> list:
    connection = json.loads((home / "connection" / f"{member}.json").read_text())
    client = GatewayClient.from_connection({**connection, "gateway": gateway}, "user1")
    async with client:
        return json.loads(await client.evaluate(CHANNEL, "basic", "GetAllAssets"))


def _world_states(home: Path) -> dict[str, list]:
    states = {}
    for member in ("org1", "org2"):
        connection = json.loads((home / "connection" / f"{member}.json").read_text())
        for gateway in connection["gateways"]:
            states[gateway["endpoint"]] = asyncio.run(_world_state(home, member, gateway))
    return states


@pytest.mark.slow
def test_three_hosts_survive_one_cut_off_under_load(tmp_path: Path, hosts: Hosts) -> None:
    home = tmp_path / ".consortium" / NAME
    load = Load(home)
    try:
        consortium(tmp_path, "up", str(_spec(tmp_path, hosts)), "--no-reconcile", "-o", "json")
        _assert_each_node_on_its_host(home, hosts)
        load.start()
        load.wait_progress(5)
        for round_number in range(ROUNDS):
            victim, kind = _fault(hosts, round_number, _cutter_host(tmp_path))
            _say(f"round {round_number}: {kind} host {victim}")
            load.wait_progress(3, _survivors(victim))  # the rest of the network goes on
            if kind == "cut":  # status names the server it cannot reach
                assert _status(tmp_path)["nats"][f"nats{victim}"]["jetstream"] == "no answer"
            time.sleep(FAULT_SECONDS)
            hosts.heal(victim)
            _say(f"round {round_number}: host {victim} healed")
            load.wait_progress(3)  # both members again, through any of their peers
            _check_after_fault(tmp_path, home, list(load.valid))
        load.stop()
        _check_after_fault(tmp_path, home, list(load.valid), settled=True)
        servers = _status(tmp_path)["nats"]
        assert {s["state"] for s in servers.values()} == {"RUNNING"}, servers
        states = _world_states(home)
        assert len({json.dumps(s, sort_keys=True) for s in states.values()}) == 1, states.keys()
    finally:
        load.stop()
        consortium(tmp_path, "down", check=False)  # the logs stay in tmp_path
