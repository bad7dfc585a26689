"""Step 2 of the flow, Plan: which organizations' peers must endorse a transaction.

The gateway reads the chaincode's endorsement policy and picks the smallest set of
organizations (its own first) whose peers' endorsements would satisfy it. A policy is
judged on *organizations*, not signatures: each chosen organization contributes one
peer identity (which holds the ``peer`` and ``member`` roles), exactly what the
endorsements will carry.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from fabric_protos.common import policies_pb2
from fabric_protos.msp import msp_principal_pb2
from fabric_protos.peer import policy_pb2

from ca.channelconfig import ChannelConfig
from ca.policy import PolicyGroup
from peers.errors import PeerError

ENDORSER_ROLES = {msp_principal_pb2.MSPRole.MEMBER, msp_principal_pb2.MSPRole.PEER}
DEFAULT_ENDORSEMENT = "/Channel/Application/Endorsement"


class NoEndorsementPlan(PeerError):
    """No set of reachable organizations can satisfy the endorsement policy."""


def _principal_org(principal: msp_principal_pb2.MSPPrincipal) -> str | None:
    """The MSP whose peers satisfy ``principal`` (None: no peer identity can)."""
    if principal.principal_classification != msp_principal_pb2.MSPPrincipal.ROLE:
        return None
    role = msp_principal_pb2.MSPRole.FromString(principal.principal)
    return role.msp_identifier if role.role in ENDORSER_ROLES else None


def _signature_satisfied(
    rule: policies_pb2.SignaturePolicy,
    principals: Sequence[msp_principal_pb2.MSPPrincipal],
    available: list[str],
    used: list[bool],
) -> bool:
    kind = rule.WhichOneof("Type")
    if kind == "signed_by":
        wanted = _principal_org(principals[rule.signed_by])
        for index, org in enumerate(available):
            if not used[index] and org == wanted:
                used[index] = True
                return True
        return False
    satisfied = 0
    for child in rule.n_out_of.rules:
        trial = list(used)
        if _signature_satisfied(child, principals, available, trial):
            satisfied += 1
            used[:] = trial
    return satisfied >= rule.n_out_of.n


def _group_satisfied(group: PolicyGroup, name: str, orgs: set[str]) -> bool:
    target, policy = group.resolve(name)
    return _policy_satisfied(policy, orgs, target)


def _policy_satisfied(policy: policies_pb2.Policy, orgs: set[str], group: PolicyGroup) -> bool:
    if policy.type == policies_pb2.Policy.SIGNATURE:
        envelope = policies_pb2.SignaturePolicyEnvelope.FromString(policy.value)
        return envelope_satisfied(envelope, orgs)
    meta = policies_pb2.ImplicitMetaPolicy.FromString(policy.value)
    children = [c for c in group.groups.values() if meta.sub_policy in c.policies]
    count = sum(1 for child in children if _group_satisfied(child, meta.sub_policy, orgs))
    needed = {
        policies_pb2.ImplicitMetaPolicy.ANY: 1,
        policies_pb2.ImplicitMetaPolicy.ALL: len(group.groups),
        policies_pb2.ImplicitMetaPolicy.MAJORITY: len(group.groups) // 2 + 1,
    }[meta.rule]
    return count >= needed


def envelope_satisfied(envelope: policies_pb2.SignaturePolicyEnvelope, orgs: set[str]) -> bool:
    available = sorted(orgs)
    return _signature_satisfied(
        envelope.rule, list(envelope.identities), available, [False] * len(available)
    )


def policy_satisfied(
    policy: policy_pb2.ApplicationPolicy, config: ChannelConfig, orgs: set[str]
) -> bool:
    if policy.HasField("signature_policy"):
        return envelope_satisfied(policy.signature_policy, orgs)
    path = policy.channel_config_policy_reference or DEFAULT_ENDORSEMENT
    return _group_satisfied(config.policies, path.strip("/").removeprefix("Channel/"), orgs)


def plan(
    policy: policy_pb2.ApplicationPolicy,
    config: ChannelConfig,
    local_org: str,
    reachable: Iterable[str],
) -> list[str]:
    """The smallest list of organizations (the local one first when it helps) whose
    endorsements satisfy ``policy``."""
    candidates = sorted(set(reachable) - {local_org})
    for size in range(1, len(candidates) + 2):
        for others in itertools.combinations(candidates, size - 1):
            chosen = {local_org, *others}
            if policy_satisfied(policy, config, chosen):
                return [local_org, *others]
        for chosen in itertools.combinations(candidates, size):
            if policy_satisfied(policy, config, set(chosen)):
                return list(chosen)
    raise NoEndorsementPlan(
        f"no combination of the reachable organizations {sorted({local_org, *candidates})} "
        "satisfies the endorsement policy"
    )
