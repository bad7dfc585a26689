"""Config updates: how a channel's configuration changes, with Fabric's rules.

A ``ConfigUpdate`` carries a *read set* (elements and the versions the author saw) and a
*write set* (the elements as the author wants them). An element whose version in the
write set is one higher than now is a change, and the change must be signed per that
element's ``mod_policy``; a new element starts at version 0 and is covered by the
version bump of the group that gains it. A group whose version changes is re-listed
whole in the write set, so a member it omits is removed. This is how a voted-in
member's organization joins a channel, and a removed one leaves it.

``compute_update`` is the author's side (``configtxlator compute_update``);
``apply_update`` is the orderer's side (``configtx.Validator.ProposeConfigUpdate``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from fabric_protos.common import common_pb2, configtx_pb2
from google.protobuf.message import DecodeError

from ca.channelconfig import ChannelConfig
from ca.errors import CaError
from ca.policy import SignedData
from ordering.errors import ConfigError
from proto.messages import build_channel_header, sign_payload
from proto.signer import Signer
from proto.txid import compute_txid, new_nonce

Kind = Literal["Group", "Value", "Policy"]
ROOT = "Channel"


@dataclass(frozen=True)
class Element:
    """One versioned element of the config tree, addressed by its path."""

    kind: Kind
    path: tuple[str, ...]  # the enclosing groups, starting with "Channel"
    name: str
    version: int
    mod_policy: str
    message: configtx_pb2.ConfigGroup | configtx_pb2.ConfigValue | configtx_pb2.ConfigPolicy

    @property
    def key(self) -> str:
        return f"[{self.kind}] /{'/'.join((*self.path, self.name))}"

    @property
    def policy_path(self) -> str:
        """Where ``mod_policy`` is resolved: groups in themselves, others in their group."""
        if self.mod_policy.startswith("/"):
            return self.mod_policy
        scope = (*self.path, self.name) if self.kind == "Group" else self.path
        return "/" + "/".join((*scope, self.mod_policy))


def flatten(
    group: configtx_pb2.ConfigGroup, path: tuple[str, ...] = (), name: str = ROOT
) -> dict[str, Element]:
    elements: dict[str, Element] = {}
    root = Element("Group", path, name, group.version, group.mod_policy, group)
    elements[root.key] = root
    inner = (*path, name)
    for key, value in group.values.items():
        element = Element("Value", inner, key, value.version, value.mod_policy, value)
        elements[element.key] = element
    for key, policy in group.policies.items():
        element = Element("Policy", inner, key, policy.version, policy.mod_policy, policy)
        elements[element.key] = element
    for key, child in group.groups.items():
        elements.update(flatten(child, inner, key))
    return elements


def _group_key(path: tuple[str, ...]) -> str:
    return f"[Group] /{'/'.join(path)}"


def _rebuild(
    elements: dict[str, Element], path: tuple[str, ...], name: str
) -> configtx_pb2.ConfigGroup:
    """The group at ``path/name`` with each member taken from ``elements``."""
    source = elements[f"[Group] /{'/'.join((*path, name))}"].message
    assert isinstance(source, configtx_pb2.ConfigGroup)
    inner = (*path, name)
    group = configtx_pb2.ConfigGroup(version=source.version, mod_policy=source.mod_policy)
    for key in source.values:
        group.values[key].CopyFrom(elements[f"[Value] /{'/'.join((*inner, key))}"].message)
    for key in source.policies:
        group.policies[key].CopyFrom(elements[f"[Policy] /{'/'.join((*inner, key))}"].message)
    for key in source.groups:
        group.groups[key].CopyFrom(_rebuild(elements, inner, key))
    return group


# -- the orderer's side -------------------------------------------------------------------


def config_update_signatures(envelope: configtx_pb2.ConfigUpdateEnvelope) -> list[SignedData]:
    signed = []
    for signature in envelope.signatures:
        try:
            creator = common_pb2.SignatureHeader.FromString(signature.signature_header).creator
        except DecodeError:
            raise ConfigError("config update signature header does not decode") from None
        signed.append(
            SignedData(
                data=signature.signature_header + envelope.config_update,
                identity=creator,
                signature=signature.signature,
            )
        )
    return signed


def apply_update(
    current: ChannelConfig, envelope: configtx_pb2.ConfigUpdateEnvelope
) -> configtx_pb2.Config:
    """Check a signed config update against the current config and return the next one.

    Raises ``ConfigError`` naming the element whose read version is stale, whose version
    skips, or whose ``mod_policy`` the signatures do not satisfy.
    """
    try:
        update = configtx_pb2.ConfigUpdate.FromString(envelope.config_update)
    except DecodeError:
        raise ConfigError("config_update does not decode as a ConfigUpdate") from None
    if update.channel_id != current.channel_id:
        raise ConfigError(
            f"config update is for channel {update.channel_id!r}, not {current.channel_id!r}"
        )
    existing = flatten(current.config.channel_group)
    read_set = flatten(update.read_set)
    for key, element in read_set.items():
        if key not in existing:
            raise ConfigError(f"read set names {key}, which does not exist")
        if existing[key].version != element.version:
            raise ConfigError(
                f"read set has {key} at version {element.version}, "
                f"but it is at version {existing[key].version}"
            )
    delta = {
        key: element
        for key, element in flatten(update.write_set).items()
        if key not in read_set or read_set[key].version != element.version
    }
    if not delta:
        raise ConfigError("config update changes nothing (the write set equals the read set)")
    signatures = config_update_signatures(envelope)
    for key, element in delta.items():
        _check_change(current, existing.get(key), element, signatures)
        parent = _group_key(element.path)
        if key not in existing and element.path and parent in existing and parent not in delta:
            raise ConfigError(f"{key} is new, but its group {parent} is not re-versioned")
    merged = {**existing, **delta}
    config = configtx_pb2.Config(
        sequence=current.sequence + 1, channel_group=_rebuild(merged, (), ROOT)
    )
    try:
        ChannelConfig.from_config(current.channel_id, config)
    except CaError as exc:
        raise ConfigError(f"the updated config is invalid: {exc}") from None
    return config


def _check_change(
    current: ChannelConfig,
    before: Element | None,
    after: Element,
    signatures: Sequence[SignedData],
) -> None:
    if before is None:
        if after.version != 0:
            raise ConfigError(f"{after.key} does not exist, so its version must be 0")
        return
    if after.version != before.version + 1:
        raise ConfigError(
            f"{after.key} goes from version {before.version} to {after.version}; "
            "a change must raise the version by exactly 1"
        )
    try:
        satisfied = current.evaluate(before.policy_path, signatures)
    except CaError as exc:
        raise ConfigError(f"{after.key}: mod_policy {before.policy_path}: {exc}") from None
    if not satisfied:
        raise ConfigError(
            f"{after.key} changed, but its mod_policy {before.policy_path} is not satisfied "
            f"by the {len(signatures)} signature(s) on the update"
        )


# -- the author's side --------------------------------------------------------------------


def compute_update(
    channel_id: str, original: configtx_pb2.Config, updated: configtx_pb2.Config
) -> configtx_pb2.ConfigUpdate:
    """The minimal read/write sets turning ``original`` into ``updated``.

    Versions in ``updated`` are ignored: changed elements get the next version, and a
    group whose members change is bumped and listed whole.
    """
    before, after = flatten(original.channel_group), flatten(updated.channel_group)
    changed = {
        key for key in after if key not in before or _content(before[key]) != _content(after[key])
    }
    if not changed and set(before) == set(after):
        raise ConfigError("the updated config is identical to the original")
    read_set = configtx_pb2.ConfigGroup()
    write_set = configtx_pb2.ConfigGroup()
    _fill_sets(before, after, changed, (), ROOT, read_set, write_set)
    return configtx_pb2.ConfigUpdate(channel_id=channel_id, read_set=read_set, write_set=write_set)


def _content(element: Element) -> bytes:
    """What a change is judged on: the element without its version or children."""
    message = type(element.message)()
    message.CopyFrom(element.message)
    message.version = 0
    if isinstance(message, configtx_pb2.ConfigGroup):
        return b"".join(
            [
                message.mod_policy.encode(),
                *[f"v:{k}".encode() for k in sorted(message.values)],
                *[f"p:{k}".encode() for k in sorted(message.policies)],
                *[f"g:{k}".encode() for k in sorted(message.groups)],
            ]
        )
    return message.SerializeToString(deterministic=True)


def _fill_sets(
    before: dict[str, Element],
    after: dict[str, Element],
    changed: set[str],
    path: tuple[str, ...],
    name: str,
    read_group: configtx_pb2.ConfigGroup,
    write_group: configtx_pb2.ConfigGroup,
) -> bool:
    """Fill read/write sets for the subtree at path/name; return whether it has changes."""
    key = f"[Group] /{'/'.join((*path, name))}"
    inner = (*path, name)
    new = after[key].message
    assert isinstance(new, configtx_pb2.ConfigGroup)
    old_version = before[key].version if key in before else -1
    group_changed = key in changed
    write_group.version = old_version + 1 if group_changed else max(old_version, 0)
    write_group.mod_policy = new.mod_policy
    if key in before:
        read_group.version = before[key].version
    subtree_changed = group_changed

    def member(kind: Kind, child: str) -> tuple[str, Element]:
        member_key = f"[{kind}] /{'/'.join((*inner, child))}"
        return member_key, after[member_key]

    for kind, members in (("Value", new.values), ("Policy", new.policies)):
        target = write_group.values if kind == "Value" else write_group.policies
        for child in members:
            member_key, element = member(kind, child)
            if member_key in changed:
                version = before[member_key].version + 1 if member_key in before else 0
                target[child].CopyFrom(element.message)
                target[child].version = version
                subtree_changed = True
            elif group_changed:
                target[child].version = before[member_key].version
                (read_group.values if kind == "Value" else read_group.policies)[
                    child
                ].version = before[member_key].version
    for child in new.groups:
        child_key = f"[Group] /{'/'.join((*inner, child))}"
        child_read = configtx_pb2.ConfigGroup()
        child_write = configtx_pb2.ConfigGroup()
        if child_key not in before:
            child_write.CopyFrom(after[child_key].message)
            _zero_versions(child_write)
            write_group.groups[child].CopyFrom(child_write)
            subtree_changed = True
            continue
        if _fill_sets(before, after, changed, inner, child, child_read, child_write):
            read_group.groups[child].CopyFrom(child_read)
            write_group.groups[child].CopyFrom(child_write)
            subtree_changed = True
        elif group_changed:
            read_group.groups[child].version = before[child_key].version
            write_group.groups[child].version = before[child_key].version
    return subtree_changed


def _zero_versions(group: configtx_pb2.ConfigGroup) -> None:
    group.version = 0
    for value in group.values.values():
        value.version = 0
    for policy in group.policies.values():
        policy.version = 0
    for child in group.groups.values():
        _zero_versions(child)


def sign_config_update(
    update: configtx_pb2.ConfigUpdate, signers: Sequence[Signer]
) -> configtx_pb2.ConfigUpdateEnvelope:
    """Collect each signer's ``ConfigSignature`` (an admin of each org the policy needs)."""
    update_bytes = update.SerializeToString()
    envelope = configtx_pb2.ConfigUpdateEnvelope(config_update=update_bytes)
    for signer in signers:
        header = common_pb2.SignatureHeader(
            creator=signer.creator, nonce=new_nonce()
        ).SerializeToString()
        envelope.signatures.append(
            configtx_pb2.ConfigSignature(
                signature_header=header, signature=signer.sign(header + update_bytes)
            )
        )
    return envelope


