"""Fabric policies: signature policies, implicit-meta policies and the policy language.

Everything is expressed in Fabric's own protobufs (``common.SignaturePolicyEnvelope``,
``common.ImplicitMetaPolicy``, ``msp.MSPPrincipal``) so policies read from a channel
config or a chaincode definition evaluate here unchanged, and policies written here
(``from_string``) are byte-for-byte what Fabric's ``policydsl.FromString`` produces.

Evaluation follows Fabric's rules:
- signed data is first reduced to valid identities with valid signatures, and an
  identity that signed several times counts once;
- ``SignedBy`` consumes the first unused identity that satisfies its principal, and
  ``NOutOf`` commits a sub-rule's consumption only when that sub-rule is satisfied, so
  one identity never satisfies two principals of the same rule;
- ``ImplicitMeta`` ANY / ALL / MAJORITY counts the same-named policy of each child group.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from fabric_protos.common import configtx_pb2, policies_pb2
from fabric_protos.msp import msp_principal_pb2
from google.protobuf.message import DecodeError

from ca.errors import CaError, PolicyError, PolicyParseError
from ca.msp import Identity, Msp, MspManager, Role
from proto.signer import SignedData

SignaturePolicy = policies_pb2.SignaturePolicy
SignaturePolicyEnvelope = policies_pb2.SignaturePolicyEnvelope
ImplicitMetaPolicy = policies_pb2.ImplicitMetaPolicy
Policy = policies_pb2.Policy


@dataclass(frozen=True)
class _Signer:
    msp: Msp
    identity: Identity


# -- building --------------------------------------------------------------------------


def role_principal(mspid: str, role: Role) -> msp_principal_pb2.MSPPrincipal:
    return msp_principal_pb2.MSPPrincipal(
        principal_classification=msp_principal_pb2.MSPPrincipal.ROLE,
        principal=msp_principal_pb2.MSPRole(
            msp_identifier=mspid, role=int(role)
        ).SerializeToString(),
    )


def signed_by(index: int) -> SignaturePolicy:
    return SignaturePolicy(signed_by=index)


def n_out_of(n: int, rules: Sequence[SignaturePolicy]) -> SignaturePolicy:
    policy = SignaturePolicy()
    policy.n_out_of.n = n
    policy.n_out_of.rules.extend(rules)
    return policy


def signature_policy(
    rule: SignaturePolicy, principals: Sequence[msp_principal_pb2.MSPPrincipal]
) -> Policy:
    envelope = SignaturePolicyEnvelope(version=0, rule=rule, identities=list(principals))
    return Policy(type=Policy.SIGNATURE, value=envelope.SerializeToString())


def implicit_meta(rule: str, sub_policy: str) -> Policy:
    """``implicit_meta("MAJORITY", "Admins")`` — Fabric's channel-level default policies."""
    try:
        rule_value = ImplicitMetaPolicy.Rule.Value(rule.upper())
    except ValueError:
        raise PolicyError(f"implicit-meta rule {rule!r} is not ANY, ALL or MAJORITY") from None
    meta = ImplicitMetaPolicy(rule=rule_value, sub_policy=sub_policy)
    return Policy(type=Policy.IMPLICIT_META, value=meta.SerializeToString())


# -- the policy language -----------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<open>\()|(?P<close>\))|(?P<comma>,)|(?P<int>\d+)"
    r"|'(?P<squote>[^']*)'|\"(?P<dquote>[^\"]*)\"|(?P<word>[A-Za-z0-9_.\-]+))"
)
_PRINCIPAL = re.compile(r"^([A-Za-z0-9.\-]+)\.(admin|member|client|peer|orderer)$")
# Exactly the spellings Fabric's policydsl registers with govaluate.
_GATES = {
    **dict.fromkeys(("And", "and", "AND"), "and"),
    **dict.fromkeys(("Or", "or", "OR"), "or"),
    **dict.fromkeys(("OutOf", "outof", "OUTOF"), "outof"),
}


