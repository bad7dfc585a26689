"""Channel configuration from a configtx-style profile: the job of ``configtxgen``.

A profile names the orderer organizations and batch settings, the application
organizations, and the policies at each level. From it we build Fabric's config tree
(``common.Config``: a ``Channel`` group with ``Orderer`` and ``Application`` groups, one
group per organization holding its ``MSP`` value and policies) and wrap it in a genesis
block, byte-compatible with what Fabric's peers and orderers read.

Where a profile is silent we fill in the policies ``configtxgen``'s sample profiles
spell out (documented in ``docs/ordering.md``), so a small profile is enough.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fabric_protos.common import common_pb2, configtx_pb2, configuration_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_config_pb2
from fabric_protos.peer import configuration_pb2 as peer_config_pb2

from ca import policy as policies
from ca.errors import CaError
from ca.msp import load_msp
from ordering.blockcutter import BatchSize
from ordering.errors import ConfigError
from proto.messages import build_block, build_channel_header

ADMINS = "Admins"
CHANNEL_VALUE_CAPABILITY = "V2_0"
APPLICATION_CAPABILITY = "V2_5"
_SIZE = re.compile(r"^\s*(\d+)\s*(KB|MB|GB|B)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$")
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


@dataclass(frozen=True)
class Organization:
    name: str
    mspid: str
    msp_dir: Path
    policies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    endpoints: tuple[str, ...] = ()
    anchor_peers: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class Profile:
    orderer_type: str
    batch_size: BatchSize
    batch_timeout: str
    orderer_orgs: tuple[Organization, ...]
    application_orgs: tuple[Organization, ...]
    channel_policies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    orderer_policies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    application_policies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)


# -- reading a profile ---------------------------------------------------------------------


def parse_size(text: Any, where: str) -> int:
    """``"512 KB"`` → 524288, as configtx.yaml writes byte sizes."""
    if isinstance(text, int):
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ConfigError(f"{where}: {text!r} is not a size such as '512 KB' or '10 MB'")
    return int(match.group(1)) * _UNITS[(match.group(2) or "B").upper()]


def parse_duration(text: Any, where: str) -> float:
    """``"2s"`` / ``"250ms"`` → seconds."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(f"{where}: {text!r} is not a duration such as '2s' or '250ms'")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    return value


def _organization(raw: Any, base: Path, where: str) -> Organization:
    raw = _mapping(raw, where)
    for key in ("Name", "ID", "MSPDir"):
        if not raw.get(key):
            raise ConfigError(f"{where}.{key} is required")
    msp_dir = Path(os.path.expandvars(str(raw["MSPDir"])))
    anchors = tuple(
        (str(_mapping(peer, f"{where}.AnchorPeers")["Host"]), int(peer["Port"]))
        for peer in raw.get("AnchorPeers") or ()
    )
    return Organization(
        name=str(raw["Name"]),
        mspid=str(raw["ID"]),
        msp_dir=msp_dir if msp_dir.is_absolute() else base / msp_dir,
        policies=_mapping(raw.get("Policies"), f"{where}.Policies"),
        endpoints=tuple(str(e) for e in raw.get("OrdererEndpoints") or ()),
        anchor_peers=anchors,
    )


