"""AMB's request model (botocore's copy), walked field by field, with values that break it.

The control plane's field checks are tested from the model itself rather than from a
hand-written list, so a field the model constrains cannot be left out: ``fields`` lists
every constrained field of an operation's input (path, query string and body, nested
structures, list items, map keys and values), ``breaking`` gives the values that violate
each constraint, and ``request`` builds an otherwise valid request around one of them.
The unit test feeds these to the shapes in-process; the integration test sends them with
boto3 to a running control plane.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.loaders

MODEL = botocore.loaders.Loader().load_service_model("managedblockchain", "service-2")
SHAPES: dict[str, Any] = MODEL["shapes"]
# Accessors are AMB's Ethereum token-based access; this control plane runs Fabric only.
SERVED = sorted(name for name in MODEL["operations"] if "Accessor" not in name)

# A valid value of each leaf shape the model leaves unconstrained or constrains by pattern.
EXAMPLES: dict[str, Any] = {
    "ResourceIdString": "n-EXAMPLE",
    "NameString": "net",
    "NetworkMemberNameString": "org1",
    "UsernameString": "admin",
    "PasswordString": "Password123",
    "ArnString": "arn:aws:managedblockchain:us-east-1:123456789012:networks/n-EXAMPLE",
    "FrameworkVersionString": "2.2",
    "PrincipalString": "123456789012",
    "InstanceTypeString": "bc.t3.small",
    "AvailabilityZoneString": "us-east-1a",
}
# Candidates for "fails the pattern": the first of the right length that does not match.
OFF_PATTERN = ("1org", "-", "org--1", "   ", "lowercase1", "Password@123", "notanarn", "a b")

# AdminPassword as the reference text words it: 8 to 32 characters, an upper-case letter,
# a lower-case letter and a digit, and none of ' " / \ @ or a space.
BAD_PASSWORDS = (
    "Pass12",
    "Password1" * 4,
    "PASSWORD123",
    "password123",
    "Passwordabc",
    "Pass'word123",
    'Pass"word123',
    "Pass/word123",
    "Pass\\word123",
    "Pass@word123",
    "Pass word123",
)

# Where the reference text overrides the model: (field, constraint) -> why it is allowed.
OVERRIDDEN = {
    ("MemberConfiguration.KmsKeyArn", "min 1"): '"" chooses the AWS owned key',
}

Path = tuple[str | int, ...]  # member names, and 0 for a list's first item


@dataclass(frozen=True)
class Field:
    """One constrained field of an operation's input."""

    path: Path  # model member names from the input's root
    shape: str  # the model's shape name
    location: str  # "uri", "querystring" or "" (body)
    wire: str  # how an error names it: the body path, or the path/query member's wire name
    part: str = ""  # "key" or "value" for a map's keys and values

    def __str__(self) -> str:
        return self.wire + (" (values)" if self.part == "value" else "")


def input_shape(operation: str) -> dict[str, Any]:
    return SHAPES[MODEL["operations"][operation]["input"]["shape"]]


def fields(operation: str) -> Iterator[Field]:
    """Every field of ``operation``'s input that carries a constraint or a type."""
    for name, member in input_shape(operation)["members"].items():
        location = member.get("location", "")
        wire = member.get("locationName", name) if location else name
        yield from _walk((name,), member["shape"], location, wire)


def _walk(path: Path, shape_name: str, location: str, wire: str) -> Iterator[Field]:
    shape = SHAPES[shape_name]
    kind = shape["type"]
    if kind == "structure":
        for name, member in shape["members"].items():
            yield from _walk((*path, name), member["shape"], location, f"{wire}.{name}")
    elif kind == "list":
        if _limits(shape):
            yield Field(path, shape_name, location, wire)
        yield from _walk((*path, 0), shape["member"]["shape"], location, f"{wire}.1")
    elif kind == "map":
        yield Field(path, shape_name, location, wire)
        yield Field(path, shape["key"]["shape"], location, f"{wire}.key", "key")
        yield Field(path, shape["value"]["shape"], location, wire, "value")
    else:
        yield Field(path, shape_name, location, wire)


def _limits(shape: dict[str, Any]) -> bool:
    return any(key in shape for key in ("min", "max"))


def cases(operation: str) -> Iterator[tuple[Field, str, Any]]:
    """(field, constraint, breaking value) for every constraint of every field.

    A type fault is left out where the wire cannot carry one: query strings and map keys
    are always text."""
    for field in fields(operation):
        for constraint, value in breaking(field.shape):
            if constraint == "type" and (field.location or field.part == "key"):
                continue
            if (field.wire, constraint) in OVERRIDDEN:
                continue
            yield field, constraint, value
    for field in dict.fromkeys(required(operation)):
        yield field, "required", MISSING


MISSING = object()  # ``request`` leaves the field out


def required(operation: str) -> Iterator[Field]:
    """The required members of the body and query string, nested ones included (a path
    member cannot be left out of a URL)."""
    for field in fields(operation):
        for depth in range(1, len(field.path) + 1):
            parent = _shape_at(operation, field.path[: depth - 1])
            step = field.path[depth - 1]
            if isinstance(step, str) and step in parent.get("required", ()):
                prefix = field.path[:depth]
                wire = field.wire if depth == len(field.path) else _wire_of(field, depth)
                if field.location != "uri" and not field.part:
                    yield Field(prefix, "", field.location, wire)


def _wire_of(field: Field, depth: int) -> str:
    parts = field.wire.split(".")
    return ".".join(parts[: depth if not field.location else 1])


def _shape_at(operation: str, path: Path) -> dict[str, Any]:
    shape = input_shape(operation)
    for step in path:
        shape = SHAPES[_member_shape(shape, step)]
    return shape


