"""Request shapes and their constraints, as AMB's API model states them.

Each shape checks a decoded JSON value and returns it cleaned (unknown members dropped,
query-string numbers and booleans parsed). The first violation raises
``InvalidRequestException`` naming the field by its path, e.g.
``MemberConfiguration.FrameworkConfiguration.Fabric.AdminPassword``. The constants are
named after the model's shapes, and ``tests/unit/network/test_controlplane_request_shapes.py``
checks each one against botocore's copy of the model, so a constraint cannot drift.
("Validation" in this project means Fabric's transaction checks; these are only the
shapes of requests.)
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from network.controlplane.errors import InvalidRequestException


def _fail(path: str, constraint: str) -> InvalidRequestException:
    return InvalidRequestException(
        f"1 validation error detected: Value at '{path}' failed to satisfy constraint: {constraint}"
    )


@dataclass(frozen=True)
class Str:
    min: int | None = None
    max: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] | None = None
    blank: bool = False  # "" stands for "not given", where the reference text says so

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise _fail(path, "Member must be a string")
        if self.blank and value == "":
            return value
        if self.min is not None and len(value) < self.min:
            raise _fail(path, f"Member must have length greater than or equal to {self.min}")
        if self.max is not None and len(value) > self.max:
            raise _fail(path, f"Member must have length less than or equal to {self.max}")
        if self.pattern is not None and not re.search(self.pattern, value):
            raise _fail(path, f"Member must satisfy regular expression pattern: {self.pattern}")
        if self.enum is not None and value not in self.enum:
            raise _fail(path, f"Member must satisfy enum value set: [{', '.join(self.enum)}]")
        return value


@dataclass(frozen=True)
class Int:
    min: int | None = None
    max: int | None = None

    def check(self, value: Any, path: str) -> int:
        if isinstance(value, str):  # query strings carry numbers as text
            try:
                value = int(value)
            except ValueError:
                raise _fail(path, "Member must be an integer") from None
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(path, "Member must be an integer")
        if self.min is not None and value < self.min:
            raise _fail(path, f"Member must have value greater than or equal to {self.min}")
        if self.max is not None and value > self.max:
            raise _fail(path, f"Member must have value less than or equal to {self.max}")
        return value


@dataclass(frozen=True)
class Bool:
    def check(self, value: Any, path: str) -> bool:
        if isinstance(value, str) and value in ("true", "false"):
            return value == "true"
        if not isinstance(value, bool):
            raise _fail(path, "Member must be a boolean")
        return value


@dataclass(frozen=True)
class Struct:
    members: Mapping[str, Any]
    required: tuple[str, ...] = ()

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise _fail(path or "body", "Member must be a structure")
        cleaned: dict[str, Any] = {}
        for name in self.required:
            if value.get(name) is None:
                raise _fail(_join(path, name), "Member must not be null")
        for name, shape in self.members.items():
            if value.get(name) is not None:
                cleaned[name] = shape.check(value[name], _join(path, name))
        return cleaned


@dataclass(frozen=True)
class ListOf:
    member: Any
    min: int | None = None
    max: int | None = None

    def check(self, value: Any, path: str) -> list[Any]:
        if isinstance(value, str):  # a single query-string value
            value = [value]
        if not isinstance(value, list):
            raise _fail(path, "Member must be a list")
        if self.min is not None and len(value) < self.min:
            raise _fail(path, f"Member must have length greater than or equal to {self.min}")
        if self.max is not None and len(value) > self.max:
            raise _fail(path, f"Member must have length less than or equal to {self.max}")
        return [self.member.check(item, f"{path}.{index + 1}") for index, item in enumerate(value)]


@dataclass(frozen=True)
class MapOf:
    key: Str
    value: Str
    min: int | None = None
    max: int | None = None
    reserved: str | None = None  # a prefix no key or value may begin with (any case)

    def check(self, value: Any, path: str) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise _fail(path, "Member must be a map")
        if self.max is not None and len(value) > self.max:
            raise _fail(path, f"Member must have length less than or equal to {self.max}")
        return {
            self._entry(self.key, key, f"{path}.key"): self._entry(
                self.value, item, f"{path}.{key}"
            )
            for key, item in value.items()
        }

    def _entry(self, shape: Str, value: Any, path: str) -> str:
        checked = shape.check(value, path)
        if self.reserved and checked.lower().startswith(self.reserved):
            raise _fail(path, f"Member must not begin with {self.reserved} (reserved for AWS use)")
        return checked


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


# ---- AMB's shapes (names as in the service model) ----------------------------------------

ResourceIdString = Str(min=1, max=32)
ClientRequestTokenString = Str(min=1, max=64)
NameString = Str(min=1, max=64, pattern=r".*\S.*")
DescriptionString = Str(max=128)
FrameworkVersionString = Str(min=1, max=8)
NetworkMemberNameString = Str(min=1, max=64, pattern=r"^(?!-|[0-9])(?!.*-$)(?!.*?--)[a-zA-Z0-9-]+$")
UsernameString = Str(min=1, max=16, pattern=r"^[a-zA-Z][a-zA-Z0-9]*$")
PasswordString = Str(
    min=8,
    max=32,
    pattern=r"^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)(?!.*[@'\\" + '"' + r"/])[a-zA-Z0-9\S]*$",
)
ArnString = Str(min=1, max=1011, pattern=r"^arn:.+:.+:.+:.+:.+")
# MemberConfiguration.KmsKeyArn: the reference text lets "" (like leaving it out) choose
# the AWS owned key, though the model's ArnString has min 1.
KmsKeyArn = Str(min=1, max=1011, pattern=ArnString.pattern, blank=True)
PaginationToken = Str(max=128)
PrincipalString = Str()
InstanceTypeString = Str()
AvailabilityZoneString = Str()
String = Str()
TagKey = Str(min=1, max=128)
TagValue = Str(min=0, max=256)
# AWS's tagging rules (the reference text, not the model): "aws:" begins no key or value.
InputTagMap = MapOf(TagKey, TagValue, min=0, max=50, reserved="aws:")
TagKeyList = ListOf(TagKey, min=0, max=200)

Framework = Str(enum=("HYPERLEDGER_FABRIC", "ETHEREUM"))
Edition = Str(enum=("STARTER", "STANDARD"))
ThresholdComparator = Str(enum=("GREATER_THAN", "GREATER_THAN_OR_EQUAL_TO"))
VoteValue = Str(enum=("YES", "NO"))
StateDBType = Str(enum=("LevelDB", "CouchDB"))
NetworkStatus = Str(enum=("CREATING", "AVAILABLE", "CREATE_FAILED", "DELETING", "DELETED"))
MemberStatus = Str(
    enum=(
        "CREATING",
        "AVAILABLE",
        "CREATE_FAILED",
        "UPDATING",
        "DELETING",
        "DELETED",
        "INACCESSIBLE_ENCRYPTION_KEY",
    )
)
NodeStatus = Str(
    enum=(
        "CREATING",
        "AVAILABLE",
        "UNHEALTHY",
        "CREATE_FAILED",
        "UPDATING",
        "DELETING",
        "DELETED",
        "FAILED",
        "INACCESSIBLE_ENCRYPTION_KEY",
    )
)
ProposalStatus = Str(enum=("IN_PROGRESS", "APPROVED", "REJECTED", "EXPIRED", "ACTION_FAILED"))
InvitationStatus = Str(enum=("PENDING", "ACCEPTED", "ACCEPTING", "REJECTED", "EXPIRED"))

ThresholdPercentageInt = Int(min=0, max=100)
ProposalDurationInt = Int(min=1, max=168)
NetworkListMaxResults = Int(min=1, max=10)
MemberListMaxResults = Int(min=1, max=20)
NodeListMaxResults = Int(min=1, max=20)
ProposalListMaxResults = Int(min=1, max=100)

LogConfiguration = Struct({"Enabled": Bool()})
LogConfigurations = Struct({"Cloudwatch": LogConfiguration})
MemberLogPublishingConfiguration = Struct({"Fabric": Struct({"CaLogs": LogConfigurations})})
NodeLogPublishingConfiguration = Struct(
    {"Fabric": Struct({"ChaincodeLogs": LogConfigurations, "PeerLogs": LogConfigurations})}
)
MemberFabricConfiguration = Struct(
    {"AdminUsername": UsernameString, "AdminPassword": PasswordString},
    required=("AdminUsername", "AdminPassword"),
)
MemberConfiguration = Struct(
    {
        "Name": NetworkMemberNameString,
        "Description": DescriptionString,
        "FrameworkConfiguration": Struct({"Fabric": MemberFabricConfiguration}),
        "LogPublishingConfiguration": MemberLogPublishingConfiguration,
        "Tags": InputTagMap,
        "KmsKeyArn": KmsKeyArn,
    },
    required=("Name", "FrameworkConfiguration"),
)
ApprovalThresholdPolicy = Struct(
    {
        "ThresholdPercentage": ThresholdPercentageInt,
        "ProposalDurationInHours": ProposalDurationInt,
        "ThresholdComparator": ThresholdComparator,
    }
)
VotingPolicy = Struct({"ApprovalThresholdPolicy": ApprovalThresholdPolicy})
NodeConfiguration = Struct(
    {
        "InstanceType": InstanceTypeString,
        "AvailabilityZone": AvailabilityZoneString,
        "LogPublishingConfiguration": NodeLogPublishingConfiguration,
        "StateDB": StateDBType,
    },
    required=("InstanceType",),
)
ProposalActions = Struct(
    {
        "Invitations": ListOf(Struct({"Principal": PrincipalString}, required=("Principal",))),
        "Removals": ListOf(Struct({"MemberId": ResourceIdString}, required=("MemberId",))),
    }
)

# ---- operation inputs (body and query members; path members are checked by the router) ---

CreateNetworkInput = Struct(
    {
        "ClientRequestToken": ClientRequestTokenString,
        "Name": NameString,
        "Description": DescriptionString,
        "Framework": Framework,
        "FrameworkVersion": FrameworkVersionString,
        "FrameworkConfiguration": Struct({"Fabric": Struct({"Edition": Edition}, ("Edition",))}),
        "VotingPolicy": VotingPolicy,
        "MemberConfiguration": MemberConfiguration,
        "Tags": InputTagMap,
    },
    required=(
        "ClientRequestToken",
        "Name",
        "Framework",
        "FrameworkVersion",
        "VotingPolicy",
        "MemberConfiguration",
    ),
)
ListNetworksInput = Struct(
    {
        "name": String,
        "framework": Framework,
        "status": NetworkStatus,
        "maxResults": NetworkListMaxResults,
        "nextToken": PaginationToken,
    }
)
CreateMemberInput = Struct(
    {
        "ClientRequestToken": ClientRequestTokenString,
        "InvitationId": ResourceIdString,
        "MemberConfiguration": MemberConfiguration,
    },
    required=("ClientRequestToken", "InvitationId", "MemberConfiguration"),
)
ListMembersInput = Struct(
    {
        "name": String,
        "status": MemberStatus,
        "isOwned": Bool(),
        "maxResults": MemberListMaxResults,
        "nextToken": PaginationToken,
    }
)
UpdateMemberInput = Struct({"LogPublishingConfiguration": MemberLogPublishingConfiguration})
CreateNodeInput = Struct(
    {
        "ClientRequestToken": ClientRequestTokenString,
        "MemberId": ResourceIdString,
        "NodeConfiguration": NodeConfiguration,
        "Tags": InputTagMap,
    },
    required=("ClientRequestToken", "NodeConfiguration"),
)
NodeQueryInput = Struct({"memberId": ResourceIdString})
ListNodesInput = Struct(
    {
        "memberId": ResourceIdString,
        "status": NodeStatus,
        "maxResults": NodeListMaxResults,
        "nextToken": PaginationToken,
    }
)
UpdateNodeInput = Struct(
    {"MemberId": ResourceIdString, "LogPublishingConfiguration": NodeLogPublishingConfiguration}
)
CreateProposalInput = Struct(
    {
        "ClientRequestToken": ClientRequestTokenString,
        "MemberId": ResourceIdString,
        "Actions": ProposalActions,
        "Description": DescriptionString,
        "Tags": InputTagMap,
    },
    required=("ClientRequestToken", "MemberId", "Actions"),
)
PageInput = Struct({"maxResults": ProposalListMaxResults, "nextToken": PaginationToken})
VoteOnProposalInput = Struct(
    {"VoterMemberId": ResourceIdString, "Vote": VoteValue}, required=("VoterMemberId", "Vote")
)
TagResourceInput = Struct({"Tags": InputTagMap}, required=("Tags",))
UntagResourceInput = Struct({"tagKeys": TagKeyList}, required=("tagKeys",))


# Path members: every route id is a ResourceIdString except the tagged resource's ARN.
PATH_SHAPES: Mapping[str, Str] = {"resourceArn": ArnString}


def check_path_id(name: str, value: str) -> str:
    """A route's id (``networkId``, ``resourceArn``…) against its shape in the model."""
    return PATH_SHAPES.get(name, ResourceIdString).check(value, name)