def yaml_problem(error: yaml.YAMLError) -> str:
    """One line for a YAML error: where it is and what is wrong."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def load_profile(path: str | os.PathLike[str], name: str | None = None) -> Profile:
    """Read a profile from a configtx.yaml (``Profiles:`` section) or a one-profile file.

    Relative ``MSPDir`` paths are relative to the file, as ``configtxgen`` resolves them
    against its config path.
    """
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read profile {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: {yaml_problem(exc)}") from None
    document = _mapping(document, str(path))
    if "Profiles" in document:
        profiles = _mapping(document["Profiles"], f"{path}: Profiles")
        if name is None and len(profiles) == 1:
            name = next(iter(profiles))
        if name not in profiles:
            raise ConfigError(f"{path}: profile {name!r} not found; has {sorted(profiles)}")
        document = _mapping(profiles[name], f"{path}: Profiles.{name}")
    return _profile(document, path.parent, str(path))


def _profile(document: Mapping[str, Any], base: Path, where: str) -> Profile:
    orderer = _mapping(document.get("Orderer"), f"{where}: Orderer")
    application = _mapping(document.get("Application"), f"{where}: Application")
    batch = _mapping(orderer.get("BatchSize"), f"{where}: Orderer.BatchSize")
    defaults = BatchSize()
    try:
        batch_size = BatchSize(
            max_message_count=int(batch.get("MaxMessageCount", defaults.max_message_count)),
            absolute_max_bytes=parse_size(
                batch.get("AbsoluteMaxBytes", defaults.absolute_max_bytes),
                f"{where}: Orderer.BatchSize.AbsoluteMaxBytes",
            ),
            preferred_max_bytes=parse_size(
                batch.get("PreferredMaxBytes", defaults.preferred_max_bytes),
                f"{where}: Orderer.BatchSize.PreferredMaxBytes",
            ),
        )
    except ValueError as exc:
        raise ConfigError(f"{where}: Orderer.BatchSize: {exc}") from None
    timeout = str(orderer.get("BatchTimeout", "2s"))
    parse_duration(timeout, f"{where}: Orderer.BatchTimeout")

    def orgs(section: Mapping[str, Any], label: str) -> tuple[Organization, ...]:
        return tuple(
            _organization(raw, base, f"{where}: {label}.Organizations[{n}]")
            for n, raw in enumerate(section.get("Organizations") or ())
        )

    orderer_orgs, application_orgs = orgs(orderer, "Orderer"), orgs(application, "Application")
    if not orderer_orgs:
        raise ConfigError(f"{where}: Orderer.Organizations needs at least one organization")
    mspids = [org.mspid for org in orderer_orgs + application_orgs]
    duplicates = {m for m in mspids if mspids.count(m) > 1}
    if duplicates:
        raise ConfigError(f"{where}: organization ID {sorted(duplicates)[0]!r} appears twice")
    return Profile(
        orderer_type=str(orderer.get("OrdererType", "solo")),
        batch_size=batch_size,
        batch_timeout=timeout,
        orderer_orgs=orderer_orgs,
        application_orgs=application_orgs,
        channel_policies=_mapping(document.get("Policies"), f"{where}: Policies"),
        orderer_policies=_mapping(orderer.get("Policies"), f"{where}: Orderer.Policies"),
        application_policies=_mapping(
            application.get("Policies"), f"{where}: Application.Policies"
        ),
    )


# -- building the config tree ----------------------------------------------------------------


def _meta(rule: str, sub: str) -> dict[str, str]:
    return {"Type": "ImplicitMeta", "Rule": f"{rule} {sub}"}


CHANNEL_DEFAULT_POLICIES = {
    "Readers": _meta("ANY", "Readers"),
    "Writers": _meta("ANY", "Writers"),
    "Admins": _meta("MAJORITY", "Admins"),
}
ORDERER_DEFAULT_POLICIES = {
    **CHANNEL_DEFAULT_POLICIES,
    "BlockValidation": _meta("ANY", "Writers"),
}
APPLICATION_DEFAULT_POLICIES = {
    **CHANNEL_DEFAULT_POLICIES,
    "LifecycleEndorsement": _meta("MAJORITY", "Endorsement"),
    "Endorsement": _meta("MAJORITY", "Endorsement"),
}


def organization_default_policies(mspid: str, orderer: bool) -> dict[str, dict[str, str]]:
    def sig(rule: str) -> dict[str, str]:
        return {"Type": "Signature", "Rule": rule}

    defaults = {
        "Readers": sig(f"OR('{mspid}.member')"),
        "Writers": sig(f"OR('{mspid}.member')"),
        "Admins": sig(f"OR('{mspid}.admin')"),
    }
    if not orderer:
        defaults["Endorsement"] = sig(f"OR('{mspid}.peer')")
    return defaults


def config_policy(spec: Mapping[str, str], where: str) -> configtx_pb2.ConfigPolicy:
    """One ``{Type, Rule}`` entry of a profile as a ConfigPolicy."""
    kind, rule = spec.get("Type"), spec.get("Rule")
    if not isinstance(rule, str) or not rule:
        raise ConfigError(f"{where}.Rule is required")
    try:
        if kind == "Signature":
            envelope = policies.from_string(rule)
            value = policies.Policy(
                type=policies.Policy.SIGNATURE, value=envelope.SerializeToString()
            )
        elif kind == "ImplicitMeta":
            parts = rule.split()
            if len(parts) != 2:
                raise ConfigError(f"{where}.Rule {rule!r} must be '<ANY|ALL|MAJORITY> <policy>'")
            value = policies.implicit_meta(parts[0], parts[1])
        else:
            raise ConfigError(f"{where}.Type {kind!r} must be Signature or ImplicitMeta")
    except CaError as exc:
        raise ConfigError(f"{where}.Rule: {exc}") from None
    return configtx_pb2.ConfigPolicy(policy=value, mod_policy=ADMINS)


def policy_entry(rule: Any, where: str) -> dict[str, str]:
    """A policy written as one string, as a spec writes it: ``ANY|ALL|MAJORITY <policy>``
    is implicit meta, anything else a signature policy (``OR('A.member', …)``); the
    ``{Type, Rule}`` entry of a profile, checked."""
    if not isinstance(rule, str) or not rule.strip():
        raise ConfigError(f"{where}: a policy such as 'MAJORITY Endorsement' or \"OR('A.peer')\"")
    words = rule.split()
    implicit = len(words) == 2 and words[0] in ("ANY", "ALL", "MAJORITY")
    entry = {"Type": "ImplicitMeta" if implicit else "Signature", "Rule": rule.strip()}
    config_policy(entry, where)
    return entry


def _add_policies(
    group: configtx_pb2.ConfigGroup,
    specs: Mapping[str, Mapping[str, str]],
    defaults: Mapping[str, Mapping[str, str]],
    where: str,
) -> None:
    for name, spec in {**defaults, **specs}.items():
        group.policies[name].CopyFrom(
            config_policy(_mapping(spec, f"{where}.{name}"), f"{where}.{name}")
        )


def _value(message: Any) -> configtx_pb2.ConfigValue:
    return configtx_pb2.ConfigValue(value=message.SerializeToString(), mod_policy=ADMINS)


def _capabilities(name: str) -> configtx_pb2.ConfigValue:
    capabilities = configuration_pb2.Capabilities()
    capabilities.capabilities[name].CopyFrom(configuration_pb2.Capability())
    return _value(capabilities)


def organization_group(org: Organization, orderer: bool) -> configtx_pb2.ConfigGroup:
    """An organization's config group: its MSP (read from its MSP folder) and policies."""
    try:
        msp = load_msp(org.msp_dir, org.mspid)
    except CaError as exc:
        raise ConfigError(f"organization {org.name}: {exc}") from None
    group = configtx_pb2.ConfigGroup(mod_policy=ADMINS)
    group.values["MSP"].CopyFrom(
        configtx_pb2.ConfigValue(value=msp.to_channel_value(), mod_policy=ADMINS)
    )
    if orderer and org.endpoints:
        endpoints = configuration_pb2.OrdererAddresses(addresses=list(org.endpoints))
        group.values["Endpoints"].CopyFrom(_value(endpoints))
    if org.anchor_peers:
        group.values["AnchorPeers"].CopyFrom(anchor_peers_value(org.anchor_peers))
    _add_policies(group, org.policies, organization_default_policies(org.mspid, orderer), org.name)
    return group


