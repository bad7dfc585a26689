"""``hf.*`` attributes and Fabric CA's rules for registering and certifying attributes.

Registrars may hand out only attributes their ``hf.Registrar.Attributes`` allows, and
``hf.*`` powers only up to their own; enrollment certificates carry the requested
attributes, else those registered with ``ecert``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ca import protocol
from ca.registry import Attribute, IdentityRecord

REGISTRAR_ROLES = "hf.Registrar.Roles"
DELEGATE_ROLES = "hf.Registrar.DelegateRoles"
REGISTRAR_ATTRIBUTES = "hf.Registrar.Attributes"
REVOKER = "hf.Revoker"
GENCRL = "hf.GenCRL"
BOOLEAN_ATTRIBUTES = (REVOKER, GENCRL, "hf.IntermediateCA", "hf.AffiliationMgr")
SET_BY_CA = ("hf.EnrollmentID", "hf.Type", "hf.Affiliation")
BOOTSTRAP_ATTRIBUTES = (
    Attribute(REGISTRAR_ROLES, "*"),
    Attribute(DELEGATE_ROLES, "*"),
    Attribute(REGISTRAR_ATTRIBUTES, "*"),
    Attribute(REVOKER, "true"),
    Attribute(GENCRL, "true"),
    Attribute("hf.IntermediateCA", "true"),
    Attribute("hf.AffiliationMgr", "true"),
)


def is_true(record: IdentityRecord, attribute: str) -> bool:
    return (record.attribute(attribute) or "").lower() == "true"


def ca_attributes(identity_id: str, identity_type: str, affiliation: str) -> tuple[Attribute, ...]:
    return (
        Attribute("hf.EnrollmentID", identity_id, True),
        Attribute("hf.Type", identity_type, True),
        Attribute("hf.Affiliation", affiliation, True),
    )


def certificate_attributes(record: IdentityRecord, attr_reqs: Any) -> dict[str, str] | None:
    """Fabric CA's choice: requested attributes, else those registered with ``ecert``."""
    owned = {a.name: a for a in record.attrs}
    if attr_reqs is None:
        chosen = {a.name: a.value for a in record.attrs if a.ecert}
        return chosen or None
    if not isinstance(attr_reqs, list):
        raise protocol.bad_request("Invalid request body: field 'attr_reqs' must be a list")
    chosen = {}
    for n, req in enumerate(attr_reqs):
        if not isinstance(req, dict) or not isinstance(req.get("name"), str):
            raise protocol.bad_request(f"Invalid request body: attr_reqs[{n}] needs a 'name'")
        name = req["name"]
        if name in owned:
            chosen[name] = owned[name].value
        elif not req.get("optional", False):
            raise protocol.bad_request(
                f"Attribute '{name}' was requested but the identity '{record.id}' does not have it"
            )
    return chosen or None


def requested_attributes(request: Mapping[str, Any]) -> tuple[Attribute, ...]:
    raw = request.get("attrs")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise protocol.bad_request("Invalid request body: field 'attrs' must be a list")
    attrs = []
    for n, item in enumerate(raw):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not item["name"]
            or not isinstance(item.get("value", ""), str)
        ):
            raise protocol.bad_request(
                f"Invalid request body: attrs[{n}] must be {{name, value, ecert}}"
            )
        if item["name"] in SET_BY_CA:
            raise protocol.bad_request(f"Attribute '{item['name']}' is set by the CA")
        attrs.append(Attribute(item["name"], item.get("value", ""), bool(item.get("ecert"))))
    return tuple(attrs)


def pattern_allows(patterns: str, name: str) -> bool:
    for pattern in (p.strip() for p in patterns.split(",")):
        if pattern == "*" or pattern == name:
            return True
        if pattern.endswith("*") and name.startswith(pattern[:-1]):
            return True
    return False


def check_can_register_attributes(registrar: IdentityRecord, attrs: tuple[Attribute, ...]) -> None:
    """Fabric CA's rules: the registrar may hand out only attributes it may register,
    and ``hf.*`` powers only up to its own."""
    allowed = registrar.attribute(REGISTRAR_ATTRIBUTES) or ""
    for attr in attrs:
        problem = None
        if not pattern_allows(allowed, attr.name):
            problem = f"registrar may not register attribute '{attr.name}'"
        elif attr.name in BOOLEAN_ATTRIBUTES:
            if attr.value.lower() not in ("true", "false"):
                problem = f"attribute '{attr.name}' must be true or false"
            elif attr.value.lower() == "true" and not is_true(registrar, attr.name):
                problem = f"registrar does not itself have '{attr.name}'"
        elif attr.name in (REGISTRAR_ROLES, DELEGATE_ROLES):
            own = registrar.attribute(DELEGATE_ROLES) or ""
            wanted = [r.strip() for r in attr.value.split(",") if r.strip()]
            if not all(pattern_allows(own, r) for r in wanted):
                problem = f"'{attr.value}' exceeds the registrar's {DELEGATE_ROLES}"
        elif attr.name == REGISTRAR_ATTRIBUTES:
            wanted = [r.strip() for r in attr.value.split(",") if r.strip()]
            if not all(pattern_allows(allowed, r.rstrip("*") or "*") for r in wanted):
                problem = f"'{attr.value}' exceeds the registrar's {REGISTRAR_ATTRIBUTES}"
        if problem:
            raise protocol.authorization_error(
                protocol.ERR_REG_ATTR_AUTH, f"Failed to register attribute: {problem}"
            )
