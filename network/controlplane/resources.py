"""Identifiers, ARNs, timestamps, edition limits and the output projections of AMB's shapes.

Documents are stored with AMB's field names plus a few internal ones (the owning
account, a proposal's electorate); ``project`` keeps exactly the members of the output
shape, so internal fields never leave the server.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
ID_CHARS = 26
DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
FABRIC_VERSIONS = ("1.2", "1.4", "2.2")
INVITATION_DAYS = 7
AWS_OWNED_KEY = "AWS Owned KMS Key"  # a member's KmsKeyArn when none was given

# the account that owns changes nobody requested (expiry sweeps, supervisor reports)
SYSTEM = "system"


@dataclass(frozen=True)
class Edition:
    members: int
    nodes_per_member: int
    instance_types: tuple[str, ...]


_SMALL = ("bc.t3.small", "bc.t3.medium")
_LARGE = (
    "bc.t3.large",
    "bc.t3.xlarge",
    "bc.m5.large",
    "bc.m5.xlarge",
    "bc.m5.2xlarge",
    "bc.m5.4xlarge",
    "bc.c5.large",
    "bc.c5.xlarge",
    "bc.c5.2xlarge",
    "bc.c5.4xlarge",
)
EDITIONS = {
    "STARTER": Edition(members=5, nodes_per_member=2, instance_types=_SMALL),
    "STANDARD": Edition(members=14, nodes_per_member=3, instance_types=_SMALL + _LARGE),
}

PREFIXES = {
    "networks": "n",
    "members": "m",
    "nodes": "nd",
    "proposals": "p",
    "invitations": "in",
}


def new_id(table: str) -> str:
    """AMB's identifier form: a type prefix and 26 base32 characters (n-ABC…)."""
    return f"{PREFIXES[table]}-" + "".join(secrets.choice(BASE32) for _ in range(ID_CHARS))


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with microseconds and a ``Z``, which botocore parses as Timestamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def arn(region: str, account: str, table: str, doc_id: str) -> str:
    """Shared resources (networks, proposals) carry the account that created them."""
    return f"arn:aws:managedblockchain:{region}:{account}:{table}/{doc_id}"


def parse_arn(value: str) -> tuple[str, str] | None:
    """(table, id) named by one of our ARNs, or None when it names nothing we keep."""
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "managedblockchain"]:
        return None
    table, _, doc_id = parts[5].partition("/")
    if table not in PREFIXES or not doc_id or "/" in doc_id:
        return None
    return table, doc_id


NETWORK_SUMMARY = (
    "Id",
    "Name",
    "Description",
    "Framework",
    "FrameworkVersion",
    "Status",
    "CreationDate",
    "Arn",
)
NETWORK = (
    *NETWORK_SUMMARY,
    "FrameworkAttributes",
    "VpcEndpointServiceName",
    "VotingPolicy",
    "Tags",
)
MEMBER_SUMMARY = ("Id", "Name", "Description", "Status", "CreationDate", "Arn")
MEMBER = (
    "NetworkId",
    *MEMBER_SUMMARY,
    "FrameworkAttributes",
    "LogPublishingConfiguration",
    "Tags",
    "KmsKeyArn",
)
NODE_SUMMARY = ("Id", "Status", "CreationDate", "AvailabilityZone", "InstanceType", "Arn")
NODE = (
    "NetworkId",
    "MemberId",
    *NODE_SUMMARY,
    "FrameworkAttributes",
    "LogPublishingConfiguration",
    "StateDB",
    "Tags",
    "KmsKeyArn",
)
PROPOSAL_SUMMARY = (
    "ProposalId",
    "Description",
    "ProposedByMemberId",
    "ProposedByMemberName",
    "Status",
    "CreationDate",
    "ExpirationDate",
    "Arn",
)
PROPOSAL = (
    *PROPOSAL_SUMMARY,
    "NetworkId",
    "Actions",
    "YesVoteCount",
    "NoVoteCount",
    "OutstandingVoteCount",
    "Tags",
)
INVITATION = ("InvitationId", "CreationDate", "ExpirationDate", "Status", "Arn")
VOTE_SUMMARY = ("Vote", "MemberName", "MemberId")


def project(document: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: document[name] for name in fields if document.get(name) is not None}
