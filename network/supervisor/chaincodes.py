"""Contracts as chaincode-as-a-service and their definitions through Fabric's lifecycle."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from chaincode.packaging import Connection, build_package
from network.chaincode_deploy import Definition, OrgAdmins, approve, deploy, install
from network.gateway_client import GatewayClientError
from network.spec import Member, Node
from network.supervisor.base import SupervisorBase
from network.supervisor.home import (
    SAMPLES,
)


class Chaincodes(SupervisorBase):
    """Contracts as chaincode-as-a-service and their lifecycle."""

    def _contract_directory(self, chaincode) -> Path:
        if chaincode.sample:
            return SAMPLES / chaincode.sample
        return self.spec.file.parent / chaincode.path

    def launch_contracts(self) -> None:
        for chaincode in self.spec.chaincodes:
            self._start(
                f"chaincode-{chaincode.name}",
                [
                    sys.executable,
                    "-m",
                    "chaincode.runner",
                    str(self._contract_directory(chaincode)),
                    "--id",
                    f"{chaincode.name}_{chaincode.version}",
                    "--address",
                    f"127.0.0.1:{chaincode.port}",
                ],
                "127.0.0.1",
                chaincode.port,
            )

    def deploy_chaincodes(self) -> None:
        self._ready("chaincode-")
        deployed = self.state.setdefault("deployed", [])
        for chaincode in self.spec.chaincodes:
            package = self._package(chaincode)
            if chaincode.name in deployed:
                asyncio.run(self._install_on_new_peers(chaincode, package))
                continue
            asyncio.run(self._lifecycle(chaincode, package))
            deployed.append(chaincode.name)
            self._record_installed(chaincode, self._channel_peers(chaincode))
            self.progress(
                f"  chaincode {chaincode.name} {chaincode.version} committed on {chaincode.channel}"
            )

    def install_on_new_peers(self) -> None:
        """Peers that joined after a chaincode was deployed get its package (reconcile)."""
        deployed = self.state.get("deployed", [])
        for chaincode in self.spec.chaincodes:
            if chaincode.name in deployed:
                asyncio.run(self._install_on_new_peers(chaincode, self._package(chaincode)))

    def _package(self, chaincode) -> bytes:
        label = f"{chaincode.name}_{chaincode.version}"
        connection = Connection(f"127.0.0.1:{chaincode.port}")
        return build_package(self._contract_directory(chaincode), label, connection)

    def _channel_peers(self, chaincode) -> list[tuple[Member, Node]]:
        channel = self.spec_channel(chaincode.channel)
        return [
            (member, peer)
            for member in map(self.member, self.channel_members(channel))
            for peer in member.peers
        ]

    def _record_installed(self, chaincode, peers: list[tuple[Member, Node]]) -> None:
        installed = self.state.setdefault("installed", {}).setdefault(chaincode.name, [])
        installed.extend(
            name
            for name in (f"peer-{member.name}-{peer.name}" for member, peer in peers)
            if name not in installed
        )
        self.home.save_state(self.state)

    async def _install_on_new_peers(self, chaincode, package: bytes) -> None:
        """A peer added to a running member gets the package its organization approved,
        so it can endorse (the definition on the channel already names the package)."""
        installed = set(self.state.get("installed", {}).get(chaincode.name, []))
        new = [
            (member, peer)
            for member, peer in self._channel_peers(chaincode)
            if f"peer-{member.name}-{peer.name}" not in installed
        ]
        for member, peer in new:
            async with self._peer_admin(member, peer) as admin:
                await install(admin, package)
            self.progress(f"  {member.name}/{peer.name} has chaincode {chaincode.name}")
        if new:
            self._record_installed(chaincode, new)

    async def _lifecycle(self, chaincode, package: bytes) -> None:
        channel = next(c for c in self.spec.channels if c.name == chaincode.channel)
        members = [self.member(m) for m in channel.members]
        clients = {
            member.name: [self._peer_admin(member, peer) for peer in member.peers]
            for member in members
        }
        try:
            await deploy(
                channel.name,
                Definition(chaincode.name, chaincode.version, 1, chaincode.endorsement_policy),
                package,
                [OrgAdmins(m.mspid, clients[m.name]) for m in members],
                lambda tx_ids: self._wait_everywhere(channel.name, members, tx_ids),
            )
        finally:
            for peer_clients in clients.values():
                for client in peer_clients:
                    await client.close()

    async def _wait_everywhere(
        self, channel: str, members: list[Member], tx_ids: list[str]
    ) -> None:
        for member in members:
            async with self.gateway(member) as client:
                for tx_id in tx_ids:
                    await asyncio.wait_for(client.commit_status(channel, tx_id), timeout=60)

    def _approve_chaincodes(self, joined: list[str]) -> None:
        """Members that joined after ``up`` approve the definitions of the chaincodes on
        the channels they are in (once each: the approval is in the channel's state)."""
        for chaincode in self.spec.chaincodes:
            channel = self.spec_channel(chaincode.channel)
            approved = self.state.setdefault("approved", {}).setdefault(chaincode.name, [])
            in_channel = self.channel_members(channel)
            missing = [n for n in joined if n in in_channel and n not in approved]
            if missing:
                asyncio.run(self._approve_for(chaincode, missing))
                approved.extend(missing)
                self.home.save_state(self.state)

    async def _approve_for(self, chaincode, added: list[str]) -> None:
        label = f"{chaincode.name}_{chaincode.version}"
        connection = Connection(f"127.0.0.1:{chaincode.port}")
        package = build_package(self._contract_directory(chaincode), label, connection)
        definition = Definition(chaincode.name, chaincode.version, 1, chaincode.endorsement_policy)
        for name in added:
            member = self.member(name)
            async with self.gateway(member, self._admin(member)) as admin:
                package_id = await install(admin, package)
                # The new peer replays the channel up to the config block that admitted
                # its organization; until then it does not know its own org's admin.
                for attempt in range(60):
                    try:
                        await approve(
                            admin, chaincode.channel, definition, package_id, member.mspid
                        )
                        break
                    except GatewayClientError:
                        if attempt == 59:
                            raise
                        await asyncio.sleep(0.25)
            self.progress(f"  {name} can run chaincode {chaincode.name}")
