"""Deploying a chaincode through Fabric's lifecycle, as org admins do it with
``peer lifecycle chaincode …``: install the package on every peer of every org, approve
the definition once per org (endorsed by that org's own peer), wait until every peer has
seen every approval, commit the definition, and wait until every peer has committed it.
Used by ``consortium up`` and by the test networks."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fabric_protos.msp import msp_principal_pb2
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


_COLLECTION_KEYS = {
    "name",
    "policy",
    "requiredPeerCount",
    "maxPeerCount",
    "blockToLive",
    "memberOnlyRead",
    "memberOnlyWrite",
    "endorsementPolicy",
}


def collections_from_file(path: Path) -> collection_pb2.CollectionConfigPackage:
    """Private data collections from a Fabric ``collections_config.json`` (what
    ``peer lifecycle chaincode approveformyorg --collections-config`` reads). Raises
    ``CaError`` naming the file, the entry and the field that is wrong."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise CaError(f"collections file {path}: cannot read it ({exc.strerror})") from None
    return collections_from_json(text, str(path))


def collections_from_json(text: str, source: str) -> collection_pb2.CollectionConfigPackage:
    """The same from the file's text (``source`` names it in errors)."""
    try:
        entries = json.loads(text)
    except ValueError as exc:
        raise CaError(f"collections file {source}: not JSON ({exc})") from None
    if not isinstance(entries, list) or not entries:
        raise CaError(f"collections file {source}: must be a JSON list of collections")
    return collection_pb2.CollectionConfigPackage(
        config=[_collection(entry, f"{source}[{n}]") for n, entry in enumerate(entries)]
    )


def _collection(entry: Any, where: str) -> collection_pb2.CollectionConfig:
    if not isinstance(entry, dict) or not entry.get("name") or not entry.get("policy"):
        raise CaError(f"collections file {where}: needs at least name and policy")
    unknown = set(entry) - _COLLECTION_KEYS
    if unknown:
        raise CaError(f"collections file {where}.{sorted(unknown)[0]}: unknown field")
    try:
        members = from_string(str(entry["policy"]))
    except CaError as exc:
        raise CaError(f"collections file {where}.policy: {exc}") from None
    numbers = {}
    for key in ("requiredPeerCount", "maxPeerCount", "blockToLive"):
        value = entry.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CaError(f"collections file {where}.{key}: must be a whole number ≥ 0")
        numbers[key] = value
    static = collection_pb2.StaticCollectionConfig(
        name=str(entry["name"]),
        member_orgs_policy=collection_pb2.CollectionPolicyConfig(signature_policy=members),
        required_peer_count=numbers["requiredPeerCount"],
        maximum_peer_count=numbers["maxPeerCount"],
        block_to_live=numbers["blockToLive"],
        member_only_read=bool(entry.get("memberOnlyRead", True)),
        member_only_write=bool(entry.get("memberOnlyWrite", True)),
    )
    if "endorsementPolicy" in entry:
        static.endorsement_policy.CopyFrom(
            _collection_endorsement(entry["endorsementPolicy"], f"{where}.endorsementPolicy")
        )
    return collection_pb2.CollectionConfig(static_collection_config=static)


def _collection_endorsement(raw: Any, where: str) -> policy_pb2.ApplicationPolicy:
    """Fabric's ``{"signaturePolicy": "…"}`` or ``{"channelConfigPolicy": "…"}`` (one)."""
    if not isinstance(raw, dict) or len(raw) != 1:
        raise CaError(
            f"collections file {where}: must hold one of signaturePolicy, channelConfigPolicy"
        )
    ((kind, text),) = raw.items()
    if kind not in ("signaturePolicy", "channelConfigPolicy") or not isinstance(text, str):
        raise CaError(
            f"collections file {where}: must hold one of signaturePolicy, channelConfigPolicy"
        )
    if kind == "channelConfigPolicy" and not text.startswith("/"):
        text = "/" + text  # Fabric's examples write Channel/Application/…
    try:
        return application_policy(text)
    except CaError as exc:
        raise CaError(f"collections file {where}.{kind}: {exc}") from None


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
    progress: Callable[[str], None] = lambda _: None,
) -> str:
    """Install, approve per org (the organizations at once: their approvals share a
    block), commit; return the commit's transaction id."""

    async def install_and_approve(org: OrgAdmins) -> str:
        package_ids = [await install(admin, package) for admin in org.peers]
        progress(f"  installed {package_ids[0]} on {len(org.peers)} peer(s) of {org.mspid}")
        tx_id = await approve(org.peers[0], channel, definition, package_ids[0], org.mspid)
        progress(f"  {org.mspid} approved {definition.name} sequence {definition.sequence}")
        return tx_id

    approvals = await asyncio.gather(*(install_and_approve(org) for org in orgs))
    await wait_committed(list(approvals))
    tx_id = await commit(orgs[0].peers[0], channel, definition)
    await wait_committed([tx_id])
    progress(f"  {definition.name} sequence {definition.sequence} committed on {channel}")
    return tx_id