class _Parser:
    """Recursive descent over AND(…), OR(…), OutOf(n, …) and 'MSP.role' principals."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokenize(text)
        self.pos = 0
        self.principals: list[msp_principal_pb2.MSPPrincipal] = []

    def _tokenize(self, text: str) -> list[tuple[str, str, int]]:
        tokens = []
        at = 0
        while at < len(text):
            if text[at:].strip() == "":
                break
            match = _TOKEN.match(text, at)
            if match is None or match.end() == at:
                raise PolicyParseError(f"policy {text!r}: unexpected character at {at}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind), match.start(kind)))
            at = match.end()
        return tokens

    def _peek(self) -> tuple[str, str, int]:
        if self.pos >= len(self.tokens):
            return ("end", "", len(self.text))
        return self.tokens[self.pos]

    def _take(self, kind: str) -> str:
        got, value, at = self._peek()
        if got != kind:
            shown = value or "end of text"
            raise PolicyParseError(
                f"policy {self.text!r}: expected {kind} at {at}, found {shown!r}"
            )
        self.pos += 1
        return value

    def parse(self) -> SignaturePolicyEnvelope:
        kind, value, at = self._peek()
        if kind != "word" or value not in _GATES:
            raise PolicyParseError(
                f"policy {self.text!r}: must start with AND, OR or OutOf (Fabric does not accept "
                "a bare principal; write OR('Org1.member'))"
            )
        rule = self._expression()
        kind, value, at = self._peek()
        if kind != "end":
            raise PolicyParseError(f"policy {self.text!r}: unexpected {value!r} at {at}")
        return SignaturePolicyEnvelope(version=0, rule=rule, identities=self.principals)

    def _expression(self) -> SignaturePolicy:
        kind, value, at = self._peek()
        if kind in ("squote", "dquote"):
            self.pos += 1
            return self._principal(value, at)
        if kind == "word" and value in _GATES:
            self.pos += 1
            return self._gate(_GATES[value], at)
        if kind == "word":
            raise PolicyParseError(
                f"policy {self.text!r}: unrecognized token {value!r} at {at} (principals are "
                "quoted, gates are AND, OR, OutOf)"
            )
        raise PolicyParseError(f"policy {self.text!r}: expected a rule at {at}")

    def _gate(self, gate: str, at: int) -> SignaturePolicy:
        self._take("open")
        n = None
        if gate == "outof":
            kind, value, _n_at = self._peek()
            if kind not in ("int", "squote", "dquote") or not value.isdigit():
                raise PolicyParseError(
                    f"policy {self.text!r}: OutOf at {at} needs a whole number first"
                )
            self.pos += 1
            n = int(value)
            self._take("comma")
        rules = [self._expression()]
        while self._peek()[0] == "comma":
            self.pos += 1
            rules.append(self._expression())
        self._take("close")
        if n is None:
            n = len(rules) if gate == "and" else 1
        if n > len(rules) + 1:  # Fabric permits t = n + 1 (never satisfiable), not more
            raise PolicyParseError(
                f"policy {self.text!r}: invalid t-out-of-n predicate at {at}, t {n}, n {len(rules)}"
            )
        return n_out_of(n, rules)

    def _principal(self, text: str, at: int) -> SignaturePolicy:
        match = _PRINCIPAL.match(text)
        if match is None:
            raise PolicyParseError(
                f"policy {self.text!r}: principal {text!r} at {at} is not "
                "'<MSPID>.<admin|member|client|peer|orderer>'"
            )
        self.principals.append(role_principal(match.group(1), Role[match.group(2).upper()]))
        return signed_by(len(self.principals) - 1)


def from_string(text: str) -> SignaturePolicyEnvelope:
    """Parse Fabric's policy language, e.g. ``AND('Org1.member', OutOf(2, 'Org2.peer', …))``.

    As in Fabric, every principal occurrence gets its own entry in ``identities``.
    """
    if not text or not text.strip():
        raise PolicyParseError("policy text is empty")
    return _Parser(text).parse()


# -- evaluation --------------------------------------------------------------------------


def valid_signers(signed_data: Sequence[SignedData], msps: MspManager) -> list[_Signer]:
    """Deserializable identities whose signature verifies, each identity once."""
    signers: list[_Signer] = []
    seen: set[tuple[str, str]] = set()
    for item in signed_data:
        try:
            msp, identity = msps.deserialize(item.identity)
        except CaError:
            continue
        key = (identity.mspid, identity.id)
        if key in seen:
            continue
        try:
            msp.verify(identity, item.data, item.signature)
        except CaError:
            continue
        seen.add(key)
        signers.append(_Signer(msp, identity))
    return signers


_Rule = Callable[[list[_Signer], list[bool]], bool]


def _compile(rule: SignaturePolicy, principals: Sequence[msp_principal_pb2.MSPPrincipal]) -> _Rule:
    kind = rule.WhichOneof("Type")
    if kind == "signed_by":
        if not 0 <= rule.signed_by < len(principals):
            raise PolicyError(
                f"SignedBy({rule.signed_by}) names no identity (envelope has {len(principals)})"
            )
        principal = principals[rule.signed_by]

        def signed_by_rule(signers: list[_Signer], used: list[bool]) -> bool:
            for i, signer in enumerate(signers):
                if not used[i] and signer.msp.satisfies_principal(signer.identity, principal):
                    used[i] = True
                    return True
            return False

        return signed_by_rule
    if kind == "n_out_of":
        n = rule.n_out_of.n
        children = [_compile(child, principals) for child in rule.n_out_of.rules]

        def n_out_of_rule(signers: list[_Signer], used: list[bool]) -> bool:
            satisfied = 0
            for child in children:
                trial = list(used)
                if child(signers, trial):
                    satisfied += 1
                    used[:] = trial
            return satisfied >= n

        return n_out_of_rule
    raise PolicyError("SignaturePolicy has neither signed_by nor n_out_of")


def evaluate_envelope(
    envelope: SignaturePolicyEnvelope, signed_data: Sequence[SignedData], msps: MspManager
) -> bool:
    """True when the signed data satisfy the signature policy."""
    return _satisfies(envelope, valid_signers(signed_data, msps))


_COMPILED_LIMIT = 256
_compiled: dict[bytes, _Rule] = {}


def _satisfies(envelope: SignaturePolicyEnvelope, signers: list[_Signer]) -> bool:
    return _rule_of(envelope)(signers, [False] * len(signers))


def _rule_of(envelope: SignaturePolicyEnvelope) -> _Rule:
    """The envelope's rule compiled once per distinct envelope (by its bytes): a channel
    evaluates the same few policies for every transaction, and compiling one costs more
    than evaluating it. The rule is compiled from a private copy, so a caller changing
    its envelope later cannot change what the cached rule checks."""
    key = envelope.SerializeToString(deterministic=True)
    rule = _compiled.get(key)
    if rule is None:
        private = SignaturePolicyEnvelope.FromString(key)
        rule = _compile(private.rule, list(private.identities))
        if len(_compiled) >= _COMPILED_LIMIT:
            _compiled.clear()
        _compiled[key] = rule
    return rule


@dataclass
class PolicyGroup:
    """A config group's policies and child groups, as in a channel config tree.

    Implicit-meta policies evaluate the same-named policy of every child group; signature
    policies evaluate directly. Names may be paths relative to this group
    (``"Application/Org1MSP/Admins"``).
    """

    policies: dict[str, Policy] = field(default_factory=dict)
    groups: dict[str, PolicyGroup] = field(default_factory=dict)
    _decoded: dict[str, tuple[PolicyGroup, _Decoded]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Policies by name, found and decoded once: a channel's tree does not change (a config
    update builds a new one)."""

    def resolve(self, name: str) -> tuple[PolicyGroup, Policy]:
        *path, leaf = name.strip("/").split("/")
        group = self
        for part in path:
            if part not in group.groups:
                raise PolicyError(f"policy {name!r}: no group {part!r}")
            group = group.groups[part]
        if leaf not in group.policies:
            raise PolicyError(f"policy {name!r} is not defined")
        return group, group.policies[leaf]

    def evaluate(self, name: str, signed_data: Sequence[SignedData], msps: MspManager) -> bool:
        return self._evaluate_signers(name, valid_signers(signed_data, msps))

    def _evaluate_signers(self, name: str, signers: list[_Signer]) -> bool:
        found = self._decoded.get(name)
        if found is None:
            group, policy = self.resolve(name)
            found = self._decoded[name] = (group, _unwrap(policy))
        group, decoded = found
        return _evaluate(decoded, signers, group)

    def refusal(self, name: str, signed_data: Sequence[SignedData], msps: MspManager) -> str:
        """Fabric's reason when ``signed_data`` does not satisfy the policy: an implicit-meta
        policy counts its satisfied sub-policies; a signature policy names nothing."""
        group, policy = self.resolve(name)
        unwrapped = _unwrap(policy)
        if not isinstance(unwrapped, ImplicitMetaPolicy):
            return "signature set did not satisfy policy"
        signers = valid_signers(signed_data, msps)
        sub = unwrapped.sub_policy
        satisfied = sum(
            1
            for child in group.groups.values()
            if sub in child.policies and child._evaluate_signers(sub, signers)
        )
        needed = _implicit_meta_threshold(unwrapped.rule, len(group.groups))
        return (
            f"implicit policy evaluation failed - {satisfied} sub-policies were satisfied, "
            f"but this policy requires {needed} of the '{sub}' sub-policies to be satisfied"
        )


