"""A channel config as a person reads it: every value decoded, every policy as text.

What ``configtxlator proto_decode --type common.Config`` shows a Fabric user, shaped for
``consortium channel config``: groups nest as in the config tree, each value is decoded
by its well-known name (BatchSize, AnchorPeers, MSP …; an unknown one is shown as hex),
and each policy is written the way it is typed — ``MAJORITY Admins`` for an implicit meta
policy, ``OR('Org1MSP.admin')`` for a signature policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fabric_protos.common import configtx_pb2, configuration_pb2, policies_pb2
from fabric_protos.msp import msp_config_pb2, msp_principal_pb2
from fabric_protos.orderer import configuration_pb2 as orderer_config_pb2
from fabric_protos.peer import configuration_pb2 as peer_config_pb2
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError, Message

_ROLES = {
    msp_principal_pb2.MSPRole.MEMBER: "member",
    msp_principal_pb2.MSPRole.ADMIN: "admin",
    msp_principal_pb2.MSPRole.CLIENT: "client",
    msp_principal_pb2.MSPRole.PEER: "peer",
    msp_principal_pb2.MSPRole.ORDERER: "orderer",
}


def describe(config: configtx_pb2.Config) -> dict[str, Any]:
    """The whole config: its sequence and the decoded ``Channel`` group."""
    return {"sequence": config.sequence, "Channel": _group(config.channel_group)}


def _group(group: configtx_pb2.ConfigGroup) -> dict[str, Any]:
    shown: dict[str, Any] = {"version": group.version, "mod_policy": group.mod_policy}
    if group.values:
        shown["values"] = {name: _value(name, v.value) for name, v in sorted(group.values.items())}
    if group.policies:
        shown["policies"] = {
            name: policy_text(p.policy) for name, p in sorted(group.policies.items())
        }
    if group.groups:
        shown["groups"] = {name: _group(g) for name, g in sorted(group.groups.items())}
    return shown


def _as_dict(message_type: type[Message]) -> Callable[[bytes], Any]:
    def decode(raw: bytes) -> Any:
        return MessageToDict(message_type.FromString(raw), preserving_proto_field_name=True)

    return decode


def _capabilities(raw: bytes) -> list[str]:
    return sorted(configuration_pb2.Capabilities.FromString(raw).capabilities)


def _anchor_peers(raw: bytes) -> list[str]:
    anchors = peer_config_pb2.AnchorPeers.FromString(raw).anchor_peers
    return [f"{a.host}:{a.port}" for a in anchors]


def _addresses(raw: bytes) -> list[str]:
    return list(configuration_pb2.OrdererAddresses.FromString(raw).addresses)


def _msp(raw: bytes) -> dict[str, Any]:
    """Who an MSP trusts, in counts and names (certificates themselves are long)."""
    outer = msp_config_pb2.MSPConfig.FromString(raw)
    fabric = msp_config_pb2.FabricMSPConfig.FromString(outer.config)
    return {
        "name": fabric.name,
        "root_certs": len(fabric.root_certs),
        "intermediate_certs": len(fabric.intermediate_certs),
        "admins": len(fabric.admins),
        "revocation_list": len(fabric.revocation_list),
        "tls_root_certs": len(fabric.tls_root_certs),
        "node_ous": fabric.fabric_node_ous.enable,
    }


_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "BatchSize": _as_dict(orderer_config_pb2.BatchSize),
    "BatchTimeout": lambda raw: orderer_config_pb2.BatchTimeout.FromString(raw).timeout,
    "ConsensusType": lambda raw: orderer_config_pb2.ConsensusType.FromString(raw).type,
    "Capabilities": _capabilities,
    "HashingAlgorithm": lambda raw: configuration_pb2.HashingAlgorithm.FromString(raw).name,
    "BlockDataHashingStructure": lambda raw: (
        configuration_pb2.BlockDataHashingStructure.FromString(raw).width
    ),
    "OrdererAddresses": _addresses,
    "Endpoints": _addresses,
    "AnchorPeers": _anchor_peers,
    "MSP": _msp,
    "ACLs": _as_dict(peer_config_pb2.ACLs),
    "Consortium": lambda raw: configuration_pb2.Consortium.FromString(raw).name,
}


def _value(name: str, raw: bytes) -> Any:
    decode = _DECODERS.get(name)
    if decode is None:
        return {"hex": raw.hex()}
    try:
        return decode(raw)
    except DecodeError:
        return {"hex": raw.hex(), "error": f"{name} does not decode"}


def policy_text(policy: policies_pb2.Policy) -> str:
    """A policy written as it is typed in configtx.yaml or on ``peer`` command lines."""
    try:
        if policy.type == policies_pb2.Policy.IMPLICIT_META:
            meta = policies_pb2.ImplicitMetaPolicy.FromString(policy.value)
            rule = policies_pb2.ImplicitMetaPolicy.Rule.Name(meta.rule)
            return f"{rule} {meta.sub_policy}"
        if policy.type == policies_pb2.Policy.SIGNATURE:
            envelope = policies_pb2.SignaturePolicyEnvelope.FromString(policy.value)
            return signature_text(envelope)
    except (DecodeError, ValueError):
        return "(does not decode)"
    return f"(policy type {policy.type})"


def signature_text(envelope: policies_pb2.SignaturePolicyEnvelope) -> str:
    """Fabric's policy language for a signature policy: ``AND('A.peer', 'B.peer')``,
    ``OR(…)`` for one-out-of, ``OutOf(n, …)`` otherwise."""
    principals = [_principal_text(p) for p in envelope.identities]
    return _rule_text(envelope.rule, principals)


def _rule_text(rule: policies_pb2.SignaturePolicy, principals: list[str]) -> str:
    if rule.WhichOneof("Type") == "signed_by":
        return f"'{principals[rule.signed_by]}'"
    rules = [_rule_text(r, principals) for r in rule.n_out_of.rules]
    n = rule.n_out_of.n
    if n == 1:  # also a lone AND('A.peer'): the two are the same policy
        return f"OR({', '.join(rules)})"
    if n == len(rules):
        return f"AND({', '.join(rules)})"
    return f"OutOf({n}, {', '.join(rules)})"


def _principal_text(principal: msp_principal_pb2.MSPPrincipal) -> str:
    if principal.principal_classification == msp_principal_pb2.MSPPrincipal.ROLE:
        role = msp_principal_pb2.MSPRole.FromString(principal.principal)
        return f"{role.msp_identifier}.{_ROLES.get(role.role, str(role.role))}"
    return f"(principal of classification {principal.principal_classification})"