async def commit(admin: GatewayClient, channel: str, definition: Definition) -> str:
    """Commit ``definition`` (once enough organizations approved it); its txid."""
    args = lifecycle_pb2.CommitChaincodeDefinitionArgs(**definition.fields())
    committed = await admin.submit(
        channel, "_lifecycle", "CommitChaincodeDefinition", args.SerializeToString()
    )
    return committed.tx_id


async def query_installed(admin: GatewayClient) -> list[tuple[str, str]]:
    """(package ID, label) of every package installed on the admin's peer."""
    answer = await admin.propose("", "_lifecycle", "QueryInstalledChaincodes")
    result = lifecycle_pb2.QueryInstalledChaincodesResult.FromString(answer.response.payload)
    return [(c.package_id, c.label) for c in result.installed_chaincodes]


async def commit_readiness(
    admin: GatewayClient, channel: str, definition: Definition
) -> dict[str, bool]:
    """Which organizations approved exactly ``definition`` (``checkcommitreadiness``)."""
    args = lifecycle_pb2.CheckCommitReadinessArgs(**definition.fields())
    answer = await admin.evaluate(
        channel, "_lifecycle", "CheckCommitReadiness", args.SerializeToString()
    )
    return dict(lifecycle_pb2.CheckCommitReadinessResult.FromString(answer).approvals)


async def query_committed(
    admin: GatewayClient, channel: str, name: str = ""
) -> list[dict[str, Any]]:
    """The committed definitions on ``channel`` (one, if ``name`` is given)."""
    if name:
        args = lifecycle_pb2.QueryChaincodeDefinitionArgs(name=name)
        answer = await admin.evaluate(
            channel, "_lifecycle", "QueryChaincodeDefinition", args.SerializeToString()
        )
        found = lifecycle_pb2.QueryChaincodeDefinitionResult.FromString(answer)
        return [_definition_row(name, found, dict(found.approvals))]
    answer = await admin.evaluate(channel, "_lifecycle", "QueryChaincodeDefinitions", b"")
    result = lifecycle_pb2.QueryChaincodeDefinitionsResult.FromString(answer)
    return [_definition_row(d.name, d, {}) for d in result.chaincode_definitions]


def _definition_row(name: str, found: Any, approvals: dict[str, bool]) -> dict[str, Any]:
    policy = policy_pb2.ApplicationPolicy.FromString(found.validation_parameter)
    row: dict[str, Any] = {
        "name": name,
        "version": found.version,
        "sequence": found.sequence,
        "endorsement_policy": policy_text(policy),
        "collections": [c.static_collection_config.name for c in found.collections.config],
    }
    if approvals:
        row["approvals"] = approvals
    return row


def policy_text(policy: policy_pb2.ApplicationPolicy) -> str:
    """An ApplicationPolicy as a person writes it (a reference, or the signature policy)."""
    if policy.HasField("channel_config_policy_reference"):
        return policy.channel_config_policy_reference
    envelope = policy.signature_policy
    return _rule_text(envelope.rule, list(envelope.identities))


def _rule_text(rule: Any, identities: list[Any]) -> str:
    if rule.HasField("signed_by"):
        role = msp_principal_pb2.MSPRole.FromString(identities[rule.signed_by].principal)
        name = msp_principal_pb2.MSPRole.MSPRoleType.Name(role.role).lower()
        return f"'{role.msp_identifier}.{name}'"
    inner = [_rule_text(r, identities) for r in rule.n_out_of.rules]
    n = rule.n_out_of.n
    if n == 1:  # OR('A.peer') and AND('A.peer') are the same policy; OR reads better
        return f"OR({', '.join(inner)})"
    if n == len(inner):
        return f"AND({', '.join(inner)})"
    return f"OutOf({n}, {', '.join(inner)})"