def breaking(shape_name: str) -> list[tuple[str, Any]]:
    """(which constraint, a value that breaks it) for each constraint of the shape."""
    shape = SHAPES[shape_name]
    kind, low, high = shape["type"], shape.get("min"), shape.get("max")
    found: list[tuple[str, Any]] = []
    if kind == "string":
        found.append(("type", 7))
        if low:
            found.append((f"min {low}", ""))
        if high is not None:
            found.append((f"max {high}", _filler(shape, high + 1)))
        if "pattern" in shape:
            fitting = [c for c in OFF_PATTERN if (low or 0) <= len(c) <= (high or 1 << 20)]
            off = next(c for c in fitting if not re.search(shape["pattern"], c))
            found.append(("pattern", off))
        if "enum" in shape:
            found.append(("enum", "NOT_IN_THE_ENUM"))
    elif kind == "integer":
        found.append(("type", "x"))
        if low is not None:
            found.append((f"min {low}", low - 1))
        if high is not None:
            found.append((f"max {high}", high + 1))
    elif kind == "boolean":
        found.append(("type", "maybe"))
    elif kind == "list" and high is not None:
        found.append((f"max {high}", [f"k{i}" for i in range(high + 1)]))
    elif kind == "map" and high is not None:
        found.append((f"max {high}", {f"k{i}": "v" for i in range(high + 1)}))
    return found


def _filler(shape: dict[str, Any], length: int) -> str:
    """A string of ``length`` that satisfies the shape's pattern, so only the length fails."""
    example = str(valid(_name_of(shape)))
    return (example * (length // len(example) + 1))[:length] if example else "a" * length


def _name_of(shape: dict[str, Any]) -> str:
    return next(name for name, value in SHAPES.items() if value is shape)


def valid(shape_name: str) -> Any:
    """A valid value of the shape, with only its required members."""
    shape = SHAPES[shape_name]
    kind = shape["type"]
    if shape_name in EXAMPLES:
        return EXAMPLES[shape_name]
    if kind == "structure":
        required = shape.get("required", [])
        return {name: valid(shape["members"][name]["shape"]) for name in required}
    if kind == "string":
        return shape["enum"][0] if "enum" in shape else "x" * max(shape.get("min", 1), 1)
    if kind == "integer":
        return shape.get("min", 1)
    if kind == "boolean":
        return True
    if kind == "list":
        return [valid(shape["member"]["shape"])]
    if kind == "map":
        return {valid(shape["key"]["shape"]): valid(shape["value"]["shape"])}
    raise ValueError(f"no example for {shape_name} ({kind})")


def request(operation: str, field: Field, value: Any) -> dict[str, Any]:
    """A request of the operation with its required members valid and ``field`` = value.

    The members above the field are filled in (valid, required ones only), so the field
    is the request's only fault. Keys are the model's member names, as boto3 takes them.
    """
    built: dict[str, Any] = valid(MODEL["operations"][operation]["input"]["shape"])
    built = copy.deepcopy(built)
    shape = input_shape(operation)
    node: Any = built
    for step in field.path[:-1]:
        if isinstance(node, dict) and step not in node:
            node[step] = valid(_member_shape(shape, step))
        node = node[step]
        shape = SHAPES[_member_shape(shape, step)]
    last = field.path[-1]
    if value is MISSING:
        node.pop(last, None)
        return built
    if field.part == "key":
        value = {value: "v"} if isinstance(value, str) else value
    elif field.part == "value":
        value = {"k": value}
    node[last] = value
    return built


def _member_shape(shape: dict[str, Any], step: str | int) -> str:
    if shape["type"] == "list":
        return shape["member"]["shape"]
    return shape["members"][step]["shape"]


AUDIT_HEADER = (
    "| Operation | Field | In | Constraints (model) | Broken and refused |",
    "|---|---|---|---|---|",
)


def audit_table() -> list[str]:
    """docs/controlplane.md's audit table: one row per field of each served operation,
    with the constraints the model gives it and the ways the tests break it (``unit``:
    the shapes in-process; ``boto3``: sent to a running control plane)."""
    rows = list(AUDIT_HEADER)
    for operation in SERVED:
        tried: dict[tuple[str, str], list[str]] = {}
        for field, constraint, _ in cases(operation):
            key = (str(field), field.location or "body")
            label = constraint if sendable(operation, field, constraint) else f"{constraint}*"
            tried.setdefault(key, []).append(label)
        for (wire, constraint), why in OVERRIDDEN.items():
            if (wire, "body") in tried:
                tried[(wire, "body")].append(f"{constraint}: accepted, {why}")
        for (name, where), broken in tried.items():
            shape = next((f.shape for f in fields(operation) if str(f) == name), "") or "structure"
            rows.append(
                f"| {operation} | `{name}` | {where} | {_constraints(shape)} | "
                f"{', '.join(broken)} |"
            )
    return rows


def _constraints(shape_name: str) -> str:
    shape = SHAPES.get(shape_name)
    if shape is None:
        return "structure"
    found = [shape["type"]]
    if "min" in shape or "max" in shape:
        found.append(f"{shape.get('min', 0)}..{shape.get('max', '∞')}")
    if "pattern" in shape:
        found.append(f"pattern `{shape['pattern']}`".replace("|", "\\|"))
    if "enum" in shape:
        found.append(" / ".join(shape["enum"]))
    return ", ".join(found)


def sendable(operation: str, field: Field, constraint: str) -> bool:
    """Whether an HTTP request can carry the fault: an empty path member makes another
    URL, and every SDK fills in a missing ClientRequestToken."""
    if field.location == "uri" and constraint.startswith("min"):
        return False
    token = input_shape(operation)["members"].get(field.path[0], {})
    return not (constraint == "required" and token.get("idempotencyToken"))