def _set_batch(orderer: configtx_pb2.ConfigGroup, size: BatchSize, timeout: str) -> None:
    """The Orderer group's BatchSize and BatchTimeout values (versions are left alone:
    ``compute_update`` sets them)."""
    batch_size = orderer_config_pb2.BatchSize(
        max_message_count=size.max_message_count,
        absolute_max_bytes=size.absolute_max_bytes,
        preferred_max_bytes=size.preferred_max_bytes,
    )
    for name, message in (
        ("BatchSize", batch_size),
        ("BatchTimeout", orderer_config_pb2.BatchTimeout(timeout=timeout)),
    ):
        value = orderer.values[name]
        value.value = message.SerializeToString()
        value.mod_policy = value.mod_policy or ADMINS


def with_batch(config: configtx_pb2.Config, size: BatchSize, timeout: str) -> configtx_pb2.Config:
    """A copy of a channel's config with other batch settings: the target of the config
    update that changes how a running channel cuts blocks."""
    parse_duration(timeout, "BatchTimeout")
    updated = configtx_pb2.Config()
    updated.CopyFrom(config)
    _set_batch(updated.channel_group.groups["Orderer"], size, timeout)
    return updated


def anchor_peers_value(addresses: Sequence[tuple[str, int]]) -> configtx_pb2.ConfigValue:
    """An organization's ``AnchorPeers`` value."""
    anchors = peer_config_pb2.AnchorPeers(
        anchor_peers=[peer_config_pb2.AnchorPeer(host=h, port=p) for h, p in addresses]
    )
    return _value(anchors)


