"""Contracts as chaincode-as-a-service and their definitions through Fabric's lifecycle.

What runs is recorded per chaincode in ``state.json`` (``chaincodes``: channel, version,
sequence, policy, collections, contract folder, port, package ID, and the spec entry it
came from), so ``up``, the reconciler and ``consortium chaincode deploy`` work from one
record: a chaincode deployed from the command line is kept alive like one from the spec,
and a changed one is **upgraded** (a new package, sequence + 1, the new runner started
before the definition commits and the old one stopped after).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaincode.packaging import Connection, build_package, package_id
from network.chaincode_deploy import (
    Definition,
    OrgAdmins,
    approve,
    collections_from_json,
    deploy,
    install,
)
from network.errors import SupervisorError
from network.gateway_client import GatewayClientError
from network.spec import Chaincode, Member, Node
from network.supervisor.base import SupervisorBase
from network.supervisor.contract_tls import Authority, ContractTls
from network.supervisor.home import SAMPLES
from proto.ports import free_port


@dataclass(frozen=True)
class Wanted:
    """What a chaincode should run as: from a spec entry or ``chaincode deploy``."""

    name: str
    channel: str
    directory: str  # the contract folder (absolute)
    version: str
    policy: str  # Fabric's policy language or a channel policy reference; "" = MAJORITY
    port: int
    collections: str = ""  # a Fabric collections_config.json (absolute), or none

    @property
    def label(self) -> str:
        return f"{self.name}_{self.version}"

    def package(self, host: str = "127.0.0.1", tls: ContractTls | None = None) -> bytes:
        """The CCaaS package: peers dial ``host``:port (the spec's top-level host), with
        mutual TLS when ``tls`` is given."""
        address = f"{host}:{self.port}"
        connection = tls.connection(address) if tls is not None else Connection(address)
        return build_package(Path(self.directory), self.label, connection)


@dataclass(frozen=True)
class Deployed:
    """What ``deploy_chaincode`` did: ``created``, ``upgraded`` or ``unchanged``."""

    action: str
    name: str
    version: str
    sequence: int
    package_id: str
    address: str


def code_digest(directory: str) -> str:
    """SHA-256 over the contract folder's files (names and bytes). A CCaaS package holds
    only the address, so this is how a change of code is seen."""
    digest = hashlib.sha256()
    root = Path(directory)
    for path in sorted(root.rglob("*")):
        if "__pycache__" in path.parts or not path.is_file():
            continue
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _read(path: str) -> str:
    """A collections file's text ("" for none)."""
    return Path(path).read_text() if path else ""


def runner_name(name: str) -> str:
    return f"chaincode-{name}"


def dev_pid(record: dict[str, Any]) -> int | None:
    """The pid of a ``chaincode dev`` process that took the chaincode over, while alive
    (a pid reused by another program does not count: its command line is checked)."""
    pid = record.get("dev")
    if not pid:
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return pid if b"\0chaincode\0dev\0" in command else None


class Chaincodes(SupervisorBase):
    """Contracts as chaincode-as-a-service and their lifecycle."""

    # -- the records ----------------------------------------------------------------------

    @property
    def chaincode_records(self) -> dict[str, dict[str, Any]]:
        """``state['chaincodes']``; networks from before records get theirs from the spec
        (sequence 1, as ``up`` committed them then)."""
        records = self.state.setdefault("chaincodes", {})
        for name in self.state.pop("deployed", []):
            entry = next((c for c in self.spec.chaincodes if c.name == name), None)
            if entry is not None and name not in records:
                wanted = self.wanted_from_spec(entry)
                identifier = self._store_package(wanted, tls=False)
                records[name] = self._record(wanted, 1, identifier, entry, tls=False)
                records[name]["installed"] = self.state.get("installed", {}).get(name, [])
                records[name]["approved"] = self.state.get("approved", {}).get(name, [])
        return records

    def _record(
        self,
        wanted: Wanted,
        sequence: int,
        package: str,
        entry: Chaincode | None,
        tls: bool = True,
    ) -> dict[str, Any]:
        return {
            **dataclasses.asdict(wanted),
            "sequence": sequence,
            "package_id": package,
            "tls": tls,  # the package's connection.json asks for mutual TLS
            "code": code_digest(wanted.directory),
            # the collections as approved: the file may change or go after the deploy
            "collections_json": _read(wanted.collections),
            "spec": self._entry(entry),
            "installed": [],
            "approved": [],
        }

    def _entry(self, chaincode: Chaincode | None) -> dict[str, Any] | None:
        """A spec entry as the record keeps it (its path absolute): what ``up`` compares
        to see that the spec changed the chaincode."""
        if chaincode is None:
            return None
        entry = dataclasses.asdict(chaincode)
        if chaincode.path:
            entry["path"] = str((self.spec.file.parent / chaincode.path).resolve())
        return entry

    def chaincode_channels(self) -> dict[str, str]:
        """Each chaincode's channel: the recorded ones and the spec's not yet deployed."""
        found = {c.name: c.channel for c in self.spec.chaincodes}
        found.update({name: r["channel"] for name, r in self.chaincode_records.items()})
        return found

    def wanted_from_spec(self, chaincode: Chaincode) -> Wanted:
        directory = (
            SAMPLES / chaincode.sample
            if chaincode.sample
            else (self.spec.file.parent / chaincode.path).resolve()
        )
        return Wanted(
            chaincode.name,
            chaincode.channel,
            str(directory),
            chaincode.version,
            chaincode.endorsement_policy,
            chaincode.port,
        )

    def definition(self, record: dict[str, Any]) -> Definition:
        """The recorded definition, its collections from the text recorded at deploy."""
        collections = None
        if record.get("collections"):
            text = record.get("collections_json") or _read(record["collections"])
            collections = collections_from_json(text, record["collections"])
        return Definition(
            record["name"], record["version"], record["sequence"], record["policy"], collections
        )

    def _packages(self) -> Path:
        return self.home.root / "chaincodes"

    def contract_tls(self, name: str) -> ContractTls:
        """The chaincode's TLS folder (``contract_tls``), whether issued yet or not."""
        return ContractTls(self._packages() / "tls" / name)

    def _issued_tls(self, wanted: Wanted) -> ContractTls:
        """The chaincode's TLS key pairs, issued by its channel's first member's TLS CA
        the first time (``network.supervisor.contract_tls``)."""
        tls = self.contract_tls(wanted.name)
        if not tls.ready:
            owner = self.channel_members(self.spec_channel(wanted.channel))[0]
            tls.issue(self.tls_authority(owner), wanted.name, self.contract_hosts())
            self.progress(f"  chaincode {wanted.name}: TLS certificates from {owner}'s CA")
        return tls

    def tls_authority(self, member: str) -> Authority:
        """``member``'s CA, driven by its bootstrap admin, to issue TLS key pairs."""
        client = self._ca_client(self.member(member))  # type: ignore[attr-defined]
        registrar = client.enroll("admin", self.state["passwords"][member]).signer
        return Authority(member, client, registrar)

    def contract_hosts(self) -> list[str]:
        """The names a contract server's TLS certificate is issued for."""
        return [self.spec.host, "localhost"]

    def _store_package(self, wanted: Wanted, tls: bool = True) -> str:
        """Build the package (mutual TLS unless ``tls`` is false: a record made before
        chaincode TLS), keep it (peers added later get these very bytes), return its
        package ID."""
        package = wanted.package(self.spec.host, self._issued_tls(wanted) if tls else None)
        identifier = package_id(wanted.label, package)
        folder = self._packages()
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{identifier}.tar.gz"
        target.touch(mode=0o600)  # its connection.json holds the peers' TLS client key
        target.chmod(0o600)
        target.write_bytes(package)
        return identifier

    def _package_bytes(self, record: dict[str, Any]) -> bytes:
        return (self._packages() / f"{record['package_id']}.tar.gz").read_bytes()

    def free_chaincode_port(self) -> int:
        """A free loopback port that no node of the spec uses (running or not)."""
        taken = {port for _, _, port, _ in self.spec.ports()}
        taken |= {r["port"] for r in self.chaincode_records.values()}
        while (port := free_port()) in taken:
            pass
        return port

    # -- runners --------------------------------------------------------------------------

    def _runner(self, record: dict[str, Any], process: str | None = None) -> None:
        """Start ``python -m chaincode.runner`` for the record's package (registering as
        its package ID, as Fabric's CCaaS contracts do); its log is the chaincode's log."""
        name = runner_name(record["name"])
        command = [
            sys.executable,
            "-m",
            "chaincode.runner",
            record["directory"],
            "--id",
            record["package_id"],
            "--address",
            f"{self.spec.host}:{record['port']}",
            *self.runner_tls_options(record),
        ]
        if process is None:
            self._start(name, command, self.spec.host, record["port"])
            return
        node = dataclasses.replace(
            self.home.process(name, command, self.spec.host, record["port"]),
            name=process,
            pid_file=self.home.root / "pids" / f"{process}.pid",
        )
        self.processes[process] = node
        node.start()
        self.started.append(process)

    def runner_tls_options(self, record: dict[str, Any]) -> list[str]:
        """The runner's TLS options for the record's package (none for a package made
        before chaincode TLS, whose connection.json is plaintext)."""
        return self.contract_tls(record["name"]).runner_options() if record.get("tls") else []

    def launch_contracts(self) -> None:
        """Every recorded chaincode's runner (unless ``chaincode dev`` holds it), and the
        spec's chaincodes that are not deployed yet."""
        records = self.chaincode_records
        for process in self.all_processes():
            if process.name.endswith(".next"):  # an upgrade that was interrupted
                process.stop()
                self.processes.pop(process.name, None)
        for record in records.values():
            if dev_pid(record) is None:
                self._runner(record)
        for chaincode in self.spec.chaincodes:
            # before its first deploy a runner starts early only if its TLS certificates
            # are issued (the CAs may not answer yet); the deploy starts it otherwise
            if chaincode.name not in records and self.contract_tls(chaincode.name).ready:
                wanted = self.wanted_from_spec(chaincode)
                self._runner(self._record(wanted, 1, self._store_package(wanted), chaincode))

    def start_runner(self, name: str) -> None:
        """Start the recorded chaincode's runner and wait until it listens (dev mode's
        hand-back)."""
        self._runner(self.chaincode_records[name])
        self.processes[runner_name(name)].wait_ready()

    def stop_runner(self, name: str) -> None:
        for process in self.all_processes():
            if process.name == runner_name(name):
                process.stop()
        self.processes.pop(runner_name(name), None)

    # -- deploy and upgrade ---------------------------------------------------------------

    def deploy_chaincodes(self) -> None:
        """``up``'s step: a spec chaincode that is new is deployed, one whose spec entry
        changed since the last ``up`` is upgraded; the rest get installed on new peers."""
        self._ready("chaincode-")
        for chaincode in self.spec.chaincodes:
            record = self.chaincode_records.get(chaincode.name)
            same = record is not None and record.get("spec") == self._entry(chaincode)
            if same and record.get("tls"):  # a plaintext one is upgraded to mutual TLS
                asyncio.run(self._install_on_new_peers(record))
                continue
            done = self.deploy_chaincode(self.wanted_from_spec(chaincode), chaincode)
            self.progress(
                f"  chaincode {done.name} {done.version} {done.action} on {chaincode.channel} "
                f"(sequence {done.sequence})"
            )

    def deploy_chaincode(self, wanted: Wanted, entry: Chaincode | None = None) -> Deployed:
        """Deploy ``wanted``, or upgrade the chaincode to it, or nothing if it runs so.

        The new runner starts first (a contract that does not load changes nothing), then
        the lifecycle runs (install everywhere, approve per member, commit), then the old
        runner stops. On a failure the new runner is stopped and the old one runs."""
        self.spec_channel(wanted.channel)  # a channel of the network, or a clear error
        records = self.chaincode_records
        old = records.get(wanted.name)
        if old is not None and (holder := dev_pid(old)) is not None:
            raise SupervisorError(
                f"chaincode {wanted.name} is held by `chaincode dev` (pid {holder}); stop dev "
                "mode first (Ctrl-C hands it back)"
            )
        if old is not None and old["channel"] != wanted.channel:
            raise SupervisorError(
                f"chaincode {wanted.name} is committed on channel {old['channel']}; it cannot "
                f"move to {wanted.channel} (deploy it under another name)"
            )
        identifier = self._store_package(wanted)
        if old is not None and self._unchanged(old, wanted, identifier):
            if entry is not None:
                old["spec"] = self._entry(entry)
                self.home.save_state(self.state)
            return self._outcome("unchanged", old)
        record = self._record(wanted, old["sequence"] + 1 if old else 1, identifier, entry)
        if old is not None and entry is None:
            record["spec"] = old.get("spec")  # the spec entry last applied stays the mark
        self._switch(old, record)
        records[wanted.name] = record
        self.home.save_state(self.state)
        return self._outcome("upgraded" if old else "created", record)

    def runs_as(self, wanted: Wanted) -> bool:
        """Whether the chaincode is deployed exactly so (same settings, same package)."""
        old = self.chaincode_records.get(wanted.name)
        if old is None:
            return False
        identifier = package_id(
            wanted.label, wanted.package(self.spec.host, self._issued_tls(wanted))
        )
        return self._unchanged(old, wanted, identifier)

    @staticmethod
    def _unchanged(old: dict[str, Any], wanted: Wanted, identifier: str) -> bool:
        same = dataclasses.asdict(wanted) == {k: old.get(k) for k in dataclasses.asdict(wanted)}
        return (
            same
            and old["package_id"] == identifier
            and old.get("code") == code_digest(wanted.directory)
            and old.get("collections_json", "") == _read(wanted.collections)
        )

    def _outcome(self, action: str, record: dict[str, Any]) -> Deployed:
        return Deployed(
            action,
            record["name"],
            record["version"],
            record["sequence"],
            record["package_id"],
            f"{self.spec.host}:{record['port']}",
        )

    def _switch(self, old: dict[str, Any] | None, record: dict[str, Any]) -> None:
        """Run ``record``'s package in place of ``old``'s: a new address is served before
        the definition commits; the same address is handed over first (a short gap)."""
        name = record["name"]
        in_place = old is not None and old["port"] == record["port"]
        if in_place:
            self.stop_runner(name)
        temporary = None if old is None or in_place else f"{runner_name(name)}.next"
        self._runner(record, temporary)
        process = self.processes[temporary or runner_name(name)]
        try:
            process.wait_ready()
            asyncio.run(self._lifecycle(record))
        except Exception:
            process.stop()
            self.processes.pop(process.name, None)
            if process.name in self.started:
                self.started.remove(process.name)
            if in_place:
                self._runner(old)  # the committed package runs again
            raise
        if temporary is not None:
            self.stop_runner(name)
            self._promote(temporary, runner_name(name), record["port"])

    def _promote(self, temporary: str, name: str, port: int) -> None:
        pids = self.home.root / "pids"
        for suffix in (".pid", ".addr"):
            source = pids / f"{temporary}{suffix}"
            if source.exists():
                source.replace(pids / f"{name}{suffix}")
        self.processes[name] = self.home.process(name, [], self.spec.host, port)
        self.processes.pop(temporary, None)
        if temporary in self.started:
            self.started[self.started.index(temporary)] = name

    async def _lifecycle(self, record: dict[str, Any]) -> None:
        channel = self.spec_channel(record["channel"])
        members = [self.member(m) for m in self.channel_members(channel)]
        clients = {
            member.name: [self._peer_admin(member, peer) for peer in member.peers]
            for member in members
        }
        try:
            await deploy(
                record["channel"],
                self.definition(record),
                self._package_bytes(record),
                [OrgAdmins(m.mspid, clients[m.name]) for m in members],
                lambda tx_ids: self._wait_everywhere(record["channel"], members, tx_ids),
                self.progress,
            )
        finally:
            for peer_clients in clients.values():
                for client in peer_clients:
                    await client.close()
        record["installed"] = [f"peer-{m.name}-{p.name}" for m in members for p in m.peers]
        record["approved"] = [m.name for m in members]

    async def _wait_everywhere(
        self, channel: str, members: list[Member], tx_ids: list[str]
    ) -> None:
        for member in members:
            async with self.gateway(member) as client:
                for tx_id in tx_ids:
                    await asyncio.wait_for(client.commit_status(channel, tx_id), timeout=60)

    # -- peers and members that come later ------------------------------------------------

    def install_on_new_peers(self) -> None:
        """Peers that joined after a chaincode was deployed get its package (reconcile)."""
        for record in list(self.chaincode_records.values()):
            asyncio.run(self._install_on_new_peers(record))

    def _channel_peers(self, record: dict[str, Any]) -> list[tuple[Member, Node]]:
        channel = self.spec_channel(record["channel"])
        return [
            (member, peer)
            for member in map(self.member, self.channel_members(channel))
            for peer in member.peers
        ]

    async def _install_on_new_peers(self, record: dict[str, Any]) -> None:
        """A peer added to a running member gets the package its organization approved,
        so it can endorse (the definition on the channel already names the package)."""
        installed = record.setdefault("installed", [])
        new = [
            (member, peer)
            for member, peer in self._channel_peers(record)
            if f"peer-{member.name}-{peer.name}" not in installed
        ]
        for member, peer in new:
            async with self._peer_admin(member, peer) as admin:
                await install(admin, self._package_bytes(record))
            installed.append(f"peer-{member.name}-{peer.name}")
            self.progress(f"  {member.name}/{peer.name} has chaincode {record['name']}")
        if new:
            self.home.save_state(self.state)

    def _approve_chaincodes(self, joined: list[str]) -> None:
        """Members that joined after ``up`` approve the committed definitions of the
        chaincodes on the channels they are in (once each: the approval is on the channel)."""
        for record in list(self.chaincode_records.values()):
            approved = record.setdefault("approved", [])
            in_channel = self.channel_members(self.spec_channel(record["channel"]))
            missing = [n for n in joined if n in in_channel and n not in approved]
            if missing:
                asyncio.run(self._approve_for(record, missing))
                approved.extend(missing)
                self.home.save_state(self.state)

    async def _approve_for(self, record: dict[str, Any], added: list[str]) -> None:
        definition = self.definition(record)
        for name in added:
            member = self.member(name)
            async with self.gateway(member, self._admin(member)) as admin:
                identifier = await install(admin, self._package_bytes(record))
                # The new peer replays the channel up to the config block that admitted
                # its organization; until then it does not know its own org's admin.
                for attempt in range(60):
                    try:
                        await approve(
                            admin, record["channel"], definition, identifier, member.mspid
                        )
                        break
                    except GatewayClientError:
                        if attempt == 59:
                            raise
                        await asyncio.sleep(0.25)
            self.progress(f"  {name} can run chaincode {record['name']}")