def sign_as_needed(
    current: ChannelConfig, update: configtx_pb2.ConfigUpdate, signers: Sequence[Signer]
) -> configtx_pb2.ConfigUpdateEnvelope:
    """Collect signatures from ``signers`` in turn until the update passes the orderer's
    own check (every changed element's ``mod_policy``), as admins pass a file around
    with ``peer channel signconfigtx``: a MAJORITY policy of three orgs gets two
    signatures, not three. Raises ``ConfigError`` if all of them are not enough."""
    envelope = sign_config_update(update, [])
    for signer in signers:
        envelope.signatures.extend(sign_config_update(update, [signer]).signatures)
        try:
            apply_update(current, envelope)
        except ConfigError:
            continue
        return envelope
    apply_update(current, envelope)  # raises, naming what the signatures do not satisfy
    return envelope


def config_update_transaction(
    signer: Signer, channel_id: str, update: configtx_pb2.ConfigUpdateEnvelope
) -> common_pb2.Envelope:
    """The CONFIG_UPDATE envelope a channel admin broadcasts to the orderer."""
    nonce = new_nonce()
    header = common_pb2.Header(
        channel_header=build_channel_header(
            common_pb2.CONFIG_UPDATE, channel_id, compute_txid(nonce, signer.creator)
        ).SerializeToString(),
        signature_header=common_pb2.SignatureHeader(
            creator=signer.creator, nonce=nonce
        ).SerializeToString(),
    )
    return sign_payload(signer, common_pb2.Payload(header=header, data=update.SerializeToString()))
