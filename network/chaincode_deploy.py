"""Deploying a chaincode through Fabric's lifecycle, as org admins do it with
``peer lifecycle chaincode …``: install the package on every peer of every org, approve
the definition once per org (endorsed by that org's own peer), wait until every peer has
seen every approval, commit the definition, and wait until every peer has committed it.
Used by ``consortium up`` and by the test networks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fabric_protos.peer import collection_pb2, policy_pb2
from fabric_protos.peer.lifecycle import lifecycle_pb2

from ca.errors import CaError
from ca.policy import from_string
from chaincode.packaging import package_id, read_package
from network.gateway_client import GatewayClient, GatewayClientError

WaitCommitted = Callable[[list[str]], Awaitable[None]]


@dataclass(frozen=True)
class OrgAdmins:
    """One organization's admin, connected to each of its peers (the first is its
    gateway, through which it approves)."""

    mspid: str
    peers: Sequence[GatewayClient]


DEFAULT_ENDORSEMENT = "/Channel/Application/Endorsement"


def application_policy(text: str) -> policy_pb2.ApplicationPolicy:
    """A chaincode's endorsement policy as Fabric's lifecycle takes it: a signature policy
    (``AND('Org1MSP.peer', 'Org2MSP.peer')``, ``OutOf(2, …)``) or a reference to a channel
    policy (``/Channel/Application/Endorsement``, what ``peer lifecycle`` uses when no
    policy is given and what ``MAJORITY`` means here: the default channel's Endorsement
    policy is a MAJORITY of the organizations' Endorsement policies). Raises ``CaError``
    naming what does not parse."""
    text = text.strip()
    if text in ("", "MAJORITY"):
        return policy_pb2.ApplicationPolicy(channel_config_policy_reference=DEFAULT_ENDORSEMENT)
    if text.startswith("/"):
        parts = text.strip("/").split("/")
        if len(parts) < 3 or parts[:2] != ["Channel", "Application"] or not all(parts):
            raise CaError(
                f"channel policy reference {text!r} must name a policy under "
                "/Channel/Application/, e.g. /Channel/Application/Endorsement"
            )
        return policy_pb2.ApplicationPolicy(channel_config_policy_reference=text)
    return policy_pb2.ApplicationPolicy(signature_policy=from_string(text))


@dataclass(frozen=True)
class Definition:
    name: str
    version: str
    sequence: int
    # Fabric's policy language, e.g. AND('Org1MSP.peer', ...), or a channel policy
    # reference (see ``application_policy``); "" is the channel's default.
    endorsement_policy: str
    collections: collection_pb2.CollectionConfigPackage | None = None  # private data

    def validation_parameter(self) -> bytes:
        return application_policy(self.endorsement_policy).SerializeToString()

    def fields(self) -> dict[str, Any]:
        """What approve and commit both carry (``_lifecycle`` checks they match)."""
        fields: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "sequence": self.sequence,
            "validation_parameter": self.validation_parameter(),
        }
        if self.collections is not None:
            fields["collections"] = self.collections
        return fields


async def install(admin: GatewayClient, package: bytes) -> str:
    """Install on the admin's peer (once: a package already there is fine); return the
    package ID."""
    try:
        installed = await admin.propose(
            "",
            "_lifecycle",
            "InstallChaincode",
            lifecycle_pb2.InstallChaincodeArgs(
                chaincode_install_package=package
            ).SerializeToString(),
        )
    except GatewayClientError as exc:
        if "already successfully installed" not in str(exc):
            raise
        metadata, _ = read_package(package)
        return package_id(metadata["label"], package)
    return lifecycle_pb2.InstallChaincodeResult.FromString(installed.response.payload).package_id


async def approve(
    admin: GatewayClient, channel: str, definition: Definition, package_id: str, mspid: str
) -> str:
    """Approve ``definition`` for the admin's org (endorsed by its own peer); its txid."""
    args = lifecycle_pb2.ApproveChaincodeDefinitionForMyOrgArgs(**definition.fields())
    args.source.local_package.package_id = package_id
    approved = await admin.submit(
        channel,
        "_lifecycle",
        "ApproveChaincodeDefinitionForMyOrg",
        args.SerializeToString(),
        endorsing_organizations=[mspid],
    )
    return approved.tx_id


async def deploy(
    channel: str,
    definition: Definition,
    package: bytes,
    orgs: Sequence[OrgAdmins],
    wait_committed: WaitCommitted,
) -> str:
    """Install, approve per org, commit; return the commit's transaction id."""
    approvals = []
    for org in orgs:
        package_ids = [await install(admin, package) for admin in org.peers]
        approvals.append(
            await approve(org.peers[0], channel, definition, package_ids[0], org.mspid)
        )
    await wait_committed(approvals)
    committed = await commit(orgs[0].peers[0], channel, definition)
    await wait_committed([committed])
    return committed


async def commit(admin: GatewayClient, channel: str, definition: Definition) -> str:
    """Commit ``definition`` (once enough organizations approved it); its txid."""
    args = lifecycle_pb2.CommitChaincodeDefinitionArgs(**definition.fields())
    committed = await admin.submit(
        channel, "_lifecycle", "CommitChaincodeDefinition", args.SerializeToString()
    )
    return committed.tx_id