def policy_group_from_config(group: configtx_pb2.ConfigGroup) -> PolicyGroup:
    """The policy tree of a channel's ``ConfigGroup`` (its policies and child groups)."""
    return PolicyGroup(
        policies={name: entry.policy for name, entry in group.policies.items()},
        groups={name: policy_group_from_config(child) for name, child in group.groups.items()},
    )


def _implicit_meta_threshold(rule: int, count: int) -> int:
    if rule == ImplicitMetaPolicy.ANY:
        return 1
    if rule == ImplicitMetaPolicy.ALL:
        return count
    if rule == ImplicitMetaPolicy.MAJORITY:
        return count // 2 + 1
    raise PolicyError(f"implicit-meta rule {rule} is not ANY, ALL or MAJORITY")


def evaluate(
    policy: Policy | SignaturePolicyEnvelope | ImplicitMetaPolicy,
    signed_data: Sequence[SignedData],
    msps: MspManager,
    group: PolicyGroup | None = None,
) -> bool:
    """Evaluate any Fabric policy; implicit-meta policies need the ``group`` they sit in.

    Signatures are verified once, up front; every sub-policy then works on the same list
    of valid signers (an implicit-meta policy over N groups would otherwise verify each
    signature N times).
    """
    return _evaluate(policy, valid_signers(signed_data, msps), group)


