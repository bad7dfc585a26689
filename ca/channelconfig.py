"""What a channel's config block means to the nodes that enforce it.

A Fabric channel config is a tree of groups (``Channel`` → ``Orderer`` / ``Application``
→ one group per organization) holding values and policies. Orderers and peers both need
the same reading of it — the MSPs it trusts and the policy tree to evaluate against —
so it lives here, beside the MSP and policy code, and both import it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from fabric_protos.common import common_pb2, configtx_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_config_pb2
from google.protobuf.message import DecodeError

from ca.errors import CaError
from ca.msp import MspManager, msp_from_channel_value
from ca.policy import PolicyGroup, SignedData, policy_group_from_config


class ChannelConfigError(CaError):
    """A config block or config tree cannot be read."""


def _organization_groups(
    channel: configtx_pb2.ConfigGroup,
) -> Iterator[tuple[str, str, configtx_pb2.ConfigGroup]]:
    for section in ("Orderer", "Application"):
        if section in channel.groups:
            for name, group in channel.groups[section].groups.items():
                yield section, name, group


@dataclass(frozen=True)
class ChannelConfig:
    """A parsed channel config: its MSPs, its policy tree and its orderer settings."""

    channel_id: str
    config: configtx_pb2.Config
    msps: MspManager
    policies: PolicyGroup

    @classmethod
    def from_config(cls, channel_id: str, config: configtx_pb2.Config) -> ChannelConfig:
        msps = MspManager()
        for section, name, group in _organization_groups(config.channel_group):
            if "MSP" not in group.values:
                raise ChannelConfigError(f"{section}/{name} has no MSP value")
            try:
                msp = msp_from_channel_value(group.values["MSP"].value)
            except CaError as exc:
                raise ChannelConfigError(f"{section}/{name} MSP value: {exc}") from None
            if msp.mspid not in msps:
                msps.add(msp)
        return cls(channel_id, config, msps, policy_group_from_config(config.channel_group))

    @classmethod
    def from_block(cls, block: common_pb2.Block) -> ChannelConfig:
        channel_id, envelope = config_from_block(block)
        return cls.from_config(channel_id, envelope.config)

    @property
    def sequence(self) -> int:
        return self.config.sequence

    def _orderer_value(self, name: str) -> bytes:
        orderer = self.config.channel_group.groups.get("Orderer")
        if orderer is None or name not in orderer.values:
            raise ChannelConfigError(f"channel {self.channel_id}: Orderer/{name} is not set")
        return orderer.values[name].value

    @property
    def batch_size(self) -> orderer_config_pb2.BatchSize:
        return orderer_config_pb2.BatchSize.FromString(self._orderer_value("BatchSize"))

    @property
    def batch_timeout(self) -> str:
        return orderer_config_pb2.BatchTimeout.FromString(
            self._orderer_value("BatchTimeout")
        ).timeout

    def organizations(self, section: str) -> list[str]:
        group = self.config.channel_group.groups.get(section)
        return sorted(group.groups) if group is not None else []

    def evaluate(self, policy_path: str, signed_data: Sequence[SignedData]) -> bool:
        """Evaluate a policy by its path, e.g. ``/Channel/Writers`` or
        ``/Channel/Application/Org1MSP/Admins`` (``Channel/`` may be omitted)."""
        return self.policies.evaluate(_relative(policy_path), signed_data, self.msps)

    def refusal(self, policy_path: str, signed_data: Sequence[SignedData]) -> str:
        """Fabric's reason for a policy ``signed_data`` does not satisfy (it says how
        many sub-policies were satisfied, never which signature check failed)."""
        return self.policies.refusal(_relative(policy_path), signed_data, self.msps)


def _relative(policy_path: str) -> str:
    return policy_path.strip("/").removeprefix("Channel/")


def config_from_block(block: common_pb2.Block) -> tuple[str, configtx_pb2.ConfigEnvelope]:
    """The channel ID and ``ConfigEnvelope`` of a config block."""
    if len(block.data.data) != 1:
        raise ChannelConfigError(
            f"block {block.header.number} holds {len(block.data.data)} envelopes; "
            "a config block holds exactly one"
        )
    try:
        envelope = common_pb2.Envelope.FromString(block.data.data[0])
        payload = common_pb2.Payload.FromString(envelope.payload)
        header = common_pb2.ChannelHeader.FromString(payload.header.channel_header)
        if header.type != common_pb2.CONFIG:
            raise ChannelConfigError(
                f"block {block.header.number} is not a config block "
                f"(header type {common_pb2.HeaderType.Name(header.type)})"
            )
        return header.channel_id, configtx_pb2.ConfigEnvelope.FromString(payload.data)
    except DecodeError as exc:
        raise ChannelConfigError(f"block {block.header.number} does not decode: {exc}") from None
