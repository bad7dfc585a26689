"""Channel membership changes: a config update that adds or removes an organization,
signed by as many of the channel's admins as its policies need."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import grpc
from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.orderer import ab_pb2, ab_pb2_grpc

from ca.channelconfig import ChannelConfig
from ca.msp import load_signing_identity
from ca.signing import SoftwareSigner
from network.errors import SupervisorError
from network.spec import Member
from network.supervisor.base import SupervisorBase
from network.supervisor.home import (
    CONFIG_BLOCK_POLLS,
)
from ordering.blockcutter import BatchSize
from ordering.configtx import (
    Organization,
    organization_group,
    parse_duration,
    policy_entry,
    with_application,
    with_batch,
)
from ordering.configupdate import compute_update, config_update_transaction, sign_as_needed
from ordering.errors import ConfigError
from peers.channel import OrdererEndpoint
from proto.blocksign import last_config_index
from proto.seek import build_seek_envelope


class ChannelUpdates(SupervisorBase):
    """A channel gains or loses an organization by config update."""

    def add_channel_member(self, channel_name: str, member_name: str) -> None:
        """Add ``member_name``'s organization to a channel by a config update signed by
        as many of the channel's admins as its Admins policy needs, join its peers and
        let it approve the channel's chaincodes. Running it again finishes a half-done
        one."""
        self.state = self.home.load_state()
        self._start_existing()
        channel = self.spec_channel(channel_name)
        self._known_member(member_name)
        left = self.state.get("left_channels", {}).get(channel.name, [])
        if member_name in left:
            left.remove(member_name)
        asyncio.run(self._add_organizations(channel, [member_name]))
        asyncio.run(self._join_peers())
        joined_later = {m["name"] for m in self.state.get("joined", [])}
        self._approve_chaincodes([member_name] if member_name in joined_later else [])
        self.write_connection_files()
        self.refresh_explorer_config()
        self.refresh_broker_access()  # its MQTT user reads the channel's events, or no more

    def remove_channel_member(self, channel_name: str, member_name: str) -> None:
        """Remove ``member_name``'s organization from a channel by a config update (the
        reverse of ``add_channel_member``); its peers stop receiving the channel's blocks."""
        self.state = self.home.load_state()
        channel = self.spec_channel(channel_name)
        member = self._known_member(member_name)
        members = self.channel_members(channel)
        if member_name not in members:
            raise SupervisorError(f"member {member_name!r} is not in channel {channel.name}")
        if members == [member_name]:
            raise SupervisorError(
                f"member {member_name!r} is the last member of channel {channel.name}"
            )
        asyncio.run(self._remove_organization(channel, member))
        left = self.state.setdefault("left_channels", {}).setdefault(channel.name, [])
        if member_name not in left:
            left.append(member_name)
        joined = self.state.get("joined_channels", {}).get(channel.name, [])
        if member_name in joined:
            joined.remove(member_name)
        self.home.save_state(self.state)
        self.write_connection_files()
        self.refresh_explorer_config()
        self.refresh_broker_access()  # its MQTT user reads the channel's events, or no more
        self.progress(f"  {member_name} removed from channel {channel.name} by config update")

    def channel_config(self, channel_name: str) -> ChannelConfig:
        """The channel's current config, as the orderer delivers it (``channel config``)."""
        self.state = self.home.load_state()
        return asyncio.run(self._channel_config(self.spec_channel(channel_name).name))

    # -- channel settings: the Orderer group's batch size and timeout ------------------

    def apply_channel_settings(self) -> None:
        """``up`` on a running network: a channel whose batch settings in the spec differ
        from its config gets a config update (Fabric's way; the orderer cuts blocks by
        the new settings from the next block on)."""
        for channel in self.spec.channels:
            size, timeout = self.desired_batch(channel)
            asyncio.run(self._set_batch(channel.name, size, timeout))
            asyncio.run(self._set_application(channel))

    def update_channel_settings(
        self,
        channel_name: str,
        timeout: str | None = None,
        max_message_count: int | None = None,
        absolute_max_bytes: int | None = None,
        preferred_max_bytes: int | None = None,
    ) -> bool:
        """``channel update``: change some batch settings of a running channel, keeping
        the others as the channel has them; False when nothing changes."""
        self.state = self.home.load_state()
        channel_id = self.spec_channel(channel_name).name

        async def change() -> bool:
            config = await self._channel_config(channel_id)
            now = config.batch_size
            try:
                size = BatchSize(
                    max_message_count=max_message_count or now.max_message_count,
                    absolute_max_bytes=absolute_max_bytes or now.absolute_max_bytes,
                    preferred_max_bytes=preferred_max_bytes or now.preferred_max_bytes,
                )
            except ValueError as exc:
                raise SupervisorError(f"channel {channel_id}: {exc}") from None
            return await self._set_batch(channel_id, size, timeout or config.batch_timeout)

        return asyncio.run(change())

    async def _set_batch(self, channel_id: str, size: BatchSize, timeout: str) -> bool:
        try:
            seconds = parse_duration(timeout, "timeout")
        except ConfigError as exc:
            raise SupervisorError(f"channel {channel_id}: {exc}") from None
        config = await self._channel_config(channel_id)

        def settled(now: ChannelConfig) -> bool:
            current = now.batch_size
            wanted = (size.max_message_count, size.absolute_max_bytes, size.preferred_max_bytes)
            return (
                parse_duration(now.batch_timeout, "BatchTimeout") == seconds
                and (
                    current.max_message_count,
                    current.absolute_max_bytes,
                    current.preferred_max_bytes,
                )
                == wanted
            )

        if settled(config):
            return False
        await self._update_channel(
            channel_id,
            config,
            with_batch(config.config, size, timeout),
            [self._ordering_admin()],
            f"changing the batch settings of {channel_id}",
            settled,
        )
        self.progress(
            f"  channel {channel_id}: batch timeout {timeout}, at most "
            f"{size.max_message_count} transactions per block (config update)"
        )
        return True

    # -- channel settings: anchor peers and Application policies ------------------------

    async def _set_application(self, channel) -> bool:
        """The anchor peers and Application policies the spec names, by one config update
        signed by the organizations whose anchors change and as many of the channel's
        admins as its Admins policy needs; False when the channel has them already."""
        config = await self._channel_config(channel.name)
        present = set(config.organizations("Application"))
        anchors = {
            self.member(name).mspid: self.anchor_addresses(channel, name)
            for name in channel.anchor_peers
            if self.member(name).mspid in present
        }
        policies = {name: policy_entry(rule, name) for name, rule in channel.policies.items()}
        try:
            updated = with_application(config.config, anchors, policies)
        except ConfigError as exc:
            raise SupervisorError(f"channel {channel.name}: {exc}") from None
        wanted = updated.channel_group.groups["Application"]

        def settled(now: ChannelConfig) -> bool:
            application = now.config.channel_group.groups["Application"]
            return all(
                _value_bytes(application.groups[m], "AnchorPeers")
                == _value_bytes(wanted.groups[m], "AnchorPeers")
                for m in anchors
            ) and all(_policy_bytes(application, n) == _policy_bytes(wanted, n) for n in policies)

        if settled(config):
            return False
        members = [self.member(n) for n in self.channel_members(channel)]
        await self._update_channel(
            channel.name,
            config,
            updated,
            [self._admin(m) for m in members if m.mspid in present],
            f"changing the anchor peers and policies of {channel.name}",
            settled,
        )
        changed = [f"anchor peers of {', '.join(sorted(channel.anchor_peers))}"] if anchors else []
        changed += [f"policy {n} = {r}" for n, r in channel.policies.items()]
        self.progress(f"  channel {channel.name}: {'; '.join(changed)} (config update)")
        return True

    def _ordering_admin(self) -> SoftwareSigner:
        folder = self.home.root / "ordering" / "admin" / "msp"
        if not folder.exists():
            raise SupervisorError(
                "this network's ordering organization has no admin identity (it was created "
                "before consortium made one), so its channels' settings cannot change"
            )
        return load_signing_identity(folder, self.spec.ordering_mspid)

    async def _remove_organization(self, channel, leaving: Member) -> None:
        config = await self._channel_config(channel.name)
        if leaving.mspid not in config.organizations("Application"):
            return  # an earlier reconcile got this far
        updated = configtx_pb2.Config()
        updated.CopyFrom(config.config)
        del updated.channel_group.groups["Application"].groups[leaving.mspid]
        staying = [self.member(n) for n in self.channel_members(channel) if n != leaving.name]
        # The Admins policy counts the orgs in the channel now, the leaving one included;
        # when the others alone are not enough (two orgs), the vote already decided, and
        # the leaving org's admin signs too.
        signers = [self._admin(m) for m in (*staying, leaving)]
        await self._update_channel(
            channel.name,
            config,
            updated,
            signers,
            f"removing {leaving.name} from {channel.name}",
            lambda now: leaving.mspid not in now.msps.mspids,
        )

    async def _update_channel(
        self,
        channel_id: str,
        config: ChannelConfig,
        updated: configtx_pb2.Config,
        signers: list[SoftwareSigner],
        what: str,
        done: Callable[[ChannelConfig], bool],
    ) -> None:
        """Move the channel from ``config`` to ``updated`` by a config update signed by
        as few of ``signers`` as its policies need, and wait until its config block is
        cut (``done`` says when the channel's config shows the change)."""
        update = compute_update(channel_id, config.config, updated)
        try:
            signed = sign_as_needed(config, update, signers)
        except ConfigError as exc:
            raise SupervisorError(f"{what}: the admins' signatures are not enough: {exc}") from None
        envelope = config_update_transaction(signers[0], channel_id, signed)
        answer = await self._broadcast(envelope)
        if answer.status != common_pb2.SUCCESS:
            raise SupervisorError(
                f"{what}: orderer answered {common_pb2.Status.Name(answer.status)}: {answer.info}"
            )
        for _ in range(CONFIG_BLOCK_POLLS):
            if done(await self._channel_config(channel_id)):
                return
            await asyncio.sleep(0.1)
        raise SupervisorError(
            f"{what}: the orderer accepted the config update, but no config block showing it "
            f"was delivered within {CONFIG_BLOCK_POLLS / 10:.0f}s"
        )

    async def _add_organizations(self, channel, added: list[str]) -> None:
        config = await self._channel_config(channel.name)
        present = set(config.organizations("Application"))
        current_members = [
            n for n in self.channel_members(channel) if self.member(n).mspid in present
        ]
        joined = self.state.setdefault("joined_channels", {}).setdefault(channel.name, [])
        joined.extend(n for n in added if self.member(n).mspid in present and n not in joined)
        added = [n for n in added if self.member(n).mspid not in present]
        if not added:  # an earlier reconcile got this far
            self.home.save_state(self.state)
            return
        updated = configtx_pb2.Config()
        updated.CopyFrom(config.config)
        application = updated.channel_group.groups["Application"]
        for name in added:
            member = self.member(name)
            organization = Organization(
                name,
                member.mspid,
                self.home.member(name) / "msp",
                anchor_peers=tuple(self.anchor_addresses(channel, name)),
            )
            application.groups[member.mspid].CopyFrom(organization_group(organization, False))
        wanted = {self.member(n).mspid for n in added}
        await self._update_channel(
            channel.name,
            config,
            updated,
            [self._admin(self.member(m)) for m in current_members],
            f"adding {', '.join(added)} to {channel.name}",
            lambda now: wanted <= set(now.msps.mspids),
        )
        joined.extend(n for n in added if n not in joined)
        self.home.save_state(self.state)
        self.progress(f"  {', '.join(added)} added to channel {channel.name} by config update")

    def orderer_endpoint(self, orderer) -> OrdererEndpoint:
        tls = (self.home.root / "ordering" / orderer.name / "tls" / "ca.crt").read_bytes()
        client = self.tls_client(self.members[0]) if self.members else None
        return OrdererEndpoint(f"{orderer.host}:{orderer.port}", tls, client=client)

    async def _on_any_orderer(self, ask):
        """``ask(stub)`` on the first orderer that answers (an ordering cluster keeps
        serving when one of its nodes is down)."""
        failures = []
        for orderer in self.spec.orderers:
            async with self.orderer_endpoint(orderer).channel() as channel:
                try:
                    return await ask(ab_pb2_grpc.AtomicBroadcastStub(channel))
                except grpc.aio.AioRpcError as exc:
                    failures.append(f"{orderer.name}: {exc.code().name}")
        raise SupervisorError(f"no orderer answered ({'; '.join(failures)})")

    async def _broadcast(self, envelope: common_pb2.Envelope) -> ab_pb2.BroadcastResponse:
        async def send(stub) -> ab_pb2.BroadcastResponse:
            return await stub.Broadcast(iter([envelope])).read()

        return await self._on_any_orderer(send)

    async def _channel_config(self, channel_id: str) -> ChannelConfig:
        reader = self._admin(self.members[0])

        async def read(stub) -> ChannelConfig:
            async def block(position: int | str) -> common_pb2.Block:
                seek = build_seek_envelope(reader, channel_id, position, position, True)
                async for response in stub.Deliver(iter([seek])):
                    if response.WhichOneof("Type") == "block":
                        return response.block
                raise SupervisorError(f"channel {channel_id}: block {position} not delivered")

            newest = await block("newest")
            number = last_config_index(newest) if newest.header.number else 0
            return ChannelConfig.from_block(await block(number))

        return await self._on_any_orderer(read)


def _value_bytes(group: configtx_pb2.ConfigGroup, name: str) -> bytes:
    """A config value's bytes, read without adding it (indexing a protobuf map would)."""
    value = group.values.get(name)
    return value.value if value is not None else b""


def _policy_bytes(group: configtx_pb2.ConfigGroup, name: str) -> bytes:
    policy = group.policies.get(name)
    return policy.policy.SerializeToString() if policy is not None else b""