def with_application(
    config: configtx_pb2.Config,
    anchor_peers: Mapping[str, Sequence[tuple[str, int]]],
    application_policies: Mapping[str, Mapping[str, str]],
) -> configtx_pb2.Config:
    """A copy of a channel's config with other anchor peers (by MSP ID) and Application
    policies (``{Type, Rule}`` entries): the target of the config update that changes
    them on a running channel. What is not named is kept."""
    updated = configtx_pb2.Config()
    updated.CopyFrom(config)
    application = updated.channel_group.groups["Application"]
    for mspid, addresses in anchor_peers.items():
        if mspid not in application.groups:
            raise ConfigError(f"anchor peers: {mspid} is not an organization of the channel")
        application.groups[mspid].values["AnchorPeers"].CopyFrom(anchor_peers_value(addresses))
    for name, entry in application_policies.items():
        application.policies[name].CopyFrom(config_policy(entry, f"Application.Policies.{name}"))
    return updated


def build_config(profile: Profile) -> configtx_pb2.Config:
    channel = configtx_pb2.ConfigGroup(mod_policy=ADMINS)
    channel.values["HashingAlgorithm"].CopyFrom(
        _value(configuration_pb2.HashingAlgorithm(name="SHA256"))
    )
    channel.values["BlockDataHashingStructure"].CopyFrom(
        _value(configuration_pb2.BlockDataHashingStructure(width=0xFFFFFFFF))
    )
    channel.values["Capabilities"].CopyFrom(_capabilities(CHANNEL_VALUE_CAPABILITY))
    _add_policies(channel, profile.channel_policies, CHANNEL_DEFAULT_POLICIES, "Policies")

    orderer = channel.groups["Orderer"]
    orderer.mod_policy = ADMINS
    _set_batch(orderer, profile.batch_size, profile.batch_timeout)
    orderer.values["ConsensusType"].CopyFrom(
        _value(orderer_config_pb2.ConsensusType(type=profile.orderer_type))
    )
    orderer.values["Capabilities"].CopyFrom(_capabilities(CHANNEL_VALUE_CAPABILITY))
    _add_policies(orderer, profile.orderer_policies, ORDERER_DEFAULT_POLICIES, "Orderer.Policies")
    for org in profile.orderer_orgs:
        orderer.groups[org.mspid].CopyFrom(organization_group(org, orderer=True))

    if profile.application_orgs:
        application = channel.groups["Application"]
        application.mod_policy = ADMINS
        application.values["Capabilities"].CopyFrom(_capabilities(APPLICATION_CAPABILITY))
        _add_policies(
            application,
            profile.application_policies,
            APPLICATION_DEFAULT_POLICIES,
            "Application.Policies",
        )
        for org in profile.application_orgs:
            application.groups[org.mspid].CopyFrom(organization_group(org, orderer=False))
    return configtx_pb2.Config(sequence=0, channel_group=channel)


def genesis_block(profile: Profile, channel_id: str) -> common_pb2.Block:
    """Block 0 of a channel: one CONFIG envelope holding the whole config, its metadata
    as ``configtxgen -outputBlock`` writes it (Fabric's ``common/genesis``)."""
    validate_channel_id(channel_id)
    envelope = config_envelope(build_config(profile), channel_id)
    block = build_block(0, b"", [envelope.SerializeToString()])
    last_config = common_pb2.LastConfig(index=0)
    block.metadata.metadata[common_pb2.LAST_CONFIG] = common_pb2.Metadata(
        value=last_config.SerializeToString()
    ).SerializeToString()
    # as Fabric's genesis factory: unsigned, but pointing at itself as the last config
    block.metadata.metadata[common_pb2.SIGNATURES] = common_pb2.Metadata(
        value=common_pb2.OrdererBlockMetadata(last_config=last_config).SerializeToString()
    ).SerializeToString()
    return block


def config_envelope(config: configtx_pb2.Config, channel_id: str) -> common_pb2.Envelope:
    header = common_pb2.Header(
        channel_header=build_channel_header(common_pb2.CONFIG, channel_id).SerializeToString(),
        signature_header=common_pb2.SignatureHeader().SerializeToString(),
    )
    payload = common_pb2.Payload(
        header=header, data=configtx_pb2.ConfigEnvelope(config=config).SerializeToString()
    )
    return common_pb2.Envelope(payload=payload.SerializeToString())


_CHANNEL_ID = re.compile(r"^[a-z][a-z0-9.-]*$")


def validate_channel_id(channel_id: str) -> None:
    """Fabric's rule: lowercase, starts with a letter, [a-z0-9.-], under 250 characters."""
    if not _CHANNEL_ID.match(channel_id) or len(channel_id) >= 250:
        raise ConfigError(
            f"channel ID {channel_id!r} must start with a lowercase letter and contain only "
            "lowercase letters, digits, '.' and '-' (fewer than 250 characters)"
        )
