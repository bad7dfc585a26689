"""Revocation end to end: ``consortium ca revoke --member M NAME``.

The member's CA revokes every certificate of NAME (Fabric CA's ``revoke``, as the CA's
bootstrap admin, with ``gencrl``) and answers with its new CRL. That CRL then has to
reach the channels, because peers and orderers check identities against the MSPs in the
channel config, not against the CA: for every channel the member's organization is in,
a config update replaces the ``revocation_list`` of its MSP value with the new CRL
(which lists every certificate the CA has revoked), signed by the member's admin (the
organization's own values change by its own ``Admins`` policy, as in Fabric). The CRL is
also written to the member's MSP folder (``crls/``), so an organization added to a
channel later carries it. Once the config block commits, that identity's proposals are
refused by every endorser and its transactions by the orderer and every validator.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass

from fabric_protos.common import configtx_pb2
from fabric_protos.msp import msp_config_pb2

from ca.errors import CaError
from network.errors import SupervisorError
from network.supervisor.base import SupervisorBase


@dataclass(frozen=True)
class Revoked:
    """What ``revoke_identity`` did: the certificates revoked and the channels told."""

    serials: tuple[str, ...]
    channels: tuple[str, ...]


def with_revocation_list(
    config: configtx_pb2.Config, mspid: str, crl: bytes
) -> configtx_pb2.Config:
    """A copy of ``config`` whose Application organization ``mspid`` has ``crl`` as its
    MSP's only CRL (a CA's newest CRL lists everything it revoked)."""
    updated = configtx_pb2.Config()
    updated.CopyFrom(config)
    value = updated.channel_group.groups["Application"].groups[mspid].values["MSP"]
    wrapper = msp_config_pb2.MSPConfig.FromString(value.value)
    fabric = msp_config_pb2.FabricMSPConfig.FromString(wrapper.config)
    del fabric.revocation_list[:]
    fabric.revocation_list.append(crl)
    wrapper.config = fabric.SerializeToString()
    value.value = wrapper.SerializeToString()
    return updated


class Revocation(SupervisorBase):
    def revoke_identity(self, member_name: str, name: str, reason: str = "") -> Revoked:
        """Revoke ``name`` at ``member_name``'s CA and put the new CRL in every channel
        the member is in; running it again re-sends the CRL where it is missing."""
        self.state = self.home.load_state()
        member = self._known_member(member_name)
        client = self._ca_client(member)
        try:
            registrar = client.enroll("admin", self.state["passwords"][member.name]).signer
            fields = {"id": name, "gencrl": True, **({"reason": reason} if reason else {})}
            answer = client.revoke(registrar, **fields)
        except CaError as exc:
            raise SupervisorError(f"{member.name}'s CA refused to revoke {name!r}: {exc}") from None
        crl = base64.b64decode(answer["CRL"])
        crls = self.home.member(member.name) / "msp" / "crls"
        crls.mkdir(parents=True, exist_ok=True)
        (crls / "crl.pem").write_bytes(crl)
        channels = asyncio.run(self._send_crl(member, crl))
        return Revoked(tuple(c["Serial"] for c in answer["RevokedCerts"]), tuple(channels))

    async def _send_crl(self, member, crl: bytes) -> list[str]:
        told = []
        for channel in self.spec.channels:
            if member.name not in self.channel_members(channel):
                continue
            config = await self._channel_config(channel.name)
            if member.mspid not in config.organizations("Application"):
                continue
            told.append(channel.name)
            if crl in config.msps.get(member.mspid).config.crls:
                continue
            await self._update_channel(
                channel.name,
                config,
                with_revocation_list(config.config, member.mspid, crl),
                [self._admin(member)],
                f"putting {member.name}'s CRL in channel {channel.name}",
                lambda now: crl in now.msps.get(member.mspid).config.crls,
            )
            self.progress(f"  channel {channel.name}: {member.name}'s new CRL (config update)")
        return told
