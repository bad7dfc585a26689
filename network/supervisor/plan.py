"""What ``up`` with an edited spec will change in a running network, decided before it
touches anything.

``up`` compares the spec it last applied with the edited one. What it can apply while
the network runs becomes the plan it prints; what it cannot (a member or channel
removed from the spec, a running node moved to another port, a chaincode moved to
another channel, the network renamed …) is refused, all of it at once, and nothing is
started or changed. A chaincode whose version, port, code folder or policy changed is
upgraded (a new package at the next sequence). A channel's batch settings, anchor peers
and Application policies are changed by config update. An ``analytics`` section may be
added (its node starts); changing or removing one is refused. Governance stays the control plane's:
members leave by vote, and a channel's membership changes with ``channel add-member`` /
``remove-member``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from network.spec import Chaincode, NetworkSpec


@dataclass
class Plan:
    changes: list[str] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)


def plan_changes(applied: NetworkSpec, edited: NetworkSpec) -> Plan:
    plan = Plan()
    _network(applied, edited, plan)
    _ordering(applied, edited, plan)
    _members(applied, edited, plan)
    _channels(applied, edited, plan)
    _chaincodes(applied, edited, plan)
    _analytics(applied, edited, plan)
    _explorer(applied, edited, plan)
    return plan


def _analytics(applied: NetworkSpec, edited: NetworkSpec, plan: Plan) -> None:
    """The analytics node can be added to a running network; changing or removing it is
    refused for now (the running node would go on with its old settings)."""
    if edited.analytics == applied.analytics:
        return
    if applied.analytics is None and edited.analytics is not None:
        analytics = edited.analytics
        plan.changes.append(
            f"start the analytics node: {analytics.member}'s {analytics.peer} on "
            f"{', '.join(analytics.channels)}"
        )
        return
    plan.refusals.append(
        "analytics: the running analytics node cannot be changed or removed yet "
        "(`consortium down`, then `up` with the new spec)"
    )


def _explorer(applied: NetworkSpec, edited: NetworkSpec, plan: Plan) -> None:
    """The explorer only reads: turning it off or on, or moving it, is always applied
    (it is started again where the spec now says)."""
    before, after = applied.explorer, edited.explorer
    if before == after:
        return
    if not after.enabled:
        plan.changes.append("explorer stops (explorer: off)")
    elif not before.enabled:
        plan.changes.append("explorer starts")
    else:
        where = f"{after.host}:{after.port}" if after.port else "a free port"
        plan.changes.append(f"explorer moves to {where}")


def _network(applied: NetworkSpec, edited: NetworkSpec, plan: Plan) -> None:
    if edited.voting_policy != applied.voting_policy:
        plan.refusals.append(
            "network.voting_policy: a network's voting policy is fixed when it is created "
            "(as on AMB)"
        )
    if edited.control_plane != applied.control_plane:
        plan.refusals.append("control_plane: the running control plane cannot move")


def _ordering(applied: NetworkSpec, edited: NetworkSpec, plan: Plan) -> None:
    if edited.ordering_mspid != applied.ordering_mspid:
        plan.refusals.append("ordering.mspid: the ordering organization cannot be renamed")
    if edited.orderers != applied.orderers or edited.nats != applied.nats:
        plan.refusals.append(
            "ordering: orderers and NATS servers cannot be added, removed or moved while the "
            "network runs (consenters are part of every channel's config)"
        )


def _members(applied: NetworkSpec, edited: NetworkSpec, plan: Plan) -> None:
    before = {m.name: m for m in applied.members}
    after = {m.name: m for m in edited.members}
    for name in before.keys() - after.keys():
        plan.refusals.append(
            f"members: {name} is gone from the spec; a member leaves by the consortium's vote "
            "(a proposal with a removal), not by an edit"
        )
    for name, member in after.items():
        old = before.get(name)
        if old is None:
            plan.changes.append(
                f"invite member {name} by proposal and vote; start its CA and peers"
            )
            continue
        if (member.account, member.mspid, member.ca) != (old.account, old.mspid, old.ca):
            plan.refusals.append(f"members.{name}: its account, MSP ID or CA cannot change")
        old_peers = {p.name: p for p in old.peers}
        new_peers = {p.name: p for p in member.peers}
        for peer in old_peers.keys() - new_peers.keys():
            plan.refusals.append(
                f"members.{name}.peers: {peer} is gone from the spec; delete a peer through "
                "the AMB API (delete_node)"
            )
        for peer, node in new_peers.items():
            if peer not in old_peers:
                plan.changes.append(
                    f"add peer {name}/{peer} on {node.host}:{node.port}: enroll, start, join "
                    f"{name}'s channels, install their chaincodes"
                )
            elif node != old_peers[peer]:
                plan.refusals.append(f"members.{name}.peers.{peer}: a running peer cannot move")


def _channels(applied: NetworkSpec, edited: NetworkSpec, plan: Plan) -> None:
    before = {c.name: c for c in applied.channels}
    for channel in edited.channels:
        old = before.pop(channel.name, None)
        if old is None:
            plan.changes.append(
                f"create channel {channel.name} ({', '.join(channel.members)}): genesis block, "
                "orderers and peers join"
            )
            continue
        if set(channel.members) != set(old.members):
            plan.refusals.append(
                f"channels.{channel.name}.members: use `consortium channel add-member` or "
                "`remove-member` (a config update the channel's admins sign)"
            )
        if dict(channel.batch) != dict(old.batch):
            plan.changes.append(
                f"channel {channel.name}: batch settings {dict(old.batch)} → "
                f"{dict(channel.batch)} by config update"
            )
        for name in sorted(old.anchor_peers.keys() - channel.anchor_peers.keys()):
            plan.refusals.append(
                f"channels.{channel.name}.anchor_peers.{name}: anchor peers set on a running "
                "channel stay as they are; list the ones you want instead of removing them"
            )
        if dict(channel.anchor_peers) != dict(old.anchor_peers):
            plan.changes.append(
                f"channel {channel.name}: anchor peers {_anchors(channel)} by config update"
            )
        for name in sorted(channel.policies.keys() - old.policies.keys()):
            plan.changes.append(
                f"channel {channel.name}: policy {name} = {channel.policies[name]} by config update"
            )
        for name in sorted(old.policies.keys() & channel.policies.keys()):
            if channel.policies[name] != old.policies[name]:
                plan.changes.append(
                    f"channel {channel.name}: policy {name} {old.policies[name]} → "
                    f"{channel.policies[name]} by config update"
                )
        for name in sorted(old.policies.keys() - channel.policies.keys()):
            plan.refusals.append(
                f"channels.{channel.name}.policies.{name}: a policy set on a running channel "
                "stays as it is; write the rule you want instead of removing it"
            )
    for name in before:
        plan.refusals.append(f"channels: {name} is gone from the spec; a channel is not deleted")


def _anchors(channel) -> str:
    return "; ".join(f"{m}: {', '.join(p)}" for m, p in sorted(channel.anchor_peers.items()))


def _located(spec: NetworkSpec, chaincode: Chaincode) -> Chaincode:
    """The chaincode with its path resolved (the applied copy holds absolute paths)."""
    if not chaincode.path:
        return chaincode
    return dataclasses.replace(chaincode, path=str((spec.file.parent / chaincode.path).resolve()))


def _chaincodes(applied: NetworkSpec, edited: NetworkSpec, plan: Plan) -> None:
    before = {c.name: _located(applied, c) for c in applied.chaincodes}
    for chaincode in (_located(edited, c) for c in edited.chaincodes):
        old = before.pop(chaincode.name, None)
        if old is None:
            plan.changes.append(
                f"deploy chaincode {chaincode.name} {chaincode.version} on {chaincode.channel}"
            )
        elif chaincode.channel != old.channel:
            plan.refusals.append(
                f"chaincodes.{chaincode.name}.channel: a committed chaincode cannot move to "
                "another channel (deploy it there under another name)"
            )
        elif chaincode != old:
            plan.changes.append(_upgrade(old, chaincode))
    for name in before:
        plan.refusals.append(f"chaincodes: {name} is gone from the spec; it stays committed")


def _upgrade(old: Chaincode, new: Chaincode) -> str:
    """What an upgrade changes, field by field: a new package at sequence + 1."""
    changed = [
        f"{name} {getattr(old, name) or '-'} → {getattr(new, name) or '-'}"
        for name in ("version", "port", "sample", "path", "endorsement_policy")
        if getattr(old, name) != getattr(new, name)
    ]
    return (
        f"upgrade chaincode {new.name} ({', '.join(changed)}): new package, sequence + 1, "
        "the old runner stops once peers use the new one"
    )