def _evaluate(
    policy: Policy | SignaturePolicyEnvelope | ImplicitMetaPolicy,
    signers: list[_Signer],
    group: PolicyGroup | None,
) -> bool:
    if isinstance(policy, SignaturePolicyEnvelope):
        return _satisfies(policy, signers)
    if isinstance(policy, ImplicitMetaPolicy):
        if group is None:
            raise PolicyError("an implicit-meta policy needs the config group it belongs to")
        children: Mapping[str, PolicyGroup] = group.groups
        threshold = _implicit_meta_threshold(policy.rule, len(children))
        satisfied = 0
        for child in children.values():
            if policy.sub_policy in child.policies and child._evaluate_signers(
                policy.sub_policy, signers
            ):
                satisfied += 1
        return satisfied >= threshold
    return _evaluate(_unwrap(policy), signers, group)


_Decoded = SignaturePolicyEnvelope | ImplicitMetaPolicy


def _unwrap(policy: Policy) -> _Decoded:
    try:
        if policy.type == Policy.SIGNATURE:
            return SignaturePolicyEnvelope.FromString(policy.value)
        if policy.type == Policy.IMPLICIT_META:
            return ImplicitMetaPolicy.FromString(policy.value)
    except DecodeError as exc:
        raise PolicyError(f"policy value does not decode: {exc}") from None
    raise PolicyError(f"policy type {Policy.PolicyType.Name(policy.type)} is not supported")


def require(
    policy: Policy | SignaturePolicyEnvelope | ImplicitMetaPolicy,
    signed_data: Sequence[SignedData],
    msps: MspManager,
    group: PolicyGroup | None = None,
    name: str = "policy",
) -> None:
    """Like ``evaluate`` but raise ``PolicyError`` naming the policy when unsatisfied."""
    if not evaluate(policy, signed_data, msps, group):
        raise PolicyError(f"{name} is not satisfied by {len(signed_data)} signature(s)")
